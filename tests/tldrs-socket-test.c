/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The sockets a daemon serves and the directories it trusts: the shared socket existing
 * clients look for, the private one in $XDG_RUNTIME_DIR, another user's daemon on the
 * shared path, directories another user could meddle with, and an output directory swapped
 * for a symlink after the path was checked. */

#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "tldrs-test-util.h"

/* `tldrs serve -d DATA` with no --socket, TMPDIR=@tmpdir and XDG_RUNTIME_DIR=@runtime */
static GSubprocess *
start_serve(TldrsTestDaemon *d, const char *tmpdir, const char *runtime, GError **error)
{
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(d->tmpdir);
	g_subprocess_launcher_setenv(l, "TMPDIR", tmpdir, TRUE);
	g_subprocess_launcher_setenv(l, "XDG_RUNTIME_DIR", runtime, TRUE);
	g_subprocess_launcher_set_flags(l, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_subprocess_launcher_set_stderr_file_path(l, d->log_path);
	return g_subprocess_launcher_spawn(
	        l, error, g_getenv("TLDRS_BIN"), "serve", "-v", "-d", d->data_dir, NULL);
}

/* the start line: where the daemon listens */
static char *
read_start_line(GSubprocess *p)
{
	g_autoptr(GDataInputStream) in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(p));
	g_autoptr(GError) error = NULL;
	char *line = g_data_input_stream_read_line_utf8(in, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(line);
	return line;
}

static void
send_one(TldrsTestDaemon *d, const char *socket_path, const char *name)
{
	GSocket *s = tldrs_test_connect(socket_path);
	g_autofree char *line = g_strdup_printf(
	        "OPEN tr-sock\n{\"ph\":\"i\",\"name\":\"%s\",\"ts\":1,\"pid\":1,\"tid\":1}\n",
	        name);
	(void)d;
	tldrs_test_send(s, line);
	tldrs_test_close(s);
}

/* with $XDG_RUNTIME_DIR, a daemon on the default socket serves the private one too */
static void
test_private_and_shared(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *runtime = g_build_filename(d->tmpdir, "runtime", NULL);
	g_autofree char *shared = g_build_filename(d->tmpdir, "tldrs.socket", NULL);
	g_autofree char *private_path = g_build_filename(runtime, "tldrs.socket", NULL);
	g_autofree char *line = NULL;
	g_autofree char *fn = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(g_mkdir(runtime, 0700), ==, 0);
	d->proc = start_serve(d, d->tmpdir, runtime, &error);
	g_assert_no_error(error);
	line = read_start_line(d->proc);
	g_assert_nonnull(strstr(line, shared));
	g_assert_nonnull(strstr(line, private_path));
	send_one(d, shared, "via-shared");
	send_one(d, private_path, "via-private");
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	fn = tldrs_test_trace_file(d, "tr-sock");
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 2);
	/* both are removed at exit */
	g_assert_false(g_file_test(shared, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(private_path, G_FILE_TEST_EXISTS));
}

/* the shared path held by another user's daemon: said loudly, the private socket served */
static void
test_shared_held_by_another_user(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *tmp = g_build_filename(d->tmpdir, "tmp", NULL);
	g_autofree char *runtime = g_build_filename(d->tmpdir, "runtime", NULL);
	g_autofree char *shared = g_build_filename(tmp, "tldrs.socket", NULL);
	g_autofree char *private_path = g_build_filename(runtime, "tldrs.socket", NULL);
	g_autofree char *line = NULL;
	g_autofree char *fn = NULL;
	g_autofree char *log = NULL;
	g_autoptr(GError) error = NULL;
	pid_t other;

	if (getuid() != 0) {
		g_test_skip("needs root to serve a socket as another user");
		return;
	}
	/* like /tmp: everyone's, with the sticky bit */
	g_assert_cmpint(chmod(d->tmpdir, 0755), ==, 0);
	g_assert_cmpint(g_mkdir(tmp, 0700), ==, 0);
	g_assert_cmpint(chmod(tmp, 01777), ==, 0);
	g_assert_cmpint(g_mkdir(runtime, 0700), ==, 0);
	other = tldrs_test_listen_as_nobody(shared);
	d->proc = start_serve(d, tmp, runtime, &error);
	g_assert_no_error(error);
	line = read_start_line(d->proc);
	g_assert_nonnull(strstr(line, private_path));
	g_assert_null(strstr(line, shared));
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "held by a daemon of another user"));
	send_one(d, private_path, "via-private");
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	fn = tldrs_test_trace_file(d, "tr-sock");
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 1);
	/* the other user's socket is left alone */
	g_assert_true(g_file_test(shared, G_FILE_TEST_EXISTS));
	kill(other, SIGKILL);
	waitpid(other, NULL, 0);
}

/* `tldrs serve` with @args, expected to refuse to start with @message in its error */
static void
assert_refused(TldrsTestDaemon *d, const char *message, const char *const *args)
{
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(d->tmpdir);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autofree char *err = NULL;
	int status;

	g_ptr_array_add(argv, (gpointer)g_getenv("TLDRS_BIN"));
	g_ptr_array_add(argv, (gpointer) "serve");
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	status = tldrs_test_run(l, (const char *const *)argv->pdata, NULL, &err);
	g_assert_cmpint(status, ==, 1);
	if (strstr(err, message) == NULL)
		g_error("expected “%s” in: %s", message, err);
}

/* a data or socket directory another user could meddle with is refused at start */
static void
test_unsafe_dirs(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *open_data = g_build_filename(d->tmpdir, "open-data", NULL);
	g_autofree char *open_sock = g_build_filename(d->tmpdir, "open-sock", NULL);
	g_autofree char *their_data = g_build_filename(d->tmpdir, "their-data", NULL);
	g_autofree char *sock = g_build_filename(open_sock, "tldrs.socket", NULL);
	g_autofree char *good_sock = g_build_filename(d->tmpdir, "good.socket", NULL);

	g_assert_cmpint(g_mkdir(open_data, 0700), ==, 0);
	g_assert_cmpint(chmod(open_data, 0777), ==, 0);
	{
		const char *args[] = {"--socket", good_sock, "-d", open_data, NULL};
		assert_refused(d, "writable by other users", args);
	}
	g_assert_cmpint(g_mkdir(open_sock, 0700), ==, 0);
	g_assert_cmpint(chmod(open_sock, 0777), ==, 0);
	{
		const char *args[] = {"--socket", sock, "-d", d->data_dir, NULL};
		assert_refused(d, "writable by other users", args);
	}
	if (getuid() == 0) {
		g_assert_cmpint(g_mkdir(their_data, 0700), ==, 0);
		g_assert_cmpint(chown(their_data, 65534, 65534), ==, 0);
		{
			const char *args[] = {"--socket", good_sock, "-d", their_data, NULL};
			assert_refused(d, "belongs to another user", args);
		}
	} else {
		g_test_message("not root: a directory of another user is not tried");
	}
}

/* EMIT_TEF_AT_EXIT: the directory is the one checked, even if it is swapped for a symlink
 * into the data directory before the file is written */
static void
test_output_dir_swapped(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "out", NULL);
	g_autofree char *moved = g_build_filename(d->tmpdir, "out-moved", NULL);
	g_autofree char *victim = tldrs_test_trace_file(d, "victim");
	g_autofree char *probe = g_build_filename(out, "probe.json", NULL);
	g_autofree char *landed = g_build_filename(moved, "victim.jsonl", NULL);
	g_autofree char *lines = NULL;
	GSocket *s;

	/* a trace of the daemon's own, which the TEF file must not replace */
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(
	        s, "OPEN victim\n{\"ph\":\"i\",\"name\":\"v\",\"ts\":1,\"pid\":1,\"tid\":1}\n");
	tldrs_test_close(s);
	g_assert_cmpint(g_mkdir(out, 0700), ==, 0);
	s = tldrs_test_connect(d->socket_path);
	lines = g_strdup_printf("OPEN tr-swap\n"
	                        "{\"ph\":\"i\",\"name\":\"s\",\"ts\":1,\"pid\":1,\"tid\":1}\n"
	                        "EMIT_TEF_AT_EXIT %s/victim.jsonl\n"
	                        "EMIT_TEF %s\n",
	                        out,
	                        probe);
	tldrs_test_send(s, lines);
	/* the snapshot is written: the at-exit path before it was checked */
	g_assert_true(tldrs_test_wait_for_file(probe, 10000));
	g_assert_cmpint(g_rename(out, moved), ==, 0);
	g_assert_cmpint(symlink(d->data_dir, out), ==, 0);
	tldrs_test_close(s);
	/* written where the path was checked, not through the symlink */
	g_assert_true(tldrs_test_wait_for_file(landed, 10000));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(victim), ==, 1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/socket/private-and-shared", test_private_and_shared);
	g_test_add_func("/tldrs/socket/shared-held-by-another-user",
	                test_shared_held_by_another_user);
	g_test_add_func("/tldrs/socket/unsafe-dirs", test_unsafe_dirs);
	g_test_add_func("/tldrs/socket/output-dir-swapped", test_output_dir_swapped);
	return g_test_run();
}
