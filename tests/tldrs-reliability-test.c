/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* Reliability and security against the real daemon: other users, resource limits, faults,
 * floods, concurrent emits, and a soak with 200 clients. */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <glib/gstdio.h>

#include "tldrs-test-util.h"

static char *
event(guint c, guint s, guint n)
{
	return g_strdup_printf("{\"c\":%u,\"s\":%u,\"n\":%u,\"ph\":\"i\",\"name\":\"e\",\"ts\":%u,"
	                       "\"pid\":%u,\"tid\":0}\n",
	                       c,
	                       s,
	                       n,
	                       n,
	                       c + 1);
}

/* a daemon started with resource limits set in the child */
static struct rlimit child_nofile;
static struct rlimit child_fsize;

static void
limits_setup(gpointer user_data)
{
	/* a failed test never leaves a daemon behind */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (child_nofile.rlim_max != 0)
		setrlimit(RLIMIT_NOFILE, &child_nofile);
	if (child_fsize.rlim_max != 0)
		setrlimit(RLIMIT_FSIZE, &child_fsize);
}

/* the daemon's /proc/PID/limits once they match @pattern (the daemon sets them as it starts,
 * maybe not yet when it is spawned, as under ASan), or as they are after 10 s */
static char *
wait_limits(const char *limits_path, const char *pattern)
{
	char *limits = NULL;
	for (guint i = 0; i < 1000; i++) {
		g_clear_pointer(&limits, g_free);
		g_file_get_contents(limits_path, &limits, NULL, NULL);
		if (limits != NULL && g_regex_match_simple(pattern, limits, 0, 0))
			break;
		g_usleep(10000);
	}
	return limits;
}

static GSubprocess *
spawn_limited(TldrsTestDaemon *d, const char *config_text)
{
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(d->tmpdir);
	g_autofree char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);
	g_autoptr(GError) error = NULL;
	GSubprocess *p;

	g_file_set_contents(conf, config_text != NULL ? config_text : "", -1, NULL);
	g_subprocess_launcher_set_child_setup(l, limits_setup, NULL, NULL);
	g_subprocess_launcher_set_flags(l, G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_subprocess_launcher_set_stderr_file_path(l, d->log_path);
	p = g_subprocess_launcher_spawn(l,
	                                &error,
	                                g_getenv("TLDRS_BIN"),
	                                "serve",
	                                "-v",
	                                "--config",
	                                conf,
	                                "--socket",
	                                d->socket_path,
	                                "-d",
	                                d->data_dir,
	                                NULL);
	g_assert_no_error(error);
	for (guint i = 0; i < 500 && !tldrs_test_socket_ready(d->socket_path); i++)
		g_usleep(10000);
	g_assert_true(tldrs_test_socket_ready(d->socket_path));
	d->proc = g_object_ref(p);
	return p;
}

/* prlimit(1) sets and lifts the daemon's RLIMIT_FSIZE; without it the test is skipped */
static gboolean
have_prlimit(void)
{
	if (tldrs_test_have_program("prlimit"))
		return TRUE;
	g_test_skip("prlimit (util-linux) is not installed");
	return FALSE;
}

/* lines "{"c":C,"s":S,"n":N,...}": each (c,s) sequence complete, once, in order */
static guint
check_sequences(const char *path, GHashTable *expected)
{
	g_autofree char *contents = NULL;
	g_autoptr(GHashTable) next = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GHashTableIter iter;
	gpointer key, value;
	char *p;
	guint total = 0;

	if (!g_file_get_contents(path, &contents, NULL, NULL))
		return 0;
	for (p = contents; *p != '\0';) {
		char *nl = strchr(p, '\n');
		guint c, s, n;
		g_autofree char *k = NULL;
		g_assert_nonnull(nl);
		g_assert_true(g_str_has_prefix(p, "{\"c\":"));
		c = (guint)strtoul(p + 5, &p, 10);
		g_assert_true(g_str_has_prefix(p, ",\"s\":"));
		s = (guint)strtoul(p + 5, &p, 10);
		g_assert_true(g_str_has_prefix(p, ",\"n\":"));
		n = (guint)strtoul(p + 5, NULL, 10);
		k = g_strdup_printf("%u/%u", c, s);
		g_assert_cmpuint(n, ==, GPOINTER_TO_UINT(g_hash_table_lookup(next, k)));
		g_hash_table_insert(next, g_steal_pointer(&k), GUINT_TO_POINTER(n + 1));
		total++;
		p = nl + 1;
	}
	if (expected != NULL) {
		g_hash_table_iter_init(&iter, expected);
		while (g_hash_table_iter_next(&iter, &key, &value))
			g_assert_cmpuint(GPOINTER_TO_UINT(g_hash_table_lookup(next, key)),
			                 ==,
			                 GPOINTER_TO_UINT(value));
	}
	return total;
}

/* a client that sends @n whole events to trace @id and hangs up is served: they are all
 * stored */
static void
assert_client_served(TldrsTestDaemon *d, const char *id, guint client, guint n)
{
	g_autofree char *fn = tldrs_test_trace_file(d, id);
	g_autofree char *open = g_strdup_printf("OPEN %s\n", id);
	GSocket *s = tldrs_test_connect(d->socket_path);

	tldrs_test_send(s, open);
	for (guint i = 0; i < n; i++) {
		g_autofree char *e = event(client, 0, i);
		tldrs_test_send(s, e);
	}
	tldrs_test_close(s);
	for (guint i = 0; i < 1000 && tldrs_test_count_lines(fn) < n; i++)
		g_usleep(10000);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, n);
}

/* the socket is owner-only, and a connection from another uid is refused */
static void
test_other_user(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *log = NULL;
	GStatBuf sb;
	pid_t pid;
	int status = 0;

	g_assert_cmpint(g_stat(d->socket_path, &sb), ==, 0);
	g_assert_cmpint(sb.st_mode & 0777, ==, 0600);
	if (getuid() != 0) {
		g_test_skip("needs root to connect as another user");
		return;
	}
	/* a socket made reachable by mistake: the credentials check still refuses */
	g_chmod(d->tmpdir, 0755);
	g_chmod(d->socket_path, 0666);
	pid = fork();
	if (pid == 0) {
		const char *msg = "OPEN tr-intruder\nDIE\n";
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int s;
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(3);
		s = socket(AF_UNIX, SOCK_STREAM, 0);
		strncpy(sa.sun_path, d->socket_path, sizeof(sa.sun_path) - 1);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			_exit(4);
		if (write(s, msg, strlen(msg)) < 0)
			_exit(0);
		close(s);
		_exit(0);
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	/* DIE from another user did nothing: its connection was refused, never read */
	g_assert_true(tldrs_test_daemon_wait_log(d, "refused a connection from uid 65534", 5000));
	g_assert_nonnull(g_subprocess_get_identifier(d->proc));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "refused a connection from uid 65534"));
	g_assert_null(strstr(log, "DIE received"));
	g_assert_nonnull(strstr(log, "shutting down: signal received"));
}

/* RLIMIT_NOFILE raised to the hard limit; near it, accepting pauses instead of failing */
static void
test_file_descriptors(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GHashTable) expected =
	        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *limits = NULL;
	g_autofree char *limits_path = NULL;
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-fd");
	g_autofree char *log = NULL;
	GSocket *socks[150];

	child_nofile = (struct rlimit){64, 160};
	p = spawn_limited(d, NULL);
	child_nofile = (struct rlimit){0, 0};
	limits_path = g_strdup_printf("/proc/%s/limits", g_subprocess_get_identifier(p));
	limits = wait_limits(limits_path, "Max open files +160 +160 ");
	g_assert_true(g_regex_match_simple("Max open files +160 +160 ", limits, 0, 0));

	/* more clients than file descriptors: the daemon pauses, they wait, nothing lost */
	for (guint i = 0; i < G_N_ELEMENTS(socks); i++) {
		g_autofree char *e = event(i, 0, 0);
		socks[i] = tldrs_test_connect(d->socket_path);
		tldrs_test_send(socks[i], "OPEN tr-fd\n");
		tldrs_test_send(socks[i], e);
		g_hash_table_insert(expected, g_strdup_printf("%u/0", i), GUINT_TO_POINTER(1));
	}
	/* it reached its limit and paused, and is still there */
	g_assert_true(
	        tldrs_test_daemon_wait_log(d, "not accepting new connections for now", 10000));
	g_assert_nonnull(g_subprocess_get_identifier(p));
	for (guint i = 0; i < G_N_ELEMENTS(socks); i++)
		tldrs_test_close(socks[i]);
	for (guint i = 0; i < 500 && tldrs_test_count_lines(fn) < 150; i++)
		g_usleep(10000);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(check_sequences(fn, expected), ==, 150);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "not accepting new connections for now"));
	g_assert_nonnull(strstr(log, "accepting connections again"));
}

static guint
count_fds(GSubprocess *p)
{
	g_autofree char *path = g_strdup_printf("/proc/%s/fd", g_subprocess_get_identifier(p));
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	guint n = 0;
	while (dir != NULL && g_dir_read_name(dir) != NULL)
		n++;
	return n;
}

/* a connection opening trace after trace cannot use up the daemon's file descriptors:
 * a trace whose last client left is closed at once when slots run short, and open
 * traces are capped (a quarter of the descriptors, at least 64) */
static void
test_open_flood(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GString) flood = g_string_new(NULL);
	g_autofree char *log = NULL;
	GSocket *s;
	GSocket *holders[120];
	guint flood_files = 0;

	child_nofile = (struct rlimit){400, 400};
	p = spawn_limited(d, NULL);
	child_nofile = (struct rlimit){0, 0};
	for (guint i = 0; i < 1000; i++) {
		g_autofree char *e = event(0, i, 0);
		g_string_append_printf(flood, "OPEN tr-flood-%u\n%s", i, e);
	}
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send_len(s, flood->str, flood->len);
	/* another client is served, and the flood holds few files */
	assert_client_served(d, "tr-other", 1, 10);
	g_assert_cmpuint(count_fds(p), <, 40);
	tldrs_test_close(s);
	/* every trace of the flood gets its file (waited for: the daemon may still be at it) */
	for (guint i = 0; i < 1000 && flood_files < 1000; i++) {
		g_autoptr(GDir) dir = NULL;
		if (i > 0)
			g_usleep(10000);
		flood_files = 0;
		dir = g_dir_open(d->data_dir, 0, NULL);
		for (const char *n = g_dir_read_name(dir); n != NULL; n = g_dir_read_name(dir))
			flood_files += g_str_has_prefix(n, "tr-flood-");
	}
	g_assert_cmpuint(flood_files, ==, 1000);

	/* more traces held open than the cap: the ones beyond are refused */
	for (guint i = 0; i < G_N_ELEMENTS(holders); i++) {
		g_autofree char *open = g_strdup_printf("OPEN tr-held-%u\n", i);
		holders[i] = tldrs_test_connect(d->socket_path);
		tldrs_test_send(holders[i], open);
	}
	g_assert_true(tldrs_test_daemon_wait_log(d, "too many traces open at once", 10000));
	for (guint i = 0; i < G_N_ELEMENTS(holders); i++)
		tldrs_test_close(holders[i]);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "too many traces open at once"));
}

/* MaxClients: the extra connections are closed with a clear log line */
static void
test_max_clients(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	/* held until the end: the daemon under test */
	g_autoptr(GSubprocess) p G_GNUC_UNUSED = spawn_limited(d, "[Daemon]\nMaxClients=5\n");
	g_autofree char *log = NULL;
	GSocket *socks[8];
	guint closed = 0;

	for (guint i = 0; i < G_N_ELEMENTS(socks); i++) {
		socks[i] = tldrs_test_connect(d->socket_path);
		g_usleep(20000);
	}
	/* the three beyond MaxClients were refused */
	g_assert_true(
	        tldrs_test_daemon_wait_log_count(d, "MaxClients=5 clients connected", 3, 10000));
	for (guint i = 0; i < G_N_ELEMENTS(socks); i++) {
		char c;
		g_socket_set_blocking(socks[i], FALSE);
		/* the daemon never writes: EOF means it closed the connection */
		if (g_socket_receive(socks[i], &c, 1, NULL, NULL) == 0)
			closed++;
		tldrs_test_close(socks[i]);
	}
	g_assert_cmpuint(closed, ==, 3);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "MaxClients=5 clients connected"));
}

/* thousands of idle connections: the default MaxClients follows the open-files limit (raised
 * to the hard limit by the daemon itself), so a new client is still served */
static void
test_many_clients(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GSubprocess) p = NULL;
	g_autofree char *limits = NULL;
	g_autofree char *limits_path = NULL;
	g_autofree char *want = NULL;
	g_autofree char *log = NULL;
	const guint n_idle = 5000;
	GSocket **idle;
	struct rlimit rl;

	/* this process holds the idle connections too */
	g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &rl), ==, 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * n_idle + 200) {
		g_autofree char *msg =
		        g_strdup_printf("the hard open-files limit (%llu) is below %u",
		                        (unsigned long long)rl.rlim_max,
		                        2 * n_idle + 200);
		g_test_skip(msg);
		return;
	}
	rl.rlim_cur = rl.rlim_max;
	g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &rl), ==, 0);

	/* the daemon starts with a low soft limit: it raises it itself */
	child_nofile = (struct rlimit){1024, rl.rlim_max};
	p = spawn_limited(d, NULL);
	child_nofile = (struct rlimit){0, 0};
	limits_path = g_strdup_printf("/proc/%s/limits", g_subprocess_get_identifier(p));
	/* it raises its soft limit to the hard one as it starts */
	limits = wait_limits(limits_path, "Max open files +(\\d+) +\\1 ");
	g_assert_true(g_regex_match_simple("Max open files +(\\d+) +\\1 ", limits, 0, 0));
	if (rl.rlim_max != RLIM_INFINITY) {
		want = g_strdup_printf("MaxClients=%llu (half the limit of",
		                       (unsigned long long)MIN(rl.rlim_max / 2, 1000000));
		g_assert_true(tldrs_test_daemon_wait_log(d, want, 10000));
	}

	idle = g_new0(GSocket *, n_idle);
	for (guint i = 0; i < n_idle; i++) {
		idle[i] = tldrs_test_connect(d->socket_path);
		tldrs_test_send(idle[i], "OPEN tr-idle\n");
	}
	/* a new client, behind them all */
	assert_client_served(d, "tr-new", 0, 10);
	for (guint i = 0; i < n_idle; i++)
		tldrs_test_close(idle[i]);
	g_free(idle);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	log = tldrs_test_daemon_log(d);
	g_assert_null(strstr(log, "refused a connection"));
}

/* clients that connect, send everything and hang up before the daemon accepts them (it is
 * stopped meanwhile) are read at once when accepted, a last line without '\n' included;
 * clients that connected then but send only afterwards are read as usual: every event
 * stored, once, in each client's order */
static void
test_burst_before_accept(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GSubprocess) p = spawn_limited(d, NULL);
	g_autoptr(GHashTable) expected =
	        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-burst");
	const guint n_burst = 200;
	const guint n_late = 10;
	const guint n_events = 20;
	GSocket *late[10];
	pid_t pid = (pid_t)g_ascii_strtoll(g_subprocess_get_identifier(p), NULL, 10);

	g_assert_cmpint(kill(pid, SIGSTOP), ==, 0);
	for (guint c = 0; c < n_burst + n_late; c++) {
		g_autoptr(GString) msg = g_string_new("OPEN tr-burst\n");
		GSocket *sock = tldrs_test_connect(d->socket_path);
		g_hash_table_insert(
		        expected, g_strdup_printf("%u/0", c), GUINT_TO_POINTER(n_events));
		if (c >= n_burst) {
			late[c - n_burst] = sock;
			continue;
		}
		for (guint i = 0; i < n_events; i++)
			g_string_append_printf(msg, "{\"c\":%u,\"s\":0,\"n\":%u}\n", c, i);
		/* every other client's last line has no '\n' */
		if (c % 2 == 1)
			g_string_truncate(msg, msg->len - 1);
		tldrs_test_send(sock, msg->str);
		tldrs_test_close(sock);
	}
	g_assert_cmpint(kill(pid, SIGCONT), ==, 0);
	for (guint c = 0; c < n_late; c++) {
		g_autoptr(GString) msg = g_string_new("OPEN tr-burst\n");
		for (guint i = 0; i < n_events; i++)
			g_string_append_printf(
			        msg, "{\"c\":%u,\"s\":0,\"n\":%u}\n", n_burst + c, i);
		tldrs_test_send(late[c], msg->str);
		tldrs_test_close(late[c]);
	}
	for (guint i = 0; i < 3000 && tldrs_test_count_lines(fn) < (n_burst + n_late) * n_events;
	     i++)
		g_usleep(10000);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(check_sequences(fn, expected), ==, (n_burst + n_late) * n_events);
}

typedef struct {
	TldrsTestDaemon *d;
	guint client;
	gsize head;
	GMutex *lock;
	GCond *cond;
	gboolean *go;
	guint *sent; /* heads sent */
} Halfliner;

/* OPEN, an event, and the first @head bytes of a long event; once told to, the rest of it
 * and more events */
static gpointer
halfliner_thread(gpointer data)
{
	Halfliner *h = data;
	GSocket *s = tldrs_test_connect(h->d->socket_path);
	g_autoptr(GString) buf = g_string_new("OPEN tr-partial\n");
	g_autofree char *e0 = event(h->client, 0, 0);

	/* a client the daemon never reads again fails the test instead of hanging it */
	g_socket_set_timeout(s, 60);
	g_string_append(buf, e0);
	g_string_append_printf(buf, "{\"c\":%u,\"s\":0,\"n\":1,\"pad\":\"", h->client);
	while (buf->len < h->head)
		g_string_append_c(buf, 'a' + h->client % 26);
	tldrs_test_send_len(s, buf->str, buf->len);
	g_mutex_lock(h->lock);
	(*h->sent)++;
	g_cond_broadcast(h->cond);
	while (!*h->go)
		g_cond_wait(h->cond, h->lock);
	g_mutex_unlock(h->lock);
	g_string_truncate(buf, 0);
	for (guint i = 0; i < 100000; i++)
		g_string_append_c(buf, 'z');
	g_string_append(buf, "\"}\n");
	for (guint n = 2; n < 10; n++) {
		g_autofree char *e = event(h->client, 0, n);
		g_string_append(buf, e);
	}
	tldrs_test_send_len(s, buf->str, buf->len);
	tldrs_test_close(s);
	return NULL;
}

/* MaxIncompleteLinesBytes: many connections each holding part of a long line cannot take
 * more than about the budget; the ones holding the most wait, others are still served, and
 * every line completes, in order, once its client sends the rest, even while stuck
 * connections keep the total over the budget */
static void
test_incomplete_lines(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	/* held for its cleanup: the daemon runs until the test ends */
	g_autoptr(GSubprocess) p G_GNUC_UNUSED = spawn_limited(
	        d, "[Daemon]\nMaxIncompleteLinesBytes=1048576\nMaxLineBytes=1048576\n");
	g_autoptr(GHashTable) expected =
	        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-partial");
	g_autofree char *log = NULL;
	const char *peak;
	Halfliner h[16];
	GThread *threads[G_N_ELEMENTS(h)];
	GMutex lock;
	GCond cond;
	gboolean go = FALSE;
	gboolean stuck_go = FALSE;
	guint sent = 0;
	const guint n_stuck = 6;

	g_mutex_init(&lock);
	g_cond_init(&cond);
	/* first six connections that stop in the middle of a line until the end, 600 KiB in
	 * all, more than half the budget of 1 MiB: the daemon cannot wait for the total to go
	 * down. The daemon reads each in one read */
	for (guint i = 0; i < n_stuck; i++) {
		h[i] = (Halfliner){d, i, 100 * 1024, &lock, &cond, &stuck_go, &sent};
		threads[i] = g_thread_new("halfliner", halfliner_thread, &h[i]);
	}
	g_mutex_lock(&lock);
	while (sent < n_stuck)
		g_cond_wait(&cond, &lock);
	g_mutex_unlock(&lock);
	{
		g_autofree char *probe_fn = tldrs_test_trace_file(d, "tr-probe");
		g_autofree char *e = event(200, 0, 0);
		GSocket *probe = tldrs_test_connect(d->socket_path);
		tldrs_test_send(probe, "OPEN tr-probe\n");
		tldrs_test_send(probe, e);
		tldrs_test_close(probe);
		for (guint i = 0; i < 1000 && tldrs_test_count_lines(probe_fn) < 1; i++)
			g_usleep(10000);
		g_assert_cmpuint(tldrs_test_count_lines(probe_fn), ==, 1);
	}
	/* then ten with 400 KiB of a line each */
	for (guint i = n_stuck; i < G_N_ELEMENTS(h); i++) {
		h[i] = (Halfliner){d, i, 400 * 1024, &lock, &cond, &go, &sent};
		threads[i] = g_thread_new("halfliner", halfliner_thread, &h[i]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(h); i++)
		g_hash_table_insert(expected, g_strdup_printf("%u/0", i), GUINT_TO_POINTER(10));
	g_assert_true(tldrs_test_daemon_wait_log(
	        d, "over MaxIncompleteLinesBytes=1048576: not reading the", 20000));

	/* the budget is reached and held: a client that sends whole lines is served */
	assert_client_served(d, "tr-small", 100, 10);

	/* the rest of the long lines but the stuck ones: they complete, although the stuck
	 * ones keep the total over the budget */
	g_mutex_lock(&lock);
	go = TRUE;
	g_cond_broadcast(&cond);
	g_mutex_unlock(&lock);
	for (guint i = n_stuck; i < G_N_ELEMENTS(h); i++)
		g_thread_join(threads[i]);
	for (guint i = 0;
	     i < 2000 && tldrs_test_count_lines(fn) < 10 * (G_N_ELEMENTS(h) - n_stuck) + n_stuck;
	     i++)
		g_usleep(10000);
	g_assert_cmpuint(
	        tldrs_test_count_lines(fn), ==, 10 * (G_N_ELEMENTS(h) - n_stuck) + n_stuck);
	/* and the stuck ones too, once they go on */
	g_mutex_lock(&lock);
	stuck_go = TRUE;
	g_cond_broadcast(&cond);
	g_mutex_unlock(&lock);
	for (guint i = 0; i < n_stuck; i++)
		g_thread_join(threads[i]);
	g_assert_true(tldrs_test_daemon_wait_log(d, "): reading every connection again", 20000));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(check_sequences(fn, expected), ==, 10 * G_N_ELEMENTS(h));
	log = tldrs_test_daemon_log(d);
	/* never much over the budget: 1 MiB, twice MaxLineBytes (1 MiB) for the connections
	 * made to finish their lines, a 4 KiB read per connection and one full read (without
	 * the budget: 4.6 MiB) */
	peak = strstr(log, "bytes (at most ");
	g_assert_nonnull(peak);
	for (; peak != NULL; peak = strstr(peak + 1, "bytes (at most ")) {
		guint64 bytes = g_ascii_strtoull(peak + strlen("bytes (at most "), NULL, 10);
		g_test_message("incomplete lines took at most %" G_GUINT64_FORMAT " bytes", bytes);
		g_assert_cmpuint(bytes, <=, (3 * 1024 + 17 * 4 + 256) * 1024);
	}
	g_mutex_clear(&lock);
	g_cond_clear(&cond);
}

/* MaxIncompleteLinesBytes holds however many connections are read at once: 200 connections
 * each send 60,000 bytes of a line at once, and finish it later; the daemon's reported peak
 * of incomplete lines stays under the documented bound (the budget, twice MaxLineBytes and
 * 4 KiB per connection), although the threads that read connections could have read all
 * 12 MB ahead */
static void
test_incomplete_lines_many(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GSubprocess) p G_GNUC_UNUSED =
	        spawn_limited(d, "[Daemon]\nMaxIncompleteLinesBytes=1048576\nMaxLineBytes=65536\n");
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-many");
	g_autofree char *head = NULL;
	g_autofree char *log = NULL;
	const guint n = 200;
	const guint64 bound = 1048576 + 2 * 65536 + (guint64)n * 4096;
	GSocket *socks[200];
	const char *peak;
	guint peaks = 0;

	{
		g_autoptr(GString) h = g_string_new("OPEN tr-many\n{\"c\":0,\"pad\":\"");
		for (guint i = 0; i < 60000; i++)
			g_string_append_c(h, 'x');
		head = g_string_free(g_steal_pointer(&h), FALSE);
	}
	for (guint i = 0; i < n; i++)
		socks[i] = tldrs_test_connect(d->socket_path);
	for (guint i = 0; i < n; i++)
		tldrs_test_send(socks[i], head);
	g_assert_true(tldrs_test_daemon_wait_log(
	        d, "over MaxIncompleteLinesBytes=1048576: not reading the", 20000));
	/* the daemon has gone on since: a client that sends whole lines is served */
	assert_client_served(d, "tr-small", 300, 10);
	for (guint i = 0; i < n; i++) {
		tldrs_test_send(socks[i], "\"}\n");
		tldrs_test_close(socks[i]);
	}
	for (guint i = 0; i < 3000 && tldrs_test_count_lines(fn) < n; i++)
		g_usleep(10000);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, n);
	g_assert_true(tldrs_test_daemon_wait_log(d, "): reading every connection again", 20000));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	log = tldrs_test_daemon_log(d);
	for (peak = strstr(log, "bytes (at most "); peak != NULL;
	     peak = strstr(peak + 1, "bytes (at most ")) {
		guint64 bytes = g_ascii_strtoull(peak + strlen("bytes (at most "), NULL, 10);
		g_test_message("incomplete lines took at most %" G_GUINT64_FORMAT " bytes", bytes);
		g_assert_cmpuint(bytes, <=, bound);
		peaks++;
	}
	g_assert_cmpuint(peaks, >, 0);
}

/* a write error (here a file size limit, like a full disk): logged once, kept, retried;
 * the daemon keeps serving and stores everything once the fault clears */
static void
test_write_fault(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GSubprocess) p = NULL;
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-full");
	g_autoptr(GString) buf = g_string_new("OPEN tr-full\n");
	g_autoptr(GHashTable) expected =
	        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *log = NULL;
	g_autofree char *cmd = NULL;
	GSocket *s;
	int status = 0;
	GStatBuf sb;

	if (!have_prlimit())
		return;
	child_fsize = (struct rlimit){20000, RLIM_INFINITY};
	p = spawn_limited(d, "[Daemon]\nFlushIntervalSec=0.1\n");
	child_fsize = (struct rlimit){0, 0};
	s = tldrs_test_connect(d->socket_path);
	for (guint i = 0; i < 3000; i++) {
		g_autofree char *e = event(0, 0, i);
		g_string_append(buf, e);
	}
	tldrs_test_send_len(s, buf->str, buf->len);
	g_assert_true(tldrs_test_daemon_wait_log(d, "File too large", 10000));
	/* only whole lines in the file, and the daemon still serves */
	g_assert_cmpint(g_stat(fn, &sb), ==, 0);
	g_assert_cmpint(sb.st_size, <=, 20000);
	check_sequences(fn, NULL);
	g_assert_true(tldrs_test_socket_ready(d->socket_path));
	/* the fault clears */
	cmd = g_strdup_printf("prlimit --pid %s --fsize=unlimited", g_subprocess_get_identifier(p));
	g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL);
	g_assert_cmpint(status, ==, 0);
	for (guint i = 0; i < 500 && tldrs_test_count_lines(fn) < 3000; i++)
		g_usleep(10000);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_hash_table_insert(expected, g_strdup("0/0"), GUINT_TO_POINTER(3000));
	g_assert_cmpuint(check_sequences(fn, expected), ==, 3000);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "File too large"));
	g_assert_nonnull(strstr(log, "works again"));
	/* logged once, not once per retry */
	g_assert_null(strstr(strstr(log, "File too large") + 1, "File too large"));
}

/* an event of client @c with 160 random hex digits: gzip does not make it much smaller */
static char *
noisy_event(GRand *rand, guint c, guint n)
{
	GString *e = g_string_new(NULL);
	g_string_append_printf(e,
	                       "{\"c\":%u,\"s\":0,\"n\":%u,\"ph\":\"i\",\"name\":\"e\","
	                       "\"ts\":%u,\"pid\":%u,\"tid\":0,\"args\":{\"r\":\"",
	                       c,
	                       n,
	                       n,
	                       c + 1);
	for (guint i = 0; i < 20; i++)
		g_string_append_printf(e, "%08x", g_rand_int(rand));
	g_string_append(e, "\"}}\n");
	return g_string_free(e, FALSE);
}

/* OPEN @id, @extra, then @n noisy events of client @c; the bytes of the events */
static gsize
send_noisy(GSocket *s, const char *id, const char *extra, GRand *rand, guint c, guint n)
{
	g_autoptr(GString) buf = g_string_new(NULL);
	gsize len;
	g_string_append_printf(buf, "OPEN %s\n%s", id, extra != NULL ? extra : "");
	len = buf->len;
	for (guint i = 0; i < n; i++) {
		g_autofree char *e = noisy_event(rand, c, i);
		g_string_append(buf, e);
	}
	tldrs_test_send_len(s, buf->str, buf->len);
	return buf->len - len;
}

/* a daemon with the sink @sink that cannot make a file larger than 20000 bytes */
static GSubprocess *
spawn_full_disk(TldrsTestDaemon *d, const char *sink)
{
	g_autofree char *conf = g_strdup_printf("[Daemon]\nFlushIntervalSec=0.1\nSinks=%s\n", sink);
	GSubprocess *p;
	child_fsize = (struct rlimit){20000, RLIM_INFINITY};
	p = spawn_limited(d, conf);
	child_fsize = (struct rlimit){0, 0};
	return p;
}

static void
lift_fsize(GSubprocess *p)
{
	g_autofree char *cmd = g_strdup_printf("prlimit --pid %s --fsize=unlimited",
	                                       g_subprocess_get_identifier(p));
	int status = 0;
	g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL));
	g_assert_cmpint(status, ==, 0);
}

/* the trace's last client leaves while its events cannot be written: the trace is not
 * finished (no EMIT_TEF_AT_EXIT file) but held and retried; a client that opens it again
 * meanwhile adds after them; once the disk has room, all is stored and the TEF file holds
 * every event, in order */
static void
test_full_disk_last_client_leaves(gconstpointer data)
{
	const char *sink = data;
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GRand) rand = g_rand_new_with_seed(16);
	g_autofree char *out = g_build_filename(d->tmpdir, "out.json", NULL);
	g_autofree char *at_exit = g_strdup_printf("EMIT_TEF_AT_EXIT %s\n", out);
	g_autofree char *log = NULL;
	g_autoptr(JsonNode) root = NULL;
	JsonArray *events;
	GSocket *s;
	guint k = 0;

	if (!have_prlimit())
		return;
	p = spawn_full_disk(d, sink);
	s = tldrs_test_connect(d->socket_path);
	send_noisy(s, "tr-left", at_exit, rand, 0, 3000);
	tldrs_test_close(s);
	g_assert_true(tldrs_test_daemon_wait_log(d, "File too large", 10000));
	g_assert_true(tldrs_test_daemon_wait_log(
	        d, "trace tr-left: last client gone, events not stored yet", 10000));
	/* not finished: its TEF file would lack what is not stored */
	g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));

	/* another client opens it meanwhile: its events go after the kept ones */
	s = tldrs_test_connect(d->socket_path);
	send_noisy(s, "tr-left", NULL, rand, 1, 100);
	g_assert_true(tldrs_test_daemon_wait_log(
	        d, "trace tr-left opened again before its events were stored", 10000));
	tldrs_test_close(s);
	g_assert_true(tldrs_test_daemon_wait_log_count(
	        d, "trace tr-left: last client gone, events not stored yet", 2, 10000));
	g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));

	/* the disk has room again: stored, then finished */
	lift_fsize(p);
	g_assert_true(tldrs_test_wait_for_file(out, 20000));
	root = tldrs_test_load_tef(out);
	events = tldrs_test_tef_events(root);
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *e = json_array_get_object_element(events, i);
		if (!json_object_has_member(e, "c"))
			continue;
		g_assert_cmpint(json_object_get_int_member(e, "c"), ==, k < 3000 ? 0 : 1);
		g_assert_cmpint(json_object_get_int_member(e, "n"), ==, k < 3000 ? k : k - 3000);
		k++;
	}
	g_assert_cmpuint(k, ==, 3100);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "works again"));
	g_assert_true(tldrs_test_log_before(log, "works again", "trace tr-left closed"));
	g_assert_null(strstr(log, "lost"));
}

/* the bytes in the daemon's log line "trace ID: events lost, ...: N bytes in sink SINK" */
static guint64
logged_lost_bytes(const char *log, const char *id, const char *sink)
{
	g_autofree char *needle =
	        g_strdup_printf("trace %s: events lost, could not be stored: ", id);
	g_autofree char *tail = g_strdup_printf(" bytes in sink %s", sink);
	const char *p = strstr(log, needle);
	char *end = NULL;
	guint64 n;
	g_assert_nonnull(p);
	n = g_ascii_strtoull(p + strlen(needle), &end, 10);
	g_assert_true(g_str_has_prefix(end, tail));
	/* one line per trace */
	g_assert_null(strstr(p + 1, needle));
	return n;
}

/* SIGTERM while nothing can be written: a last try, then one line per trace with the bytes
 * lost (an open trace and one whose last client left), and exit status 1 */
static void
test_full_disk_sigterm(gconstpointer data)
{
	const char *sink = data;
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GRand) rand = g_rand_new_with_seed(17);
	g_autofree char *log = NULL;
	gsize sent_open, sent_gone;
	GSocket *open, *gone;

	if (!have_prlimit())
		return;
	p = spawn_full_disk(d, sink);
	open = tldrs_test_connect(d->socket_path);
	gone = tldrs_test_connect(d->socket_path);
	sent_open = send_noisy(open, "tr-open", NULL, rand, 0, 1000);
	sent_gone = send_noisy(gone, "tr-gone", NULL, rand, 1, 1000);
	tldrs_test_close(gone);
	g_assert_true(tldrs_test_daemon_wait_log(d, "trace tr-open: sink", 10000));
	g_assert_true(tldrs_test_daemon_wait_log(
	        d, "trace tr-gone: last client gone, events not stored yet", 10000));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 1);
	tldrs_test_close(open);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(
	        strstr(log, "stopped: events of 2 traces could not be stored and are lost"));
	if (g_strcmp0(sink, "jsonl") == 0) {
		/* exactly what is not in the files */
		g_autofree char *fn_open = tldrs_test_trace_file(d, "tr-open");
		g_autofree char *fn_gone = tldrs_test_trace_file(d, "tr-gone");
		GStatBuf sb_open, sb_gone;
		g_assert_cmpint(g_stat(fn_open, &sb_open), ==, 0);
		g_assert_cmpint(g_stat(fn_gone, &sb_gone), ==, 0);
		g_assert_cmpuint(logged_lost_bytes(log, "tr-open", sink),
		                 ==,
		                 sent_open - (gsize)sb_open.st_size);
		g_assert_cmpuint(logged_lost_bytes(log, "tr-gone", sink),
		                 ==,
		                 sent_gone - (gsize)sb_gone.st_size);
	} else {
		/* compressed bytes: some */
		g_assert_cmpuint(logged_lost_bytes(log, "tr-open", sink), >, 0);
		g_assert_cmpuint(logged_lost_bytes(log, "tr-gone", sink), >, 0);
	}
}

/* while the disk is full, what the sink keeps stays within MaxBacklogBytes: past it the daemon
 * stops reading (the client waits in its write), nothing is dropped, and all arrives in order
 * once the disk has room */
static void
test_full_disk_budget(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GRand) rand = g_rand_new_with_seed(18);
	g_autoptr(GString) buf = g_string_new("OPEN tr-budget\n");
	g_autoptr(GHashTable) expected =
	        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-budget");
	g_autofree char *log = NULL;
	const char *paused;
	TldrsTestSender *sender;
	GSocket *s;
	guint64 kept;
	guint n = 0;

	if (!have_prlimit())
		return;
	child_fsize = (struct rlimit){20000, RLIM_INFINITY};
	p = spawn_limited(d, "[Daemon]\nFlushIntervalSec=0.1\nMaxBacklogBytes=1048576\n");
	child_fsize = (struct rlimit){0, 0};
	/* 6 MB: less than the default budget of 8 MiB */
	while (buf->len < 6 * 1000 * 1000) {
		g_autofree char *e = noisy_event(rand, 0, n++);
		g_string_append(buf, e);
	}
	s = tldrs_test_connect(d->socket_path);
	sender = tldrs_test_sender_start(s, buf->str, buf->len);
	g_assert_true(tldrs_test_daemon_wait_log(d, "File too large", 10000));
	g_assert_true(
	        tldrs_test_daemon_wait_log(d, "a sink is behind: not reading from clients", 10000));
	/* paused just past the budget (by no more than what was already read), not at 8 MiB */
	log = tldrs_test_daemon_log(d);
	paused = strstr(log, "until it catches up (");
	g_assert_nonnull(paused);
	kept = g_ascii_strtoull(paused + strlen("until it catches up ("), NULL, 10);
	g_assert_cmpuint(kept, >, 1048576);
	g_assert_cmpuint(kept, <=, 2 * 1048576);
	/* the client waits: reading stays paused while the disk is full */
	g_assert_false(tldrs_test_sender_done(sender));
	g_assert_true(tldrs_test_socket_ready(d->socket_path));

	lift_fsize(p);
	tldrs_test_sender_join(sender);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_hash_table_insert(expected, g_strdup("0/0"), GUINT_TO_POINTER(n));
	g_assert_cmpuint(check_sequences(fn, expected), ==, n);
	g_free(log);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "sinks caught up: reading from clients again"));
	g_assert_null(strstr(log, "lost"));
}

/* the data directory removed while running: the daemon recreates it and keeps storing */
static void
test_data_dir_removed(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-rm");
	GSocket *s = tldrs_test_connect(d->socket_path);
	g_autofree char *e0 = event(0, 0, 0);

	tldrs_test_send(s, "OPEN tr-rm\n");
	tldrs_test_send(s, e0);
	for (guint i = 0; i < 500 && tldrs_test_count_lines(fn) < 1; i++)
		g_usleep(10000);
	tldrs_test_rm_rf(d->data_dir);
	g_assert_false(g_file_test(d->data_dir, G_FILE_TEST_EXISTS));
	for (guint i = 1; i < 4; i++) {
		g_autofree char *e = event(0, 1, i - 1);
		tldrs_test_send(s, e);
	}
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 3);
}

/* many EMIT_TEF to one path at once: one complete trace, never a mix */
static void
test_concurrent_emits(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "same.json", NULL);
	g_autofree char *cmd = g_strdup_printf("EMIT_TEF %s\n", out);
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *other = NULL;
	GSocket *a = tldrs_test_connect(d->socket_path);
	GSocket *b = tldrs_test_connect(d->socket_path);
	JsonArray *events;
	const char *first;

	tldrs_test_send(a, "OPEN tr-one\n");
	tldrs_test_send(b, "OPEN tr-two\n");
	for (guint i = 0; i < 2000; i++) {
		g_autofree char *ea = event(1, 0, i);
		g_autofree char *eb = event(2, 0, i);
		tldrs_test_send(a, ea);
		tldrs_test_send(b, eb);
	}
	for (guint i = 0; i < 20; i++) {
		tldrs_test_send(a, cmd);
		tldrs_test_send(b, cmd);
	}
	tldrs_test_close(a);
	tldrs_test_close(b);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	root = tldrs_test_load_tef(out);
	events = tldrs_test_tef_events(root);
	g_assert_cmpuint(json_array_get_length(events), ==, 2000);
	first = json_object_get_string_member(
	        json_object_get_object_member(json_node_get_object(root), "otherData"), "traceId");
	for (guint i = 0; i < 2000; i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		g_assert_cmpint(json_object_get_int_member(o, "c"),
		                ==,
		                g_str_equal(first, "tr-one") ? 1 : 2);
	}
	/* no temporary file left behind */
	{
		g_autoptr(GDir) dir = g_dir_open(d->tmpdir, 0, NULL);
		for (const char *n = g_dir_read_name(dir); n != NULL; n = g_dir_read_name(dir))
			g_assert_false(g_str_has_prefix(n, ".same.json"));
	}
	(void)other;
}

typedef struct {
	TldrsTestDaemon *d;
	guint client;
	guint sessions;
	guint events;
	GRand *rand;
} Soaker;

/* connect, OPEN one of a few traces, send events with bad lines mixed in, hang up */
static gpointer
soak_thread(gpointer data)
{
	Soaker *s = data;
	for (guint session = 0; session < s->sessions; session++) {
		GSocket *sock = tldrs_test_connect(s->d->socket_path);
		g_autoptr(GString) buf = g_string_new(NULL);
		g_string_append_printf(buf, "OPEN tr-soak-%u\n", s->client % 4);
		for (guint n = 0; n < s->events; n++) {
			g_autofree char *e = event(s->client, session, n);
			g_string_append(buf, e);
			switch (g_rand_int_range(s->rand, 0, 20)) {
			case 0:
				g_string_append(buf, "{\"broken\":\n");
				break;
			case 1:
				g_string_append(buf, "[1,2]\n");
				break;
			case 2:
				g_string_append(buf, "OPEN ../escape\n");
				/* a refused OPEN keeps the connection on its trace */
				break;
			default:
				break;
			}
			if (buf->len > 4096 || g_rand_int_range(s->rand, 0, 50) == 0) {
				tldrs_test_send_len(sock, buf->str, buf->len);
				g_string_truncate(buf, 0);
			}
		}
		tldrs_test_send_len(sock, buf->str, buf->len);
		tldrs_test_close(sock);
		g_usleep(g_rand_int_range(s->rand, 0, 20000));
	}
	return NULL;
}

/* 200 clients connecting, disconnecting and reconnecting, bad lines mixed in */
static void
test_soak(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	Soaker soakers[200];
	GThread *threads[200];
	guint total = 0;
	const guint sessions = 5, events = 200;

	for (guint i = 0; i < G_N_ELEMENTS(soakers); i++) {
		soakers[i] = (Soaker){d, i, sessions, events, g_rand_new_with_seed(i)};
		threads[i] = g_thread_new("soak", soak_thread, &soakers[i]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(soakers); i++) {
		g_thread_join(threads[i]);
		g_rand_free(soakers[i].rand);
	}
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	for (guint t = 0; t < 4; t++) {
		g_autofree char *id = g_strdup_printf("tr-soak-%u", t);
		g_autofree char *fn = tldrs_test_trace_file(d, id);
		g_autofree char *out = g_build_filename(d->tmpdir, "soak.json", NULL);
		g_autoptr(GHashTable) expected =
		        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		g_autoptr(JsonNode) root = NULL;
		for (guint c = t; c < G_N_ELEMENTS(soakers); c += 4) {
			for (guint s = 0; s < sessions; s++)
				g_hash_table_insert(expected,
				                    g_strdup_printf("%u/%u", c, s),
				                    GUINT_TO_POINTER(events));
		}
		total += check_sequences(fn, expected);
		g_assert_cmpint(
		        tldrs_test_cli(d, NULL, NULL, "get-tef", fn, "-o", out, NULL), ==, 0);
		root = tldrs_test_load_tef(out);
		g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)),
		                 ==,
		                 (guint)(G_N_ELEMENTS(soakers) / 4 * sessions * events));
	}
	g_assert_cmpuint(total, ==, G_N_ELEMENTS(soakers) * sessions * events);
}

/* a flood of bad lines from many connections cannot fill the log */
static void
test_log_flood(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *log = NULL;
	g_auto(GStrv) lines = NULL;
	guint refused_lines = 0;
	guint summaries = 0;
	guint held_back = 0;

	for (guint c = 0; c < 100; c++) {
		GSocket *s = tldrs_test_connect(d->socket_path);
		g_autoptr(GString) buf = g_string_new("OPEN tr-flood\n");
		for (guint i = 0; i < 100; i++)
			g_string_append(buf, "this is not an event\n");
		tldrs_test_send_len(s, buf->str, buf->len);
		tldrs_test_close(s);
	}
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	log = tldrs_test_daemon_log(d);
	lines = g_strsplit(log, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (strstr(lines[i], "refused line") != NULL)
			refused_lines++;
		else if (strstr(lines[i], "lines refused in all") != NULL)
			summaries++;
		else if (strstr(lines[i], "more warnings about clients not logged") != NULL)
			held_back++;
	}
	/* 10 000 refused lines from 100 connections; a few logged with their excerpt, a few
	 * summaries, and what was held back is counted in the log */
	g_test_message("%u refused lines, %u summaries, %u counts logged",
	               refused_lines,
	               summaries,
	               held_back);
	g_assert_cmpuint(refused_lines, >=, 1);
	g_assert_cmpuint(refused_lines + summaries, <=, 40);
	g_assert_cmpuint(held_back, >=, 1);
}

/* [Retention]: the oldest closed traces go, never an open one, never other files */
static void
test_retention(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);
	g_autofree char *old = NULL;
	g_autofree char *notes = NULL;
	g_autofree char *live_fn = NULL;
	g_autoptr(GString) big = g_string_new(NULL);
	const char *args[] = {"--config", conf, NULL};
	struct utimbuf day_ago;
	GSocket *live;
	guint kept = 0;

	g_mkdir_with_parents(d->data_dir, 0700);
	old = g_build_filename(d->data_dir, "tr-ancient.jsonl", NULL);
	notes = g_build_filename(d->data_dir, "notes.txt", NULL);
	live_fn = tldrs_test_trace_file(d, "tr-live");
	g_file_set_contents(old, "{\"a\":1}\n", -1, NULL);
	g_file_set_contents(notes, "mine\n", -1, NULL);
	day_ago.actime = day_ago.modtime = time(NULL) - 86400;
	g_utime(old, &day_ago);
	g_utime(notes, &day_ago);
	g_file_set_contents(conf, "[Retention]\nMaxAgeSec=3600\nMaxTotalBytes=45000\n", -1, NULL);
	tldrs_test_daemon_start(d, args);
	/* too old: gone at start (the socket accepts connections a moment before the
	 * daemon's first retention pass, so allow it that moment); other files stay */
	for (guint i = 0; i < 500 && g_file_test(old, G_FILE_TEST_EXISTS); i++)
		g_usleep(10000);
	g_assert_false(g_file_test(old, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(notes, G_FILE_TEST_EXISTS));

	/* an open trace over the limit on its own is kept */
	live = tldrs_test_connect(d->socket_path);
	tldrs_test_send(live, "OPEN tr-live\n");
	for (guint i = 0; i < 400; i++) {
		g_autofree char *e = event(0, 0, i);
		g_string_append(big, e);
	}
	tldrs_test_send_len(live, big->str, big->len);
	for (guint t = 0; t < 5; t++) {
		g_autofree char *id = g_strdup_printf("tr-closed-%u", t);
		g_autofree char *open = g_strdup_printf("OPEN %s\n", id);
		GSocket *s = tldrs_test_connect(d->socket_path);
		tldrs_test_send(s, open);
		tldrs_test_send_len(s, big->str, big->len / 4);
		tldrs_test_close(s);
		g_usleep(150000);
	}
	g_assert_cmpuint(tldrs_test_count_lines(live_fn), ==, 400);
	for (guint t = 0; t < 5; t++) {
		g_autofree char *id = g_strdup_printf("tr-closed-%u", t);
		g_autofree char *fn = tldrs_test_trace_file(d, id);
		if (g_file_test(fn, G_FILE_TEST_EXISTS))
			kept++;
	}
	/* the newest closed ones stay, as many as fit beside the open one */
	g_assert_cmpuint(kept, <, 5);
	{
		g_autofree char *newest = tldrs_test_trace_file(d, "tr-closed-4");
		g_assert_true(g_file_test(newest, G_FILE_TEST_EXISTS));
	}
	tldrs_test_close(live);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* retention never takes a trace whose EMIT_TEF_AT_EXIT file is being written */
static void
test_retention_after_at_exit(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "kept.json", NULL);
	g_autofree char *cmd = g_strdup_printf("OPEN tr-small\nEMIT_TEF_AT_EXIT %s\n", out);
	g_autoptr(JsonNode) root = NULL;
	const char *args[] = {"--config", conf, NULL};
	GSocket *s;

	g_file_set_contents(conf, "[Retention]\nMaxTotalBytes=10\n", -1, NULL);
	tldrs_test_daemon_start(d, args);
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, cmd);
	for (guint i = 0; i < 5; i++) {
		g_autofree char *e = event(0, 0, i);
		tldrs_test_send(s, e);
	}
	tldrs_test_close(s);
	g_assert_true(tldrs_test_wait_for_file(out, 5000));
	root = tldrs_test_load_tef(out);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 5);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* one line of an answer from the daemon (AWAIT_TEF), or "" at EOF */
static char *
receive_line(GSocket *s)
{
	g_autoptr(GString) line = g_string_new(NULL);
	g_socket_set_timeout(s, 20);
	for (;;) {
		g_autoptr(GError) error = NULL;
		char c;
		gssize n = g_socket_receive(s, &c, 1, NULL, &error);
		g_assert_no_error(error);
		if (n == 0 || c == '\n')
			break;
		g_string_append_c(line, c);
	}
	return g_string_free(g_steal_pointer(&line), FALSE);
}

/* MaxAtExitPaths: a trace holds at most so many EMIT_TEF_AT_EXIT paths; a path sent again is
 * kept once and never refused; a new one beyond the limit is a refused line, and AWAIT_TEF
 * is answered TEF_FAILED */
static void
test_at_exit_paths(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GSubprocess) p G_GNUC_UNUSED = spawn_limited(d, "[Daemon]\nMaxAtExitPaths=5\n");
	g_autoptr(GString) buf = g_string_new("OPEN tr-paths\n");
	g_autofree char *answer = NULL;
	g_autofree char *await = NULL;
	g_autofree char *log = NULL;
	g_autofree char *e = event(0, 0, 0);
	GSocket *a, *b;

	/* five paths, each sent again many times, then ten more */
	for (guint r = 0; r < 200; r++) {
		for (guint i = 0; i < 5; i++)
			g_string_append_printf(
			        buf, "EMIT_TEF_AT_EXIT %s/out-%u.json\n", d->tmpdir, i);
	}
	for (guint i = 5; i < 15; i++)
		g_string_append_printf(buf, "EMIT_TEF_AT_EXIT %s/out-%u.json\n", d->tmpdir, i);
	g_string_append(buf, e);
	a = tldrs_test_connect(d->socket_path);
	tldrs_test_send_len(a, buf->str, buf->len);

	/* AWAIT_TEF of a new path on the full trace: answered at once, with the reason */
	b = tldrs_test_connect(d->socket_path);
	await = g_strdup_printf("OPEN tr-paths\nAWAIT_TEF %s/awaited.json\n", d->tmpdir);
	tldrs_test_send(b, await);
	answer = receive_line(b);
	g_assert_cmpstr(answer,
	                ==,
	                "TEF_FAILED too many EMIT_TEF_AT_EXIT paths for this trace "
	                "(MaxAtExitPaths=5)");
	tldrs_test_close(b);
	tldrs_test_close(a);

	/* the five are written when the trace closes */
	for (guint i = 0; i < 5; i++) {
		g_autofree char *out = g_strdup_printf("%s/out-%u.json", d->tmpdir, i);
		g_autoptr(JsonNode) root = NULL;
		g_assert_true(tldrs_test_wait_for_file(out, 10000));
		root = tldrs_test_load_tef(out);
		g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 1);
	}
	g_assert_true(tldrs_test_daemon_wait_log(d, "trace tr-paths closed", 10000));
	/* every TEF job is done once the daemon has exited */
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	for (guint i = 5; i < 15; i++) {
		g_autofree char *out = g_strdup_printf("%s/out-%u.json", d->tmpdir, i);
		g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
	}
	{
		g_autofree char *awaited = g_build_filename(d->tmpdir, "awaited.json", NULL);
		g_assert_false(g_file_test(awaited, G_FILE_TEST_EXISTS));
	}
	log = tldrs_test_daemon_log(d);
	/* counted per connection: the ten new paths, not the thousand repeats */
	g_assert_nonnull(strstr(log, "refused line: too many EMIT_TEF_AT_EXIT paths"));
	g_assert_nonnull(strstr(log, "10 lines refused in all"));
	g_assert_null(strstr(log, "1010 lines refused"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/reliability/other-user", test_other_user);
	g_test_add_func("/tldrs/reliability/file-descriptors", test_file_descriptors);
	g_test_add_func("/tldrs/reliability/max-clients", test_max_clients);
	g_test_add_func("/tldrs/reliability/many-clients", test_many_clients);
	g_test_add_func("/tldrs/reliability/open-flood", test_open_flood);
	g_test_add_func("/tldrs/reliability/at-exit-paths", test_at_exit_paths);
	g_test_add_func("/tldrs/reliability/incomplete-lines", test_incomplete_lines);
	g_test_add_func("/tldrs/reliability/incomplete-lines/many", test_incomplete_lines_many);
	g_test_add_func("/tldrs/reliability/burst-before-accept", test_burst_before_accept);
	g_test_add_func("/tldrs/reliability/write-fault", test_write_fault);
	g_test_add_data_func("/tldrs/reliability/full-disk/last-client-leaves/jsonl",
	                     "jsonl",
	                     test_full_disk_last_client_leaves);
	g_test_add_data_func("/tldrs/reliability/full-disk/last-client-leaves/gzip",
	                     "gzip",
	                     test_full_disk_last_client_leaves);
	g_test_add_data_func(
	        "/tldrs/reliability/full-disk/sigterm/jsonl", "jsonl", test_full_disk_sigterm);
	g_test_add_data_func(
	        "/tldrs/reliability/full-disk/sigterm/gzip", "gzip", test_full_disk_sigterm);
	g_test_add_func("/tldrs/reliability/full-disk/budget", test_full_disk_budget);
	g_test_add_func("/tldrs/reliability/data-dir-removed", test_data_dir_removed);
	g_test_add_func("/tldrs/reliability/concurrent-emits", test_concurrent_emits);
	g_test_add_func("/tldrs/reliability/log-flood", test_log_flood);
	g_test_add_func("/tldrs/reliability/retention", test_retention);
	g_test_add_func("/tldrs/reliability/retention-after-at-exit", test_retention_after_at_exit);
	g_test_add_func("/tldrs/reliability/soak", test_soak);
	return g_test_run();
}
