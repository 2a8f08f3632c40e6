/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The data directory's lock against the real daemon: `serve --replace` takes over from the
 * daemon that uses the same data directory, with no session bus, after it has stopped in
 * order; it never stops a process that it cannot prove is the user's own daemon. */

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "tldrs-test-util.h"

/* no bus (the test launcher points the daemons at none): the old daemon stores everything,
 * writes its EMIT_TEF_AT_EXIT file and exits; the new one serves the same socket and
 * directory */
static void
test_replace_without_bus(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(TldrsTestDaemon) d2 = NULL;
	/* what the old one holds is still in memory when it is replaced */
	g_autofree char *conf = tldrs_test_write_config(d, "[Daemon]\nFlushIntervalSec=3600\n");
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-rep");
	g_autofree char *tef = g_build_filename(d->tmpdir, "rep.json", NULL);
	g_autofree char *cmd = g_strdup_printf("EMIT_TEF_AT_EXIT %s\n", tef);
	g_autofree char *log = NULL;
	g_autoptr(JsonNode) root = NULL;
	const char *args[] = {"--config", conf, NULL};
	GSocket *s;

	tldrs_test_daemon_start(d, args);
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-rep\n");
	tldrs_test_send(s, cmd);
	tldrs_test_send_events(s, "old", 100);
	g_assert_true(tldrs_test_daemon_wait_log(d, "connection 1 from pid", 10000));

	/* the same socket and data directory */
	d2 = tldrs_test_daemon_replace(d, args);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "stopped"));
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 100);
	root = tldrs_test_load_tef(tef);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 100);
	tldrs_test_close(s);

	/* the new one serves once the old one has gone */
	g_assert_true(tldrs_test_daemon_wait_log(d2, "replacing the tldrs daemon", 0));
	s = tldrs_test_connect(d2->socket_path);
	tldrs_test_send(s, "OPEN tr-rep\n");
	tldrs_test_send_events(s, "new", 10);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d2, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 110);
}

/* `serve --replace` on @d's socket and data directory, to its end */
static int
serve_replace(TldrsTestDaemon *d, char **err)
{
	return tldrs_test_cli(d,
	                      NULL,
	                      err,
	                      "serve",
	                      "--replace",
	                      "--socket",
	                      d->socket_path,
	                      "-d",
	                      d->data_dir,
	                      NULL);
}

/* a process that is not alive as a zombie or otherwise: it was not signalled */
static gboolean
process_running(GPid pid)
{
	g_autofree char *fn = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree char *stat = NULL;
	const char *p;
	if (!g_file_get_contents(fn, &stat, NULL, NULL))
		return FALSE;
	p = strrchr(stat, ')');
	return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

static GSubprocess *
spawn_sleeper(TldrsTestDaemon *d)
{
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(d->tmpdir);
	g_autoptr(GError) error = NULL;
	GSubprocess *p = g_subprocess_launcher_spawn(l, &error, "sleep", "600", NULL);
	g_assert_no_error(error);
	return p;
}

/* the lock file names a process that does not hold the lock: it is not signalled */
static void
test_replace_forged_pid(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *lock = g_build_filename(d->data_dir, ".tldrs.lock", NULL);
	g_autoptr(GSubprocess) victim = spawn_sleeper(d);
	g_autofree char *pid = g_strdup_printf("%s\n", g_subprocess_get_identifier(victim));
	g_autofree char *err = NULL;
	int fd;

	g_assert_cmpint(g_mkdir_with_parents(d->data_dir, 0700), ==, 0);
	fd = g_open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(flock(fd, LOCK_EX | LOCK_NB), ==, 0);
	g_assert_cmpint(write(fd, pid, strlen(pid)), ==, (gssize)strlen(pid));

	g_assert_cmpint(serve_replace(d, &err), ==, 1);
	g_assert_nonnull(strstr(err, "is not the one it names"));
	g_assert_nonnull(strstr(err, "not replacing it"));
	g_assert_true(process_running(atoi(g_subprocess_get_identifier(victim))));
	g_assert_false(g_file_test(d->socket_path, G_FILE_TEST_EXISTS));
	close(fd);
	g_subprocess_force_exit(victim);
	g_subprocess_wait(victim, NULL, NULL);
}

/* as root: a data directory held by another user's daemon is never taken over, whatever its
 * lock file says */
static void
test_replace_other_user(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *lock = g_build_filename(d->data_dir, ".tldrs.lock", NULL);
	g_autofree char *err = NULL;
	int ready[2];
	char c;
	pid_t pid;
	int status = 0;

	if (getuid() != 0) {
		g_test_skip("needs root to run a process as another user");
		return;
	}
	g_assert_cmpint(g_mkdir_with_parents(d->data_dir, 0777), ==, 0);
	g_chmod(d->tmpdir, 0755);
	g_chmod(d->data_dir, 0777);
	g_assert_cmpint(pipe(ready), ==, 0);
	pid = fork();
	if (pid == 0) {
		/* another user's daemon, as far as the lock shows: it holds it, its pid inside */
		g_autofree char *text = g_strdup_printf("%d\n", (int)getpid());
		int fd;
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(3);
		/* after setuid(), which clears it */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || flock(fd, LOCK_EX) != 0 || write(fd, text, strlen(text)) < 0)
			_exit(4);
		if (write(ready[1], "r", 1) != 1)
			_exit(5);
		pause();
		_exit(0);
	}
	close(ready[1]);
	g_assert_cmpint(read(ready[0], &c, 1), ==, 1);
	close(ready[0]);
	/* the lock is made: the directory is the user's own again (a daemon refuses one that
	 * others may write) */
	g_chmod(d->data_dir, 0700);

	g_assert_cmpint(serve_replace(d, &err), ==, 1);
	g_assert_nonnull(strstr(err, "not replacing it"));
	g_assert_true(process_running(pid));
	kill(pid, SIGKILL);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFSIGNALED(status));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/data-dir-lock/replace-without-bus", test_replace_without_bus);
	g_test_add_func("/tldrs/data-dir-lock/replace-forged-pid", test_replace_forged_pid);
	g_test_add_func("/tldrs/data-dir-lock/replace-other-user", test_replace_other_user);
	return g_test_run();
}
