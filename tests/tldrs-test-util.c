/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "tldrs-json.h"
#include "tldrs-test-util.h"

char *
tldrs_test_mkdtemp(void)
{
	g_autoptr(GError) error = NULL;
	char *dir = g_dir_make_tmp("tldrs-test-XXXXXX", &error);
	g_assert_no_error(error);
	return dir;
}

void
tldrs_test_rm_rf(const char *path)
{
	g_autoptr(GDir) dir = NULL;
	const char *name;
	if (path == NULL)
		return;
	dir = g_dir_open(path, 0, NULL);
	if (dir != NULL) {
		while ((name = g_dir_read_name(dir)) != NULL) {
			g_autofree char *fn = g_build_filename(path, name, NULL);
			if (g_file_test(fn, G_FILE_TEST_IS_DIR) &&
			    !g_file_test(fn, G_FILE_TEST_IS_SYMLINK)) {
				g_chmod(fn, 0700);
				tldrs_test_rm_rf(fn);
			} else {
				g_unlink(fn);
			}
		}
	}
	g_rmdir(path);
}

static const char *
tldrs_test_bin(void)
{
	const char *bin = g_getenv("TLDRS_BIN");
	g_assert_nonnull(bin);
	return bin;
}

static void
tldrs_test_child_setup(gpointer user_data)
{
	/* a failed test never leaves a daemon behind */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* children never see the user's real config or data directories */
GSubprocessLauncher *
tldrs_test_launcher(const char *tmpdir)
{
	GSubprocessLauncher *l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	g_autofree char *xdg_data = g_build_filename(tmpdir, "xdg-data", NULL);
	g_autofree char *xdg_config = g_build_filename(tmpdir, "xdg-config", NULL);
	g_subprocess_launcher_setenv(l, "XDG_DATA_HOME", xdg_data, TRUE);
	g_subprocess_launcher_setenv(l, "XDG_CONFIG_HOME", xdg_config, TRUE);
	g_subprocess_launcher_setenv(l, "XDG_CONFIG_DIRS", xdg_config, TRUE);
	g_subprocess_launcher_setenv(l, "TMPDIR", tmpdir, TRUE);
	g_subprocess_launcher_unsetenv(l, "TRACE_TEF_TLDR_SOCKET");
	/* nor the user's private socket: a test that wants one sets it */
	g_subprocess_launcher_unsetenv(l, "XDG_RUNTIME_DIR");
	/* never the user's session bus: a test that wants a bus makes its own (GTestDBus) */
	if (g_getenv("TLDRS_TEST_BUS") == NULL)
		g_subprocess_launcher_setenv(l,
		                             "DBUS_SESSION_BUS_ADDRESS",
		                             "unix:path=/nonexistent/tldrs-test-bus",
		                             TRUE);
	g_subprocess_launcher_set_child_setup(l, tldrs_test_child_setup, NULL, NULL);
	return l;
}

TldrsTestDaemon *
tldrs_test_daemon_new(void)
{
	TldrsTestDaemon *d = g_new0(TldrsTestDaemon, 1);
	d->tmpdir = tldrs_test_mkdtemp();
	d->socket_path = g_build_filename(d->tmpdir, "tldrs.socket", NULL);
	d->data_dir = g_build_filename(d->tmpdir, "data", NULL);
	d->log_path = g_build_filename(d->tmpdir, "daemon.log", NULL);
	return d;
}

gboolean
tldrs_test_socket_ready(const char *path)
{
	g_autoptr(GSocket) s = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	return g_socket_connect(s, addr, NULL, NULL);
}

/* tldrs_test_daemon_start() with @child_setup run in the child instead of the launcher's own
 * (which makes a failed test leave no daemon behind: @child_setup should too) */
void
tldrs_test_daemon_start_with_setup(TldrsTestDaemon *d,
                                   const char *const *extra_args,
                                   GSpawnChildSetupFunc child_setup,
                                   gpointer user_data,
                                   GDestroyNotify destroy)
{
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(d->tmpdir);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;

	g_ptr_array_add(argv, (gpointer)tldrs_test_bin());
	g_ptr_array_add(argv, (gpointer) "serve");
	g_ptr_array_add(argv, (gpointer) "-v");
	g_ptr_array_add(argv, (gpointer) "--socket");
	g_ptr_array_add(argv, d->socket_path);
	g_ptr_array_add(argv, (gpointer) "-d");
	g_ptr_array_add(argv, d->data_dir);
	for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)extra_args[i]);
	g_ptr_array_add(argv, NULL);
	g_subprocess_launcher_set_stderr_file_path(l, d->log_path);
	g_subprocess_launcher_set_flags(l, G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	if (child_setup != NULL)
		g_subprocess_launcher_set_child_setup(l, child_setup, user_data, destroy);
	g_clear_object(&d->proc);
	d->proc = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, &error);
	g_assert_no_error(error);
	/* the daemon announces nothing: poll the socket */
	for (guint i = 0; i < 1000; i++) {
		if (tldrs_test_socket_ready(d->socket_path))
			return;
		if (g_subprocess_get_identifier(d->proc) == NULL) {
			g_autofree char *log = tldrs_test_daemon_log(d);
			g_error("daemon exited at start: %s", log);
		}
		g_usleep(10000);
	}
	g_error("daemon did not listen on %s", d->socket_path);
}

void
tldrs_test_daemon_start(TldrsTestDaemon *d, const char *const *extra_args)
{
	tldrs_test_daemon_start_with_setup(d, extra_args, NULL, NULL, NULL);
}

TldrsTestDaemon *
tldrs_test_daemon_start_new(const char *const *extra_args)
{
	TldrsTestDaemon *d = tldrs_test_daemon_new();
	tldrs_test_daemon_start(d, extra_args);
	return d;
}

/* `serve --replace` with @extra_args on @old's socket and data directory: returns the new
 * daemon once @old has stopped in order (status 0) on its SIGTERM and the new one serves */
TldrsTestDaemon *
tldrs_test_daemon_replace(TldrsTestDaemon *old, const char *const *extra_args)
{
	TldrsTestDaemon *d = tldrs_test_daemon_new();
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autofree char *stopped_by = NULL;

	g_free(d->socket_path);
	d->socket_path = g_strdup(old->socket_path);
	g_free(d->data_dir);
	d->data_dir = g_strdup(old->data_dir);
	for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
		g_ptr_array_add(args, (gpointer)extra_args[i]);
	g_ptr_array_add(args, (gpointer) "--replace");
	g_ptr_array_add(args, NULL);
	/* returns at once: the old daemon still answers on the socket */
	tldrs_test_daemon_start(d, (const char *const *)args->pdata);
	stopped_by = g_strdup_printf("shutting down: signal received (SIGTERM from pid %s)",
	                             g_subprocess_get_identifier(d->proc));
	g_assert_true(tldrs_test_daemon_wait_log(old, stopped_by, 10000));
	g_assert_cmpint(tldrs_test_daemon_wait(old), ==, 0);
	g_assert_true(tldrs_test_daemon_wait_log(d, "listening on", 10000));
	return d;
}

/* exit status of the daemon once it has exited by itself; -1 on a signal */
int
tldrs_test_daemon_wait(TldrsTestDaemon *d)
{
	g_autoptr(GError) error = NULL;
	g_subprocess_wait(d->proc, NULL, &error);
	g_assert_no_error(error);
	if (!g_subprocess_get_if_exited(d->proc))
		return -1;
	return g_subprocess_get_exit_status(d->proc);
}

int
tldrs_test_daemon_stop(TldrsTestDaemon *d, int sig)
{
	g_subprocess_send_signal(d->proc, sig);
	return tldrs_test_daemon_wait(d);
}

char *
tldrs_test_daemon_log(TldrsTestDaemon *d)
{
	char *contents = NULL;
	if (!g_file_get_contents(d->log_path, &contents, NULL, NULL))
		return g_strdup("");
	return contents;
}

void
tldrs_test_daemon_free(TldrsTestDaemon *d)
{
	if (d == NULL)
		return;
	if (d->proc != NULL && g_subprocess_get_identifier(d->proc) != NULL) {
		g_subprocess_force_exit(d->proc);
		g_subprocess_wait(d->proc, NULL, NULL);
	}
	g_clear_object(&d->proc);
	if (g_getenv("TLDRS_TEST_KEEP") == NULL)
		tldrs_test_rm_rf(d->tmpdir);
	g_free(d->tmpdir);
	g_free(d->socket_path);
	g_free(d->data_dir);
	g_free(d->log_path);
	g_free(d);
}

GSocket *
tldrs_test_connect(const char *socket_path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(socket_path);
	GSocket *s = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
	g_assert_no_error(error);
	/* a full listen backlog: a unix socket says EAGAIN instead of waiting; wait for the
	 * daemon to accept (up to 20 s) */
	for (guint i = 0; i < 20000; i++) {
		if (g_socket_connect(s, addr, NULL, &error) ||
		    !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			break;
		g_clear_error(&error);
		g_usleep(1000);
	}
	g_assert_no_error(error);
	return s;
}

void
tldrs_test_send_len(GSocket *socket, const char *data, gsize len)
{
	gsize off = 0;
	while (off < len) {
		g_autoptr(GError) error = NULL;
		gssize n = g_socket_send(socket, data + off, len - off, NULL, &error);
		g_assert_no_error(error);
		off += (gsize)n;
	}
}

void
tldrs_test_send(GSocket *socket, const char *data)
{
	tldrs_test_send_len(socket, data, strlen(data));
}

void
tldrs_test_close(GSocket *socket)
{
	g_socket_close(socket, NULL);
	g_object_unref(socket);
}

struct _TldrsTestSender {
	GSocket *socket;
	const char *data;
	gsize len;
	gint done;
	GThread *thread;
};

static gpointer
tldrs_test_sender_thread(gpointer user_data)
{
	TldrsTestSender *sender = user_data;
	tldrs_test_send_len(sender->socket, sender->data, sender->len);
	g_atomic_int_set(&sender->done, 1);
	return NULL;
}

/* a client that may block in its write: sends @data[0..@len) on @socket from a thread of its
 * own; @data must outlive it */
TldrsTestSender *
tldrs_test_sender_start(GSocket *socket, const char *data, gsize len)
{
	TldrsTestSender *sender = g_new0(TldrsTestSender, 1);
	sender->socket = socket;
	sender->data = data;
	sender->len = len;
	sender->thread = g_thread_new("sender", tldrs_test_sender_thread, sender);
	return sender;
}

/* everything is sent */
gboolean
tldrs_test_sender_done(TldrsTestSender *sender)
{
	return g_atomic_int_get(&sender->done) != 0;
}

/* wait until everything is sent; frees @sender (not its socket) */
void
tldrs_test_sender_join(TldrsTestSender *sender)
{
	g_thread_join(sender->thread);
	g_free(sender);
}

/* @n instant events named @name, with ts 0 to @n - 1 */
void
tldrs_test_send_events(GSocket *socket, const char *name, guint n)
{
	for (guint i = 0; i < n; i++) {
		g_autofree char *e = g_strdup_printf(
		        "{\"name\":\"%s\",\"ph\":\"i\",\"ts\":%u,\"pid\":1,\"tid\":0}\n", name, i);
		tldrs_test_send(socket, e);
	}
}

/* @text as the file tldrs.conf in the daemon's directory; its path */
char *
tldrs_test_write_config(TldrsTestDaemon *d, const char *text)
{
	char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);
	g_autoptr(GError) error = NULL;
	g_file_set_contents(conf, text, -1, &error);
	g_assert_no_error(error);
	return conf;
}

/* run @argv from @l to its end, its standard output and error read into @out and @err (each
 * may be NULL); its exit status, -1 when a signal ended it */
int
tldrs_test_run(GSubprocessLauncher *l, const char *const *argv, char **out, char **err)
{
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *o = NULL;
	g_autofree char *e = NULL;

	g_subprocess_launcher_set_flags(
	        l, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
	p = g_subprocess_launcher_spawnv(l, argv, &error);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8(p, NULL, NULL, &o, &e, &error);
	g_assert_no_error(error);
	if (out != NULL)
		*out = g_steal_pointer(&o);
	if (err != NULL)
		*err = g_steal_pointer(&e);
	return g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
}

/* run `tldrs ARGS…` with the test's environment; returns its exit status */
int
tldrs_test_cli(TldrsTestDaemon *d, char **out, char **err, const char *first_arg, ...)
{
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(d->tmpdir);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	va_list ap;
	int status;

	g_ptr_array_add(argv, (gpointer)tldrs_test_bin());
	va_start(ap, first_arg);
	/* a NULL first argument runs tldrs without any */
	for (const char *a = first_arg; a != NULL; a = va_arg(ap, const char *))
		g_ptr_array_add(argv, (gpointer)a);
	va_end(ap);
	g_ptr_array_add(argv, NULL);
	status = tldrs_test_run(l, (const char *const *)argv->pdata, out, err);
	g_assert_cmpint(status, >=, 0);
	return status;
}

/* `tldrs serve --config @conf` on @d's socket and data directory, run to its end (a config
 * it refuses): its exit status and standard error */
int
tldrs_test_serve_config(TldrsTestDaemon *d, const char *conf, char **err)
{
	return tldrs_test_cli(d,
	                      NULL,
	                      err,
	                      "serve",
	                      "--config",
	                      conf,
	                      "--socket",
	                      d->socket_path,
	                      "-d",
	                      d->data_dir,
	                      NULL);
}

gboolean
tldrs_test_wait_for_file(const char *path, guint timeout_ms)
{
	for (guint waited = 0; waited <= timeout_ms; waited += 10) {
		if (g_file_test(path, G_FILE_TEST_EXISTS))
			return TRUE;
		g_usleep(10000);
	}
	return FALSE;
}

/* the daemon has logged @needle @n times (it runs with -v: debug lines too); FALSE after
 * @timeout_ms */
gboolean
tldrs_test_daemon_wait_log_count(TldrsTestDaemon *d, const char *needle, guint n, guint timeout_ms)
{
	for (guint waited = 0; waited <= timeout_ms; waited += 10) {
		g_autofree char *log = tldrs_test_daemon_log(d);
		guint found = 0;
		for (const char *p = strstr(log, needle); p != NULL; p = strstr(p + 1, needle))
			found++;
		if (found >= n)
			return TRUE;
		g_usleep(10000);
	}
	return FALSE;
}

gboolean
tldrs_test_daemon_wait_log(TldrsTestDaemon *d, const char *needle, guint timeout_ms)
{
	return tldrs_test_daemon_wait_log_count(d, needle, 1, timeout_ms);
}

/* both are in @log, @first before @second */
gboolean
tldrs_test_log_before(const char *log, const char *first, const char *second)
{
	const char *a = strstr(log, first);
	const char *b = strstr(log, second);
	return a != NULL && b != NULL && a < b;
}

/* a TEF file: strict JSON (our validator) that json-glib also parses */
JsonNode *
tldrs_test_load_tef(const char *path)
{
	g_autofree char *contents = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	const char *reason = NULL;
	gsize len = 0;
	gsize where = 0;

	g_file_get_contents(path, &contents, &len, &error);
	g_assert_no_error(error);
	if (contents[0] == '{') {
		if (!tldrs_json_check_object(contents, len, &where, &reason))
			g_error("%s is not strict JSON at byte %zu: %s", path, where, reason);
	} else {
		/* the array form: wrap it to check it with the object validator */
		g_autofree char *wrapped = g_strdup_printf("{\"a\":%s}", contents);
		if (!tldrs_json_check_object(wrapped, strlen(wrapped), &where, &reason))
			g_error("%s is not strict JSON at byte %zu: %s", path, where, reason);
	}
	json_parser_load_from_data(parser, contents, (gssize)len, &error);
	g_assert_no_error(error);
	return json_node_copy(json_parser_get_root(parser));
}

JsonArray *
tldrs_test_tef_events(JsonNode *root)
{
	if (JSON_NODE_HOLDS_ARRAY(root))
		return json_node_get_array(root);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
	return json_object_get_array_member(json_node_get_object(root), "traceEvents");
}

guint
tldrs_test_count_lines(const char *path)
{
	g_autofree char *contents = NULL;
	guint n = 0;
	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return 0;
	for (const char *p = contents; *p != '\0'; p++) {
		if (*p == '\n')
			n++;
	}
	return n;
}

char *
tldrs_test_trace_file(TldrsTestDaemon *d, const char *id)
{
	g_autofree char *base = g_strconcat(id, ".jsonl", NULL);
	return g_build_filename(d->data_dir, base, NULL);
}

/* the groups of the sinks this build left out (nats without libnats), cut from a config
 * file's text: with their keys uncommented, the daemon refuses them */
void
tldrs_test_drop_unbuilt_sinks(char *config_text)
{
	g_auto(GStrv) unbuilt = g_strsplit(TLDRS_UNBUILT_SINKS, ";", -1);
	for (guint i = 0; unbuilt[i] != NULL; i++) {
		g_autofree char *head = g_strdup_printf("\n[Sink %s]", unbuilt[i]);
		char *group;
		char *next;
		if (unbuilt[i][0] == '\0' || (group = strstr(config_text, head)) == NULL)
			continue;
		next = strstr(group + 1, "\n[");
		if (next != NULL)
			memmove(group, next, strlen(next) + 1);
		else
			group[1] = '\0';
	}
}

gboolean
tldrs_test_have_program(const char *name)
{
	g_autofree char *path = g_find_program_in_path(name);
	return path != NULL;
}

/* @argv run to its end (found in PATH) with @envp (NULL: ours); its exit status, -1 when it
 * was killed */
/* @name in PATH, else in the sbin directories that a non-root user's PATH often lacks (Debian
 * puts nats-server in /usr/sbin); NULL when it is in none */
char *
tldrs_test_find_program(const char *name)
{
	static const char *const sbin[] = {"/usr/local/sbin", "/usr/sbin", "/sbin"};
	char *path = g_find_program_in_path(name);
	for (guint i = 0; path == NULL && i < G_N_ELEMENTS(sbin); i++) {
		g_autofree char *p = g_build_filename(sbin[i], name, NULL);
		if (g_file_test(p, G_FILE_TEST_IS_EXECUTABLE) &&
		    !g_file_test(p, G_FILE_TEST_IS_DIR))
			path = g_steal_pointer(&p);
	}
	return path;
}

int
tldrs_test_run_env(char **out, char **err, const char *const *argv, const char *const *envp)
{
	g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
	if (envp != NULL)
		g_subprocess_launcher_set_environ(l, (char **)envp);
	return tldrs_test_run(l, argv, out, err);
}

/* `meson install` of the build tree (TLDRS_BUILD_ROOT) into @destdir */
void
tldrs_test_meson_install(const char *destdir)
{
	g_autofree char *err = NULL;
	const char *argv[] = {"meson",
	                      "install",
	                      "-C",
	                      g_getenv("TLDRS_BUILD_ROOT"),
	                      "--no-rebuild",
	                      "--quiet",
	                      "--destdir",
	                      destdir,
	                      NULL};
	g_assert_nonnull(argv[3]);
	if (tldrs_test_run_env(NULL, &err, argv, NULL) != 0)
		g_error("meson install failed: %s", err);
}

/* a listening socket at @path whose peer is uid 65534; its pid */
pid_t
tldrs_test_listen_as_nobody(const char *path)
{
	g_autoptr(GSocket) listener = NULL;
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(GError) error = NULL;
	int ready[2];
	char c;
	pid_t pid;

	listener = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
	g_assert_no_error(error);
	addr = g_unix_socket_address_new(path);
	g_socket_bind(listener, addr, TRUE, &error);
	g_assert_no_error(error);
	g_assert_cmpint(pipe(ready), ==, 0);
	/* the peer credentials are those of the process that listens */
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0 ||
		    listen(g_socket_get_fd(listener), 8) != 0)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	g_assert_cmpint(pid, >, 0);
	g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
	close(ready[0]);
	close(ready[1]);
	return pid;
}
