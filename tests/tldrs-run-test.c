/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* `tldrs run` and `tldrs send`, as a shell user runs them. */

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "tldrs-test-util.h"

/* nested processes: the script, a subshell, a grandchild, each sending with `tldrs send` */
static const char *script =
        "#!/bin/sh\n"
        "ev() { printf '{\"ph\":\"i\",\"name\":\"%s\",\"ts\":1,\"pid\":%s,"
        "\"tid\":0}\\n' \"$1\" \"$2\" | \"$TLDRS_BIN\" send; }\n"
        "ev parent $$\n"
        "( ev child 1001 ) &\n"
        "sh -c 'ev() { printf \"{\\\"ph\\\":\\\"i\\\",\\\"name\\\":\\\"grand\\\","
        "\\\"ts\\\":2,\\\"pid\\\":1002,\\\"tid\\\":0}\\n\" | \"$TLDRS_BIN\" "
        "send; }; ev'\n"
        "wait\n"
        "exit 3\n";

typedef struct {
	int status;
	char *out;
	char *err;
} Result;

static void
result_clear(Result *r)
{
	g_free(r->out);
	g_free(r->err);
}

/* run `tldrs ARGS` in @dir with @env_socket as TRACE_TEF_TLDR_SOCKET (NULL: none) */
static Result
run_tldrs(TldrsTestDaemon *d, const char *env_socket, const char *const *args, int send_signal)
{
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(d->tmpdir);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GError) error = NULL;
	Result r = {0};

	g_subprocess_launcher_set_flags(
	        l, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_subprocess_launcher_set_cwd(l, d->tmpdir);
	if (env_socket != NULL)
		g_subprocess_launcher_setenv(l, "TRACE_TEF_TLDR_SOCKET", env_socket, TRUE);
	g_ptr_array_add(argv, (gpointer)g_getenv("TLDRS_BIN"));
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	p = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, &error);
	g_assert_no_error(error);
	if (send_signal != 0) {
		g_usleep(500000);
		g_subprocess_send_signal(p, send_signal);
	}
	g_subprocess_communicate_utf8(p, NULL, NULL, &r.out, &r.err, &error);
	g_assert_no_error(error);
	r.status = g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
	return r;
}

static char *
write_script(TldrsTestDaemon *d)
{
	char *fn = g_build_filename(d->tmpdir, "script.sh", NULL);
	g_file_set_contents(fn, script, -1, NULL);
	g_chmod(fn, 0755);
	return fn;
}

static guint
count_name(JsonArray *events, const char *name)
{
	guint n = 0;
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		if (g_strcmp0(json_object_get_string_member_with_default(o, "name", ""), name) == 0)
			n++;
	}
	return n;
}

static const char *
member_string(JsonObject *o, const char *name)
{
	return json_object_get_string_member_with_default(o, name, "");
}

/* the events that the script's processes sent, and the script's own process span on the
 * track of the pid that sent "parent" */
static void
check_trace(const char *path)
{
	g_autoptr(JsonNode) root = tldrs_test_load_tef(path);
	JsonArray *events = tldrs_test_tef_events(root);
	gint64 parent_pid = -1;
	gboolean found = FALSE;
	g_assert_cmpuint(count_name(events, "parent"), ==, 1);
	g_assert_cmpuint(count_name(events, "child"), ==, 1);
	g_assert_cmpuint(count_name(events, "grand"), ==, 1);
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		if (g_strcmp0(member_string(o, "name"), "parent") == 0)
			parent_pid = json_object_get_int_member(o, "pid");
	}
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		JsonObject *args = NULL;
		if (g_strcmp0(member_string(o, "ph"), "X") != 0 ||
		    json_object_get_int_member(o, "pid") != parent_pid)
			continue;
		args = json_object_get_object_member(o, "args");
		if (json_object_has_member(args, "exit_status") &&
		    json_object_get_int_member(args, "exit_status") == 3) {
			g_assert_cmpstr(member_string(o, "cat"), ==, "process");
			g_assert_cmpint(json_object_get_int_member(o, "dur"), >, 0);
			found = TRUE;
		}
	}
	g_assert_true(found);
}

/* "tldrs: wrote OUT: N events" */
static guint64
reported_events(const char *err)
{
	const char *p = strstr(err, ".json: ");
	g_assert_nonnull(p);
	return g_ascii_strtoull(p + 7, NULL, 10);
}

/* no daemon running: a private one for the run; nested processes in one trace */
static void
test_private_daemon(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *fn = write_script(d);
	g_autofree char *out = g_build_filename(d->tmpdir, "sub", "build.json", NULL);
	g_autofree char *kept = g_build_filename(d->tmpdir, "sub", "build.jsonl", NULL);
	g_autofree char *sub = g_build_filename(d->tmpdir, "sub", NULL);
	const char *args[] = {"run", "-o", "sub/build.json", "--keep", "--", fn, NULL};
	g_autoptr(GDir) dir = NULL;
	Result r;

	g_mkdir(sub, 0700);
	r = run_tldrs(d, NULL, args, 0);
	g_assert_cmpint(r.status, ==, 3);
	g_assert_nonnull(strstr(r.err, "build.json: "));
	check_trace(out);
	g_assert_cmpuint(tldrs_test_count_lines(kept), ==, reported_events(r.err));
	/* the private daemon and its directory are gone */
	dir = g_dir_open(d->tmpdir, 0, NULL);
	for (const char *n = g_dir_read_name(dir); n != NULL; n = g_dir_read_name(dir))
		g_assert_false(g_str_has_prefix(n, "tldrs-run-"));
	result_clear(&r);
}

/* a running daemon is used; the default output is trace.json in the current directory */
static void
test_running_daemon(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *fn = write_script(d);
	g_autofree char *out = g_build_filename(d->tmpdir, "trace.json", NULL);
	g_autofree char *list = NULL;
	const char *args[] = {"run", fn, NULL};
	Result r = run_tldrs(d, d->socket_path, args, 0);

	g_assert_cmpint(r.status, ==, 3);
	check_trace(out);
	g_assert_cmpint(tldrs_test_cli(d, &list, NULL, "list", "-d", d->data_dir, NULL), ==, 0);
	g_assert_true(g_str_has_prefix(list, "tr-"));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	result_clear(&r);
}

/* exit statuses: 128+signal, signals forwarded, a missing command, a bad -o */
static void
test_status_and_signals(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	const char *killed[] = {"run", "--", "sh", "-c", "kill -KILL $$", NULL};
	const char *forwarded[] = {
	        "run", "--", "sh", "-c", "trap 'kill $!; exit 7' TERM; sleep 20 & wait", NULL};
	const char *missing[] = {"run", "--", "tldrs-no-such-command", NULL};
	const char *bad_out[] = {"run", "-o", "/nonexistent/dir/t.json", "--", "true", NULL};
	const char *nothing[] = {"run", NULL};
	Result r;

	r = run_tldrs(d, d->socket_path, killed, 0);
	g_assert_cmpint(r.status, ==, 128 + SIGKILL);
	result_clear(&r);
	r = run_tldrs(d, d->socket_path, forwarded, SIGTERM);
	g_assert_cmpint(r.status, ==, 7);
	result_clear(&r);
	r = run_tldrs(d, d->socket_path, missing, 0);
	g_assert_cmpint(r.status, ==, 127);
	g_assert_nonnull(strstr(r.err, "tldrs-no-such-command"));
	result_clear(&r);
	r = run_tldrs(d, d->socket_path, bad_out, 0);
	g_assert_cmpint(r.status, ==, 2);
	g_assert_nonnull(strstr(r.err, "/nonexistent/dir/t.json"));
	result_clear(&r);
	r = run_tldrs(d, d->socket_path, nothing, 0);
	g_assert_cmpint(r.status, ==, 2);
	result_clear(&r);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* send: lines refused locally are reported with their line number; no trace id is usage */
static void
test_send(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *input = g_build_filename(d->tmpdir, "events.jsonl", NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-send");
	const char *args[] = {"send", "--trace-id", "tr-send", input, NULL};
	const char *no_id[] = {"send", NULL};
	const char *bad_id[] = {"send", "-t", "../x", NULL};
	Result r;

	g_file_set_contents(input,
	                    "{\"ph\":\"i\",\"name\":\"a\",\"ts\":1,\"pid\":1,\"tid\":0}\n"
	                    "\n"
	                    "not json\n"
	                    "{\"ph\":\"i\",\"name\":\"b\",\"ts\":2,\"pid\":1,\"tid\":0}\r\n",
	                    -1,
	                    NULL);
	r = run_tldrs(d, d->socket_path, args, 0);
	g_assert_cmpint(r.status, ==, 1);
	g_assert_nonnull(strstr(r.err, "events.jsonl:3: refused"));
	result_clear(&r);
	r = run_tldrs(d, d->socket_path, no_id, 0);
	g_assert_cmpint(r.status, ==, 2);
	g_assert_nonnull(strstr(r.err, "TRACE_TEF_TLDR_TRACE_ID"));
	result_clear(&r);
	r = run_tldrs(d, d->socket_path, bad_id, 0);
	g_assert_cmpint(r.status, ==, 2);
	result_clear(&r);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 2);
}

/* ---- the process tree ---- */

typedef struct {
	gint64 start, end; /* over all its spans */
	gint64 ppid;
	guint spans;
	GPtrArray *names;
} Proc;

static void
proc_free(Proc *p)
{
	g_ptr_array_unref(p->names);
	g_free(p);
}

static gboolean
argv_is(JsonObject *args, const char *const *want)
{
	JsonArray *argv = json_object_get_array_member(args, "argv");
	guint n = g_strv_length((char **)want);
	if (argv == NULL || json_array_get_length(argv) != n)
		return FALSE;
	for (guint i = 0; i < n; i++)
		if (g_strcmp0(json_array_get_string_element(argv, i), want[i]) != 0)
			return FALSE;
	return TRUE;
}

static const char *makefile = "all: t1 t2 t3 t4 t5\n"
                              "t1: ; @sh -c 'sleep 0.05; exit 0'\n"
                              "t2: ; @(true; sleep 0.02)\n"
                              "t3: ; -@sh -c 'kill -TERM $$$$'\n"
                              "t4: ; @$(STATIC)\n"
                              "t5: ; @sh -c 'exit 0' && echo done > t5.out\n";

/* `tldrs run -- make -j4`: a span per process and image, nested in time under its parent,
 * with argv, exit status or signal, a flow from the parent, names for every pid */
static void
test_process_tree(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *mk = g_build_filename(d->tmpdir, "Makefile", NULL);
	g_autofree char *src = g_build_filename(d->tmpdir, "static.c", NULL);
	g_autofree char *prog = g_build_filename(d->tmpdir, "static-prog", NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "tree.json", NULL);
	g_autofree char *static_var = NULL;
	g_autoptr(GHashTable) procs = g_hash_table_new_full(
	        g_int64_hash, g_int64_equal, g_free, (GDestroyNotify)proc_free);
	g_autoptr(GHashTable) flows_s = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_autoptr(GHashTable) named =
	        g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	g_autoptr(JsonNode) root = NULL;
	gboolean have_static = FALSE, killed = FALSE, slept = FALSE, exec_twice = FALSE;
	GHashTableIter iter;
	gpointer key, value;
	guint roots = 0;
	JsonArray *events;
	Result r;

	if (!tldrs_test_have_program("make") || !tldrs_test_have_program("sh")) {
		g_test_skip("make is not installed");
		return;
	}
	g_file_set_contents(src, "int main(void) { return 0; }\n", -1, NULL);
	if (tldrs_test_have_program("cc")) {
		g_autofree char *cmd = g_strdup_printf("cc -static -o %s %s", prog, src);
		have_static = g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL) &&
		              g_file_test(prog, G_FILE_TEST_IS_EXECUTABLE);
	}
	if (!have_static)
		g_test_message("no static binary could be built: that part is not checked");
	g_file_set_contents(mk, makefile, -1, NULL);
	static_var = g_strdup_printf("STATIC=%s", have_static ? prog : "true");
	{
		const char *args[] = {
		        "run", "-o", out, "--", "make", "-s", "-j4", static_var, NULL};
		r = run_tldrs(d, d->socket_path, args, 0);
	}
	g_assert_cmpint(r.status, ==, 0);
	root = tldrs_test_load_tef(out);
	events = tldrs_test_tef_events(root);
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		const char *ph = member_string(o, "ph");
		gint64 pid = json_object_get_int_member_with_default(o, "pid", -1);
		if (g_strcmp0(ph, "M") == 0 &&
		    g_strcmp0(member_string(o, "name"), "process_name") == 0)
			g_hash_table_add(named, g_memdup2(&pid, sizeof pid));
		if (g_strcmp0(ph, "s") == 0)
			g_hash_table_insert(flows_s,
			                    GSIZE_TO_POINTER(json_object_get_int_member(o, "id")),
			                    GSIZE_TO_POINTER(pid));
		if (g_strcmp0(ph, "X") == 0 && g_strcmp0(member_string(o, "cat"), "process") == 0) {
			JsonObject *args = json_object_get_object_member(o, "args");
			gint64 ts = json_object_get_int_member(o, "ts");
			gint64 end = ts + json_object_get_int_member(o, "dur");
			Proc *p = g_hash_table_lookup(procs, &pid);
			const char *const kill_argv[] = {"sh", "-c", "kill -TERM $$", NULL};
			const char *const sleep_argv[] = {"sleep", "0.05", NULL};
			g_assert_cmpint(json_object_get_int_member(o, "tid"), ==, pid);
			g_assert_cmpint(
			        json_array_get_length(json_object_get_array_member(args, "argv")),
			        >,
			        0);
			g_assert_cmpstr(member_string(args, "cwd"), ==, d->tmpdir);
			if (p == NULL) {
				p = g_new0(Proc, 1);
				p->start = ts;
				p->end = end;
				p->names = g_ptr_array_new_with_free_func(g_free);
				g_hash_table_insert(procs, g_memdup2(&pid, sizeof pid), p);
			}
			p->start = MIN(p->start, ts);
			p->end = MAX(p->end, end);
			p->ppid = json_object_get_int_member(args, "ppid");
			p->spans++;
			g_ptr_array_add(p->names, g_strdup(member_string(o, "name")));
			if (argv_is(args, kill_argv)) {
				g_assert_cmpstr(member_string(args, "signal"), ==, "SIGTERM");
				killed = TRUE;
			}
			if (argv_is(args, sleep_argv)) {
				g_assert_cmpint(
				        json_object_get_int_member(args, "exit_status"), ==, 0);
				g_assert_cmpint(end - ts, >=, 40000);
				slept = TRUE;
			}
			if (have_static && g_strcmp0(member_string(o, "name"), "static-prog") == 0)
				have_static = json_object_get_int_member(args, "exit_status") != 0;
		}
	}
	g_assert_true(killed);
	g_assert_true(slept);
	g_assert_false(have_static); /* seen, and exited 0 */
	/* make, the shells of five recipes, sleep, kill's shell, echo's shell at least */
	g_assert_cmpuint(g_hash_table_size(procs), >=, 8);
	g_hash_table_iter_init(&iter, procs);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		Proc *p = value;
		Proc *parent = g_hash_table_lookup(procs, &p->ppid);
		g_assert_true(g_hash_table_contains(named, key));
		if (p->spans > 1)
			exec_twice = TRUE;
		if (parent == NULL) {
			roots++;
			g_assert_cmpstr(g_ptr_array_index(p->names, p->names->len - 1), ==, "make");
			continue;
		}
		/* a child lives within its parent's life */
		g_assert_cmpint(p->start, >=, parent->start);
		g_assert_cmpint(p->end, <=, parent->end);
	}
	g_assert_cmpuint(roots, ==, 1);
	g_assert_true(exec_twice);
	/* every child's first span is the end of a flow that starts on its parent's track */
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		gint64 pid = json_object_get_int_member_with_default(o, "pid", -1);
		gpointer from;
		if (g_strcmp0(member_string(o, "ph"), "f") != 0)
			continue;
		from = g_hash_table_lookup(flows_s,
		                           GSIZE_TO_POINTER(json_object_get_int_member(o, "id")));
		g_assert_nonnull(from);
		g_assert_cmpint(((Proc *)g_hash_table_lookup(procs, &pid))->ppid,
		                ==,
		                (gint64)GPOINTER_TO_SIZE(from));
	}
	result_clear(&r);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

static char
proc_state(GPid pid)
{
	g_autofree char *fn = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree char *stat = NULL;
	const char *p;
	if (!g_file_get_contents(fn, &stat, NULL, NULL) || (p = strrchr(stat, ')')) == NULL)
		return '?';
	return p[2];
}

/* a command that stops itself stays stopped until SIGCONT, as without tldrs */
static void
test_stop_and_continue(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(d->tmpdir);
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *children = NULL;
	g_autofree char *fn = NULL;
	GPid child = 0;
	gboolean stopped = FALSE;

	g_subprocess_launcher_set_cwd(l, d->tmpdir);
	g_subprocess_launcher_setenv(l, "TRACE_TEF_TLDR_SOCKET", d->socket_path, TRUE);
	g_subprocess_launcher_set_flags(l, G_SUBPROCESS_FLAGS_STDERR_SILENCE);
	p = g_subprocess_launcher_spawn(l,
	                                &error,
	                                g_getenv("TLDRS_BIN"),
	                                "run",
	                                "--",
	                                "sh",
	                                "-c",
	                                "kill -STOP $$; exit 5",
	                                NULL);
	g_assert_no_error(error);
	fn = g_strdup_printf("/proc/%s/task/%s/children",
	                     g_subprocess_get_identifier(p),
	                     g_subprocess_get_identifier(p));
	for (guint i = 0; i < 1000 && !stopped; i++) {
		g_clear_pointer(&children, g_free);
		if (g_file_get_contents(fn, &children, NULL, NULL) && children[0] != '\0')
			child = (GPid)g_ascii_strtoll(children, NULL, 10);
		stopped = child > 0 && (proc_state(child) == 'T' || proc_state(child) == 't');
		if (!stopped)
			g_usleep(10000);
	}
	g_assert_true(stopped);
	/* still stopped a while later: the stop was not lost */
	g_usleep(200000);
	g_assert_true(proc_state(child) == 'T' || proc_state(child) == 't');
	g_assert_true(g_subprocess_get_identifier(p) != NULL);
	kill(child, SIGCONT);
	g_subprocess_wait(p, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(g_subprocess_get_exit_status(p), ==, 5);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* tmux -S SOCK ARGS…; the pane's text for capture-pane */
static char *
tmux(const char *sock, const char *const *args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	char *out = NULL;
	int status = 0;
	g_ptr_array_add(argv, (gpointer) "tmux");
	g_ptr_array_add(argv, (gpointer) "-S");
	g_ptr_array_add(argv, (gpointer)sock);
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	g_spawn_sync(NULL,
	             (char **)argv->pdata,
	             NULL,
	             G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
	             NULL,
	             NULL,
	             &out,
	             NULL,
	             &status,
	             &error);
	g_assert_no_error(error);
	return out;
}

/* waits until the pane shows @text */
static void
tmux_wait_for(const char *sock, const char *text)
{
	const char *capture[] = {"capture-pane", "-p", "-t", "t", NULL};
	for (guint i = 0; i < 1500; i++) {
		g_autofree char *pane = tmux(sock, capture);
		if (strstr(pane, text) != NULL)
			return;
		g_usleep(10000);
	}
	{
		g_autofree char *pane = tmux(sock, capture);
		g_error("the terminal never showed “%s”:\n%s", text, pane);
	}
}

/* Ctrl-Z and fg in an interactive shell: the job stops, resumes, and ends as it would */
static void
test_job_control(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *sock = g_build_filename(d->tmpdir, "tmux.socket", NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "job.json", NULL);
	g_autofree char *shell = NULL;
	g_autofree char *line = NULL;

	if (!tldrs_test_have_program("tmux") || !tldrs_test_have_program("bash")) {
		g_test_skip("tmux or bash is not installed");
		return;
	}
	shell = g_strdup_printf("env -i PATH=\"$PATH\" HOME=%s TERM=screen "
	                        "TRACE_TEF_TLDR_SOCKET=%s PS1='$ ' bash --norc --noprofile -i",
	                        d->tmpdir,
	                        d->socket_path);
	{
		const char *args[] = {
		        "new-session", "-d", "-s", "t", "-x", "200", "-y", "50", shell, NULL};
		g_free(tmux(sock, args));
	}
	/* the quotes keep the command line itself from matching what the test waits for */
	line = g_strdup_printf("%s run -o %s -- sh -c 'echo sta\"\"rted; sleep 1; echo "
	                       "fin\"\"ished; exit 3'",
	                       g_getenv("TLDRS_BIN"),
	                       out);
	{
		const char *args[] = {"send-keys", "-t", "t", line, "Enter", NULL};
		g_free(tmux(sock, args));
	}
	tmux_wait_for(sock, "started");
	{
		const char *args[] = {"send-keys", "-t", "t", "C-z", NULL};
		g_free(tmux(sock, args));
	}
	tmux_wait_for(sock, "Stopped");
	{
		const char *args[] = {"send-keys", "-t", "t", "fg", "Enter", NULL};
		g_free(tmux(sock, args));
	}
	tmux_wait_for(sock, "finished");
	tmux_wait_for(sock, "tldrs: wrote ");
	{
		const char *args[] = {"send-keys", "-t", "t", "echo status=$?", "Enter", NULL};
		g_free(tmux(sock, args));
	}
	tmux_wait_for(sock, "status=3");
	{
		const char *args[] = {"kill-server", NULL};
		g_free(tmux(sock, args));
	}
	g_assert_true(g_file_test(out, G_FILE_TEST_EXISTS));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* a command that uses ptrace itself still works; its tracees are not recorded */
static void
test_ptrace_user(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	const char *args[] = {
	        "run", "--", "strace", "-f", "-o", "/dev/null", "sh", "-c", "exit 4", NULL};
	Result r;

	if (!tldrs_test_have_program("strace")) {
		g_test_skip("strace is not installed");
		return;
	}
	r = run_tldrs(d, d->socket_path, args, 0);
	g_assert_cmpint(r.status, ==, 4);
	g_assert_nonnull(strstr(r.err, "uses ptrace itself"));
	g_assert_nonnull(strstr(r.err, "tldrs: wrote "));
	result_clear(&r);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* --no-processes: the command's own span, nothing under it */
static void
test_no_processes(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "top.json", NULL);
	const char *args[] = {
	        "run", "--no-processes", "-o", out, "--", "sh", "-c", "sh -c true; exit 2", NULL};
	g_autoptr(JsonNode) root = NULL;
	JsonArray *events;
	guint spans = 0;
	Result r = run_tldrs(d, d->socket_path, args, 0);

	g_assert_cmpint(r.status, ==, 2);
	root = tldrs_test_load_tef(out);
	events = tldrs_test_tef_events(root);
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		if (g_strcmp0(member_string(o, "ph"), "X") == 0) {
			g_assert_cmpstr(member_string(o, "cat"), ==, "tldrs run");
			spans++;
		}
	}
	g_assert_cmpuint(spans, ==, 1);
	result_clear(&r);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* ---- waiting for the file: every wait ends, with the right message ---- */

/* a command that could not start registers nothing: the next run's file is its own */
static void
test_wait_failed_start(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "same.json", NULL);
	g_autofree char *first = NULL;
	const char *missing[] = {
	        "run", "-t", "tr-first", "-o", out, "--", "tldrs-no-such-command", NULL};
	const char *fine[] = {"run", "-t", "tr-second", "-o", out, "--", "sh", "-c", "true", NULL};
	g_autoptr(JsonNode) root = NULL;
	JsonObject *other;
	Result r;

	r = run_tldrs(d, d->socket_path, missing, 0);
	g_assert_cmpint(r.status, ==, 127);
	g_assert_nonnull(strstr(r.err, "tldrs-no-such-command"));
	result_clear(&r);
	r = run_tldrs(d, d->socket_path, fine, 0);
	g_assert_cmpint(r.status, ==, 0);
	g_assert_cmpuint(reported_events(r.err), >, 0);
	root = tldrs_test_load_tef(out);
	other = json_object_get_object_member(json_node_get_object(root), "otherData");
	g_assert_cmpstr(member_string(other, "traceId"), ==, "tr-second");
	result_clear(&r);
	/* the daemon holds no trace of the first run */
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	first = tldrs_test_trace_file(d, "tr-first");
	g_assert_false(g_file_test(first, G_FILE_TEST_EXISTS));
}

/* the daemon cannot write the file: one line saying why, exit status 1 */
static void
test_wait_unwritable(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *sub = g_build_filename(d->tmpdir, "gone", NULL);
	g_autofree char *out = g_build_filename(sub, "t.json", NULL);
	const char *args[] = {"run", "-o", out, "--", "rmdir", sub, NULL};
	Result r;

	g_mkdir(sub, 0700);
	r = run_tldrs(d, d->socket_path, args, 0);
	g_assert_cmpint(r.status, ==, 1);
	g_assert_nonnull(strstr(r.err, "directory does not exist"));
	g_assert_nonnull(strstr(r.err, out));
	result_clear(&r);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* a socket that accepts and never answers is not waited for forever */
static void
test_wait_mute_socket(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *path = g_build_filename(d->tmpdir, "mute.socket", NULL);
	g_autoptr(GSocket) listener = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	g_autoptr(GError) error = NULL;
	const char *args[] = {"run", "--socket", path, "--", "sh", "-c", "exit 0", NULL};
	gint64 t0;
	Result r;

	g_socket_bind(listener, addr, TRUE, &error);
	g_assert_no_error(error);
	g_socket_listen(listener, &error);
	g_assert_no_error(error);
	t0 = g_get_monotonic_time();
	r = run_tldrs(d, NULL, args, 0);
	g_assert_cmpint(r.status, ==, 1);
	g_assert_nonnull(strstr(r.err, "gave no answer"));
	g_assert_cmpint(g_get_monotonic_time() - t0, <, 60 * G_USEC_PER_SEC);
	result_clear(&r);
}

/* a client that stays connected: --wait bounds the wait, the daemon writes the file later */
static void
test_wait_lingering_client(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "late.json", NULL);
	const char *args[] = {"run", "-t", "tr-late", "--wait", "1", "-o", out, "--", "true", NULL};
	GSocket *client = tldrs_test_connect(d->socket_path);
	gint64 t0 = g_get_monotonic_time();
	Result r;

	tldrs_test_send(
	        client,
	        "OPEN tr-late\n{\"ph\":\"i\",\"name\":\"late\",\"ts\":1,\"pid\":9,\"tid\":9}\n");
	r = run_tldrs(d, d->socket_path, args, 0);
	g_assert_cmpint(r.status, ==, 1);
	g_assert_nonnull(strstr(r.err, "still had clients after 1 s"));
	g_assert_cmpint(g_get_monotonic_time() - t0, <, 30 * G_USEC_PER_SEC);
	result_clear(&r);
	/* the last client leaves: the daemon writes the file, with every event */
	tldrs_test_close(client);
	g_assert_true(tldrs_test_wait_for_file(out, 10000));
	{
		g_autoptr(JsonNode) root = tldrs_test_load_tef(out);
		g_assert_cmpuint(count_name(tldrs_test_tef_events(root), "late"), ==, 1);
	}
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* with $XDG_RUNTIME_DIR set and no other choice made, tldrs' clients use the private socket */
static void
test_send_private_socket(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *runtime = g_build_filename(d->tmpdir, "runtime", NULL);
	g_autofree char *input = g_build_filename(d->tmpdir, "one.jsonl", NULL);
	g_autofree char *fn = NULL;
	g_autoptr(GSubprocessLauncher) l = NULL;
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(g_mkdir(runtime, 0700), ==, 0);
	g_free(d->socket_path);
	d->socket_path = g_build_filename(runtime, "tldrs.socket", NULL);
	tldrs_test_daemon_start(d, NULL);
	g_file_set_contents(
	        input, "{\"ph\":\"i\",\"name\":\"p\",\"ts\":1,\"pid\":1,\"tid\":1}\n", -1, NULL);
	l = tldrs_test_launcher(d->tmpdir);
	g_subprocess_launcher_setenv(l, "XDG_RUNTIME_DIR", runtime, TRUE);
	p = g_subprocess_launcher_spawn(
	        l, &error, g_getenv("TLDRS_BIN"), "send", "-t", "tr-private", input, NULL);
	g_assert_no_error(error);
	g_subprocess_wait_check(p, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	fn = tldrs_test_trace_file(d, "tr-private");
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 1);
}

/* a socket served by another user gets nothing from tldrs send or tldrs run */
static void
test_other_users_socket(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *dir = g_build_filename(d->tmpdir, "shared", NULL);
	g_autofree char *path = g_build_filename(dir, "tldrs.socket", NULL);
	const char *send_args[] = {"send", "-t", "tr-x", "--socket", path, "/dev/null", NULL};
	const char *run_args[] = {"run", "--socket", path, "--", "sh", "-c", "exit 6", NULL};
	pid_t pid;
	Result r;

	if (getuid() != 0) {
		g_test_skip("needs root to serve a socket as another user");
		return;
	}
	g_assert_cmpint(g_mkdir(dir, 0777), ==, 0);
	g_assert_cmpint(chmod(dir, 0777), ==, 0);
	g_assert_cmpint(chmod(d->tmpdir, 0755), ==, 0);
	pid = tldrs_test_listen_as_nobody(path);
	r = run_tldrs(d, NULL, send_args, 0);
	g_assert_cmpint(r.status, ==, 1);
	g_assert_nonnull(strstr(r.err, "not by you"));
	result_clear(&r);
	/* the command still runs, untraced */
	r = run_tldrs(d, NULL, run_args, 0);
	g_assert_cmpint(r.status, ==, 6);
	g_assert_nonnull(strstr(r.err, "not by you"));
	g_assert_nonnull(strstr(r.err, "not tracing"));
	result_clear(&r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/run/private-daemon", test_private_daemon);
	g_test_add_func("/tldrs/run/running-daemon", test_running_daemon);
	g_test_add_func("/tldrs/run/status-and-signals", test_status_and_signals);
	g_test_add_func("/tldrs/run/process-tree", test_process_tree);
	g_test_add_func("/tldrs/run/stop-and-continue", test_stop_and_continue);
	g_test_add_func("/tldrs/run/job-control", test_job_control);
	g_test_add_func("/tldrs/run/ptrace-user", test_ptrace_user);
	g_test_add_func("/tldrs/run/no-processes", test_no_processes);
	g_test_add_func("/tldrs/run/wait-failed-start", test_wait_failed_start);
	g_test_add_func("/tldrs/run/wait-unwritable", test_wait_unwritable);
	g_test_add_func("/tldrs/run/wait-mute-socket", test_wait_mute_socket);
	g_test_add_func("/tldrs/run/wait-lingering-client", test_wait_lingering_client);
	g_test_add_func("/tldrs/send/lines-and-errors", test_send);
	g_test_add_func("/tldrs/send/private-socket", test_send_private_socket);
	g_test_add_func("/tldrs/send/other-users-socket", test_other_users_socket);
	return g_test_run();
}
