/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* `tldrs run` and `tldrs send`, as a shell user runs them. */

#include <signal.h>
#include <string.h>

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

static void
check_trace(const char *path)
{
	g_autoptr(JsonNode) root = tldrs_test_load_tef(path);
	JsonArray *events = tldrs_test_tef_events(root);
	JsonObject *span = NULL;
	g_assert_cmpuint(count_name(events, "parent"), ==, 1);
	g_assert_cmpuint(count_name(events, "child"), ==, 1);
	g_assert_cmpuint(count_name(events, "grand"), ==, 1);
	g_assert_cmpuint(count_name(events, "process_name"), ==, 1);
	g_assert_cmpuint(count_name(events, "thread_name"), ==, 1);
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		if (g_strcmp0(json_object_get_string_member_with_default(o, "ph", ""), "X") == 0)
			span = o;
	}
	g_assert_nonnull(span);
	g_assert_cmpint(json_object_get_int_member(json_object_get_object_member(span, "args"),
	                                           "exit_status"),
	                ==,
	                3);
	g_assert_cmpint(json_object_get_int_member(span, "dur"), >, 0);
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
	g_assert_nonnull(strstr(r.err, "build.json: 6 events from 3 processes"));
	check_trace(out);
	g_assert_cmpuint(tldrs_test_count_lines(kept), ==, 6);
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

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/run/private-daemon", test_private_daemon);
	g_test_add_func("/tldrs/run/running-daemon", test_running_daemon);
	g_test_add_func("/tldrs/run/status-and-signals", test_status_and_signals);
	g_test_add_func("/tldrs/send/lines-and-errors", test_send);
	return g_test_run();
}
