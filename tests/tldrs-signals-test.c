/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The signals of the real daemon: SIGQUIT stops it in order like SIGTERM, SIGHUP reloads the
 * configuration (and is what a foreground daemon gets when its terminal closes), SIGUSR1
 * flushes, SIGUSR2 and SIGALRM are ignored; none of them loses an event. */

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "tldrs-test-util.h"

/* @path has @n lines, within @timeout_ms */
static gboolean
wait_lines(const char *path, guint n, guint timeout_ms)
{
	for (guint waited = 0; waited <= timeout_ms; waited += 10) {
		if (tldrs_test_count_lines(path) >= n)
			return TRUE;
		g_usleep(10000);
	}
	return FALSE;
}

/* a daemon that flushes only when asked to: what a signal would lose is still in memory */
static TldrsTestDaemon *
start_slow_flushing(void)
{
	TldrsTestDaemon *d = tldrs_test_daemon_new();
	g_autofree char *conf = tldrs_test_write_config(d, "[Daemon]\nFlushIntervalSec=3600\n");
	const char *args[] = {"--config", conf, NULL};
	tldrs_test_daemon_start(d, args);
	return d;
}

static int
daemon_pid(TldrsTestDaemon *d)
{
	return atoi(g_subprocess_get_identifier(d->proc));
}

/* SIGQUIT: the orderly shutdown of SIGTERM, EMIT_TEF_AT_EXIT written */
static void
test_sigquit(void)
{
	g_autoptr(TldrsTestDaemon) d = start_slow_flushing();
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-quit");
	g_autofree char *tef = g_build_filename(d->tmpdir, "quit.json", NULL);
	g_autofree char *cmd = g_strdup_printf("EMIT_TEF_AT_EXIT %s\n", tef);
	g_autofree char *log = NULL;
	g_autoptr(JsonNode) root = NULL;
	GSocket *s = tldrs_test_connect(d->socket_path);

	tldrs_test_send(s, "OPEN tr-quit\n");
	tldrs_test_send(s, cmd);
	tldrs_test_send_events(s, "q", 100);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGQUIT), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 100);
	root = tldrs_test_load_tef(tef);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 100);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "shutting down: signal received (SIGQUIT from pid"));
	g_assert_nonnull(strstr(log, "stopped"));
	tldrs_test_close(s);
}

/* SIGUSR2 and SIGALRM are ignored, SIGUSR1 flushes every trace */
static void
test_ignored_and_flush(void)
{
	g_autoptr(TldrsTestDaemon) d = start_slow_flushing();
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-usr");
	GSocket *s = tldrs_test_connect(d->socket_path);
	const int ignored[] = {SIGUSR2, SIGALRM};
	const char *names[] = {"SIGUSR2", "SIGALRM"};

	tldrs_test_send(s, "OPEN tr-usr\n");
	tldrs_test_send_events(s, "a", 50);
	for (guint i = 0; i < G_N_ELEMENTS(ignored); i++) {
		g_autofree char *line =
		        g_strdup_printf("%s from pid %d: ignored", names[i], getpid());
		g_assert_cmpint(kill(daemon_pid(d), ignored[i]), ==, 0);
		g_assert_true(tldrs_test_daemon_wait_log(d, line, 10000));
	}
	/* still serving: what was sent before and after is stored once asked for */
	tldrs_test_send_events(s, "b", 50);
	g_assert_cmpint(kill(daemon_pid(d), SIGUSR1), ==, 0);
	g_assert_true(wait_lines(fn, 100, 10000));
	g_assert_true(tldrs_test_daemon_wait_log(d, "SIGUSR1 from pid", 1000));
	tldrs_test_send_events(s, "c", 50);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 150);
	tldrs_test_close(s);
}

/* SIGHUP reads the config file again: FlushIntervalSec, MaxClients, ExitIdleSec and
 * [Retention] change at once; a wrong file keeps the current settings; what needs a restart
 * is said */
static void
test_sighup_reload(void)
{
	g_autoptr(TldrsTestDaemon) d = start_slow_flushing();
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-hup");
	g_autofree char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);
	g_autofree char *bad = NULL;
	g_autofree char *log = NULL;
	GSocket *s = tldrs_test_connect(d->socket_path);
	GSocket *s2;

	tldrs_test_send(s, "OPEN tr-hup\n");
	tldrs_test_send_events(s, "a", 20);
	/* the client is in before MaxClients=1 (the probe of tldrs_test_daemon_start() may not
	 * have left yet) */
	g_assert_true(tldrs_test_daemon_wait_log(d, ": trace tr-hup", 10000));
	/* a faster flush and one client at most: the events arrive without any other cause */
	g_free(tldrs_test_write_config(d, "[Daemon]\nFlushIntervalSec=0.05\nMaxClients=1\n"));
	g_assert_cmpint(kill(daemon_pid(d), SIGHUP), ==, 0);
	g_assert_true(tldrs_test_daemon_wait_log(d, "configuration reloaded from", 10000));
	g_assert_true(wait_lines(fn, 20, 10000));
	s2 = tldrs_test_connect(d->socket_path);
	g_assert_true(tldrs_test_daemon_wait_log(d, "MaxClients=1 clients connected", 10000));
	tldrs_test_close(s2);

	/* a wrong file: one line naming file, group and key; the settings stay */
	g_free(tldrs_test_write_config(d, "[Daemon]\nFlushIntervalSec=soon\n"));
	g_assert_cmpint(kill(daemon_pid(d), SIGHUP), ==, 0);
	bad = g_strdup_printf("configuration not reloaded, keeping the current settings: %s: "
	                      "[Daemon] FlushIntervalSec: expected",
	                      conf);
	g_assert_true(tldrs_test_daemon_wait_log(d, bad, 10000));
	tldrs_test_send_events(s, "b", 20);
	g_assert_true(wait_lines(fn, 40, 10000));

	/* a setting that needs a restart is named, and the rest applies */
	g_free(tldrs_test_write_config(d, "[Daemon]\nFlushIntervalSec=0.05\nMaxLineBytes=4096\n"));
	g_assert_cmpint(kill(daemon_pid(d), SIGHUP), ==, 0);
	g_assert_true(tldrs_test_daemon_wait_log(
	        d, "taking effect only when the daemon restarts: [Daemon] MaxLineBytes", 10000));
	s2 = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s2, "OPEN tr-hup\n");
	tldrs_test_send_events(s2, "c", 20);
	tldrs_test_close(s2);
	g_assert_true(wait_lines(fn, 60, 10000));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 60);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "stopped"));
	tldrs_test_close(s);
}

/* the child: a session of its own whose controlling terminal is the pty's other side */
static void
pty_child_setup(gpointer user_data)
{
	const char *name = user_data;
	int fd;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	setsid();
	fd = open(name, O_RDWR);
	if (fd < 0)
		_exit(97);
	ioctl(fd, TIOCSCTTY, 0);
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* a foreground `tldrs serve` whose terminal closes (the kernel sends SIGHUP) loses nothing
 * and goes on serving */
static void
test_terminal_hangup(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *conf = tldrs_test_write_config(d, "[Daemon]\nFlushIntervalSec=3600\n");
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-tty");
	g_autofree char *log = NULL;
	char *slave;
	int master;
	GSocket *s;
	GSocket *s2;
	const char *args[] = {"--config", conf, NULL};

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	g_assert_cmpint(master, >=, 0);
	g_assert_cmpint(grantpt(master), ==, 0);
	g_assert_cmpint(unlockpt(master), ==, 0);
	slave = g_strdup(ptsname(master));
	tldrs_test_daemon_start_with_setup(d, args, pty_child_setup, slave, g_free);

	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-tty\n");
	tldrs_test_send_events(s, "before", 100);
	/* only the daemon has the terminal open: closing ours hangs it up */
	g_assert_true(tldrs_test_daemon_wait_log(d, "connection 1 from pid", 10000));
	close(master);
	g_assert_true(tldrs_test_daemon_wait_log(d, "SIGHUP from pid 0", 10000));
	tldrs_test_send_events(s, "after", 100);
	s2 = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s2, "OPEN tr-tty\n");
	tldrs_test_send_events(s2, "new", 100);
	tldrs_test_close(s2);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 300);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "stopped"));
	tldrs_test_close(s);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/signals/sigquit", test_sigquit);
	g_test_add_func("/tldrs/signals/ignored-and-flush", test_ignored_and_flush);
	g_test_add_func("/tldrs/signals/sighup-reload", test_sighup_reload);
	g_test_add_func("/tldrs/signals/terminal-hangup", test_terminal_hangup);
	return g_test_run();
}
