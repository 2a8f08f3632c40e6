/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* Integration tests: the real tldrs binary on a temporary socket and data directory,
 * real clients over real unix sockets, real files. */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "tldrs-test-util.h"

static char *
event(guint client, guint n)
{
	return g_strdup_printf("{\"c\":%u,\"n\":%u,\"ph\":\"i\",\"name\":\"ev %u/%u\",\"ts\":%u,"
	                       "\"pid\":%u,\"tid\":0}\n",
	                       client,
	                       n,
	                       client,
	                       n,
	                       n,
	                       client + 1);
}

static guint
tef_count_name(JsonArray *events, const char *name)
{
	guint n = 0;
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		if (g_strcmp0(json_object_get_string_member_with_default(o, "name", ""), name) == 0)
			n++;
	}
	return n;
}

/* two processes' connections in one trace, then EMIT_TEF_AT_EXIT when both are gone */
static void
test_two_clients_one_trace(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "trace.json", NULL);
	g_autoptr(JsonNode) root = NULL;
	GSocket *a = tldrs_test_connect(d->socket_path);
	GSocket *b = tldrs_test_connect(d->socket_path);
	JsonArray *events;

	tldrs_test_send(a, "OPEN tr-two\n");
	tldrs_test_send(a, "EMIT_TEF_AT_EXIT ");
	tldrs_test_send(a, out);
	tldrs_test_send(a, "\n");
	tldrs_test_send(a,
	                "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":1,\"tid\":0,"
	                "\"args\":{\"name\":\"parent\"}}\n");
	tldrs_test_send(b, "OPEN tr-two\r\n");
	tldrs_test_send(b,
	                "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":2,\"tid\":5,"
	                "\"args\":{\"name\":\"worker\"}}\r\n");
	tldrs_test_send(a, "{\"ph\":\"B\",\"name\":\"a\",\"ts\":1,\"pid\":1,\"tid\":0}\n");
	tldrs_test_send(b,
	                "{\"ph\":\"X\",\"name\":\"b\",\"ts\":2,\"dur\":1,\"pid\":2,\"tid\":5}\n");
	tldrs_test_send(a, "{\"ph\":\"E\",\"name\":\"a\",\"ts\":3,\"pid\":1,\"tid\":0}\n");
	tldrs_test_close(a);
	/* the daemon has seen a leave (connection 2: the first was the start-up probe); b
	 * (connection 3) still holds the trace open */
	g_assert_true(tldrs_test_daemon_wait_log(d, "connection 2 closed\n", 5000));
	g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
	tldrs_test_close(b);
	g_assert_true(tldrs_test_wait_for_file(out, 5000));
	{
		/* the trace closed only once b had gone */
		g_autofree char *log = tldrs_test_daemon_log(d);
		g_assert_true(
		        tldrs_test_log_before(log, "connection 3 closed\n", "trace tr-two closed"));
	}

	root = tldrs_test_load_tef(out);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
	events = tldrs_test_tef_events(root);
	g_assert_cmpuint(json_array_get_length(events), ==, 5);
	g_assert_cmpuint(tef_count_name(events, "process_name"), ==, 1);
	g_assert_cmpuint(tef_count_name(events, "thread_name"), ==, 1);
	g_assert_cmpstr(
	        json_object_get_string_member(
	                json_object_get_object_member(json_node_get_object(root), "otherData"),
	                "traceId"),
	        ==,
	        "tr-two");
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* the OCaml client: OPEN, EMIT_TEF_AT_EXIT from the parent, children inherit its fd and open
 * their own connections; events come in batches cut anywhere, with spaces after colons */
static void
test_forked_child_at_exit(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "fork.json", NULL);
	g_autofree char *head = g_strdup_printf("OPEN tr-fork\nEMIT_TEF_AT_EXIT %s\n", out);
	g_autoptr(JsonNode) root = NULL;
	GSocket *parent = tldrs_test_connect(d->socket_path);
	const char *batch =
	        "{\"ph\": \"i\", \"name\": \"p1\", \"ts\": 1, \"pid\": 1, \"tid\": 0}\n"
	        "{\"ph\": \"i\", \"name\": \"p2\", \"ts\": 2, \"pid\": 1, \"tid\": 0}\n";
	int fd = g_socket_get_fd(parent);
	pid_t pid;
	int status = 0;

	tldrs_test_send(parent, head);
	/* a batch cut in the middle of a line */
	tldrs_test_send_len(parent, batch, 30);
	g_usleep(100000);
	tldrs_test_send(parent, batch + 30);

	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		/* only raw system calls in the child */
		const char *inherited = "{\"ph\":\"i\",\"name\":\"c-inherited\",\"ts\":3,\"pid\":2,"
		                        "\"tid\":0}\n";
		const char *own =
		        "OPEN tr-fork\n{\"ph\":\"i\",\"name\":\"c-own\",\"ts\":4,\"pid\":2,"
		        "\"tid\":0}\n";
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		strncpy(sa.sun_path, d->socket_path, sizeof(sa.sun_path) - 1);
		if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
			_exit(3);
		if (write(s, own, strlen(own)) < 0)
			_exit(4);
		usleep(300000);
		if (write(fd, inherited, strlen(inherited)) < 0)
			_exit(5);
		close(s);
		close(fd);
		_exit(0);
	}
	/* the parent leaves first; the child still has the inherited connection (that the
	 * trace stayed open for it shows in the file: it holds the child's last event) */
	tldrs_test_close(parent);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	g_assert_true(tldrs_test_wait_for_file(out, 5000));
	root = tldrs_test_load_tef(out);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 4);
	g_assert_cmpuint(tef_count_name(tldrs_test_tef_events(root), "c-inherited"), ==, 1);
	g_assert_cmpuint(tef_count_name(tldrs_test_tef_events(root), "c-own"), ==, 1);
}

/* re-OPEN moves the connection's later events to another trace */
static void
test_reopen(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *a = tldrs_test_trace_file(d, "tr-a");
	g_autofree char *b = tldrs_test_trace_file(d, "tr-b");
	GSocket *s = tldrs_test_connect(d->socket_path);
	g_autofree char *e0 = event(0, 0);
	g_autofree char *e1 = event(0, 1);
	g_autofree char *e2 = event(0, 2);

	tldrs_test_send(s, "OPEN tr-a\n");
	tldrs_test_send(s, e0);
	tldrs_test_send(s, "OPEN tr-b\n");
	tldrs_test_send(s, e1);
	tldrs_test_send(s, e2);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(a), ==, 1);
	g_assert_cmpuint(tldrs_test_count_lines(b), ==, 2);
}

/* EMIT_TEF: a snapshot while the client stays connected */
static void
test_emit_tef(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "snap.json", NULL);
	g_autofree char *cmd = g_strdup_printf("EMIT_TEF %s\n", out);
	g_autoptr(JsonNode) root = NULL;
	GSocket *s = tldrs_test_connect(d->socket_path);

	tldrs_test_send(s, "OPEN tr-snap\n");
	for (guint i = 0; i < 100; i++) {
		g_autofree char *e = event(0, i);
		tldrs_test_send(s, e);
	}
	tldrs_test_send(s, cmd);
	g_assert_true(tldrs_test_wait_for_file(out, 5000));
	root = tldrs_test_load_tef(out);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 100);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* DIE: flush, honour EMIT_TEF_AT_EXIT of a trace still connected, exit, remove the socket */
static void
test_die(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "die.json", NULL);
	g_autofree char *cmd = g_strdup_printf("OPEN tr-die\nEMIT_TEF_AT_EXIT %s\n", out);
	g_autoptr(JsonNode) root = NULL;
	GSocket *other = tldrs_test_connect(d->socket_path);
	GSocket *s = tldrs_test_connect(d->socket_path);

	tldrs_test_send(other, cmd);
	for (guint i = 0; i < 10; i++) {
		g_autofree char *e = event(1, i);
		tldrs_test_send(other, e);
	}
	tldrs_test_send(s, "DIE\n");
	g_assert_cmpint(tldrs_test_daemon_wait(d), ==, 0);
	g_assert_false(g_file_test(d->socket_path, G_FILE_TEST_EXISTS));
	root = tldrs_test_load_tef(out);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 10);
	tldrs_test_close(s);
	tldrs_test_close(other);
}

/* DIE_WHEN_IDLE: exit once no client is connected, the sender included */
static void
test_die_when_idle(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-idle");
	GSocket *a = tldrs_test_connect(d->socket_path);
	GSocket *b = tldrs_test_connect(d->socket_path);
	g_autofree char *e = event(0, 0);

	tldrs_test_send(a, "OPEN tr-idle\n");
	tldrs_test_send(b, "DIE_WHEN_IDLE\n");
	tldrs_test_close(b);
	/* b (connection 3: the first was the start-up probe) is gone, a is still connected:
	 * the daemon stays */
	g_assert_true(tldrs_test_daemon_wait_log(d, "connection 3 closed\n", 5000));
	g_assert_nonnull(g_subprocess_get_identifier(d->proc));
	tldrs_test_send(a, e);
	tldrs_test_close(a);
	g_assert_cmpint(tldrs_test_daemon_wait(d), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 1);
	{
		/* it left when a had gone, not before */
		g_autofree char *log = tldrs_test_daemon_log(d);
		g_assert_true(tldrs_test_log_before(
		        log, "connection 2 closed\n", "DIE_WHEN_IDLE and no client left"));
	}
}

typedef struct {
	const char *socket_path;
	const char *trace;
	guint client;
	guint n_events;
	gboolean close_at_end;
	GSocket *socket;
} Sender;

static gpointer
sender_thread(gpointer data)
{
	Sender *s = data;
	g_autoptr(GString) buf = g_string_new(NULL);
	s->socket = tldrs_test_connect(s->socket_path);
	g_string_append_printf(buf, "OPEN %s\n", s->trace);
	for (guint i = 0; i < s->n_events; i++) {
		g_autofree char *e = event(s->client, i);
		g_string_append(buf, e);
		if (buf->len > 200000) {
			tldrs_test_send_len(s->socket, buf->str, buf->len);
			g_string_truncate(buf, 0);
		}
	}
	tldrs_test_send_len(s->socket, buf->str, buf->len);
	if (s->close_at_end)
		g_clear_pointer(&s->socket, tldrs_test_close);
	return NULL;
}

/* every event exactly once, and in order within each client */
static void
check_stored(const char *path, guint n_clients, guint n_events)
{
	g_autofree char *contents = NULL;
	g_autofree guint *next = g_new0(guint, n_clients);
	g_autoptr(GError) error = NULL;
	gsize len = 0;
	char *p;
	guint total = 0;

	g_file_get_contents(path, &contents, &len, &error);
	g_assert_no_error(error);
	p = contents;
	while (p < contents + len) {
		char *nl = strchr(p, '\n');
		guint c = 0, n = 0;
		g_assert_nonnull(nl);
		/* not sscanf(): it measures the whole rest of the buffer every time */
		g_assert_true(g_str_has_prefix(p, "{\"c\":"));
		c = (guint)strtoul(p + 5, &p, 10);
		g_assert_true(g_str_has_prefix(p, ",\"n\":"));
		n = (guint)strtoul(p + 5, NULL, 10);
		g_assert_cmpuint(c, <, n_clients);
		g_assert_cmpuint(n, ==, next[c]);
		next[c]++;
		total++;
		p = nl + 1;
	}
	g_assert_cmpuint(total, ==, n_clients * n_events);
}

static void
run_concurrent(guint n_clients, guint n_events)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-many");
	g_autofree Sender *senders = g_new0(Sender, n_clients);
	g_autofree GThread **threads = g_new0(GThread *, n_clients);

	for (guint i = 0; i < n_clients; i++) {
		senders[i] = (Sender){d->socket_path, "tr-many", i, n_events, TRUE, NULL};
		threads[i] = g_thread_new("sender", sender_thread, &senders[i]);
	}
	for (guint i = 0; i < n_clients; i++)
		g_thread_join(threads[i]);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	check_stored(fn, n_clients, n_events);
}

static void
test_concurrent_clients(void)
{
	/* 100,000 events; TLDRS_TEST_SCALE shrinks it for slow sanitizer builds */
	const char *scale = g_getenv("TLDRS_TEST_SCALE");
	guint n = 100000;
	if (scale != NULL)
		n = (guint)(n * g_ascii_strtod(scale, NULL));
	run_concurrent(16, MAX(n, 100));
}

/* SIGTERM with clients still connected: everything they sent is stored */
static void
test_sigterm_loses_nothing(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-term");
	Sender s[4];
	GThread *t[4];

	for (guint i = 0; i < 4; i++) {
		s[i] = (Sender){d->socket_path, "tr-term", i, 20000, FALSE, NULL};
		t[i] = g_thread_new("sender", sender_thread, &s[i]);
	}
	for (guint i = 0; i < 4; i++)
		g_thread_join(t[i]);
	/* the last bytes are still in the socket buffers, unread */
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	check_stored(fn, 4, 20000);
	g_assert_false(g_file_test(d->socket_path, G_FILE_TEST_EXISTS));
	for (guint i = 0; i < 4; i++)
		tldrs_test_close(s[i].socket);
}

/* a clean run, even with -v, logs nothing that reads like an error */
static void
test_clean_run_log(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-clean");
	g_autofree char *e = event(0, 0);
	g_autofree char *log = NULL;
	GSocket *s = tldrs_test_connect(d->socket_path);
	const char *alarming[] = {"WARNING", "CRITICAL", "rror", "unavailable", "cannot", "failed"};

	tldrs_test_send(s, "OPEN tr-clean\n");
	tldrs_test_send(s, e);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 1);
	log = tldrs_test_daemon_log(d);
	/* the whole of it was written: the daemon has exited */
	g_assert_nonnull(strstr(log, "stopped"));
	for (guint i = 0; i < G_N_ELEMENTS(alarming); i++) {
		if (strstr(log, alarming[i]) != NULL)
			g_error("the log of a clean run says \"%s\":\n%s", alarming[i], log);
	}
}

static void
test_sigint(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-int");
	GSocket *s = tldrs_test_connect(d->socket_path);
	g_autofree char *e = event(0, 0);
	tldrs_test_send(s, "OPEN tr-int\n");
	tldrs_test_send(s, e);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGINT), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 1);
	tldrs_test_close(s);
}

/* --into-file: every event of every connection in one file, OPEN ignored */
static void
test_into_file(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *into = g_build_filename(d->tmpdir, "all.jsonl", NULL);
	const char *args[] = {"--into-file", into, NULL};
	GSocket *a, *b;
	g_autofree char *e0 = event(0, 0);
	g_autofree char *e1 = event(1, 0);
	g_autofree char *e2 = event(1, 1);

	tldrs_test_daemon_start(d, args);
	a = tldrs_test_connect(d->socket_path);
	b = tldrs_test_connect(d->socket_path);
	tldrs_test_send(a, "OPEN one\n");
	tldrs_test_send(a, e0);
	tldrs_test_send(b, e1);
	tldrs_test_send(b, "OPEN two\n");
	tldrs_test_send(b, e2);
	tldrs_test_close(a);
	tldrs_test_close(b);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(into), ==, 3);
}

/* bad lines are refused one by one; the connection and the TEF output stay good */
static void
test_bad_lines(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "bad.json", NULL);
	g_autofree char *cmd = g_strdup_printf("EMIT_TEF_AT_EXIT %s\n", out);
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *list = NULL;
	g_autofree char *log = NULL;
	GSocket *s = tldrs_test_connect(d->socket_path);
	const char *bad[] = {
	        "{\"ph\":\"i\",\"name\":\"before-open\",\"pid\":1}\n", /* before OPEN */
	        "OPEN tr-bad\n",
	        "{\"ph\":\"i\",\"name\":\"ok1\",\"ts\":1,\"pid\":1,\"tid\":0}\n",
	        "{\"ph\":\"i\",\"name\":\"trunc\n",
	        "{\"a\":1}}\n",
	        "{\"a\":1} {\"b\":2}\n",
	        "[1,2,3]\n",
	        "{\"a\":\"\xff\xfe\"}\n",
	        "{\"a\":NaN}\n",
	        "{\"a\":1,}\n",
	        "BOGUS command\n",
	        "EMIT_TEF relative/path.json\n",
	        "{\"ph\":\"i\",\"name\":\"ok2\",\"ts\":2,\"pid\":1,\"tid\":0}\n",
	};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
		tldrs_test_send(s, bad[i]);
	tldrs_test_send(s, cmd);
	tldrs_test_close(s);
	g_assert_true(tldrs_test_wait_for_file(out, 5000));
	root = tldrs_test_load_tef(out);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 2);
	g_assert_cmpuint(tef_count_name(tldrs_test_tef_events(root), "ok2"), ==, 1);

	/* counted per trace (9 after OPEN), visible in list -l */
	g_usleep(100000);
	g_assert_cmpint(
	        tldrs_test_cli(d, &list, NULL, "list", "-l", "-d", d->data_dir, NULL), ==, 0);
	g_assert_nonnull(strstr(list, "tr-bad"));
	g_assert_true(g_regex_match_simple(
	        "tr-bad +[0-9]+ bytes +2 +0 +[-0-9]+ [:0-9]+ +9 +0\n", list, 0, 0));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "refused line: event before OPEN"));
	g_assert_nonnull(strstr(log, "lines refused in all"));
}

/* over-long lines are refused while being read; the next line is fine */
static void
test_long_line(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-long");
	const char *args[] = {"--config", conf, NULL};
	g_autoptr(GString) big = g_string_new("{\"a\":\"");
	g_autofree char *e0 = event(0, 0);
	g_autofree char *e1 = event(0, 1);
	g_autofree char *log = NULL;
	GSocket *s;

	g_file_set_contents(conf, "[Daemon]\nMaxLineBytes=4096\n", -1, NULL);
	tldrs_test_daemon_start(d, args);
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-long\n");
	tldrs_test_send(s, e0);
	for (guint i = 0; i < 100000; i++)
		g_string_append_c(big, 'x');
	g_string_append(big, "\"}\n");
	/* in pieces, so that the daemon sees it grow */
	for (gsize off = 0; off < big->len; off += 1000)
		tldrs_test_send_len(s, big->str + off, MIN(1000, big->len - off));
	/* and one in a single read */
	tldrs_test_send_len(s, big->str, big->len);
	tldrs_test_send(s, e1);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 2);
	check_stored(fn, 1, 2);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "line longer than MaxLineBytes"));
	/* the log holds an excerpt, never the line */
	g_assert_null(
	        strstr(log, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
}

/* trace ids never become paths outside the data directory */
static void
test_bad_trace_ids(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *escaped = g_build_filename(d->tmpdir, "evil.jsonl", NULL);
	g_autofree char *good = tldrs_test_trace_file(d, "tr-good");
	g_autofree char *e = event(0, 0);
	GSocket *s = tldrs_test_connect(d->socket_path);
	g_autoptr(GString) longid = g_string_new("OPEN ");
	g_autoptr(GDir) dir = NULL;
	guint n_files = 0;

	for (guint i = 0; i < 201; i++)
		g_string_append_c(longid, 'a');
	g_string_append_c(longid, '\n');
	tldrs_test_send(s, "OPEN ../evil\n");
	tldrs_test_send(s, e);
	tldrs_test_send(s, "OPEN .hidden\n");
	tldrs_test_send(s, "OPEN a/b\n");
	tldrs_test_send(s, "OPEN ctl\x01id\n");
	tldrs_test_send_len(s, "OPEN nul\0id\n", 12);
	tldrs_test_send(s, "OPEN \n");
	tldrs_test_send(s, longid->str);
	tldrs_test_send(s, e);
	tldrs_test_send(s, "OPEN tr-good\n");
	tldrs_test_send(s, e);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_false(g_file_test(escaped, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(tldrs_test_count_lines(good), ==, 1);
	dir = g_dir_open(d->data_dir, 0, NULL);
	for (const char *n = g_dir_read_name(dir); n != NULL; n = g_dir_read_name(dir)) {
		if (g_str_has_suffix(n, ".jsonl"))
			n_files++;
	}
	g_assert_cmpuint(n_files, ==, 1);
}

/* EMIT_TEF onto the daemon's own trace file is refused, and the trace survives */
static void
test_emit_onto_own_file(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-own");
	g_autofree char *cmd = g_strdup_printf("EMIT_TEF %s\n", fn);
	GSocket *s = tldrs_test_connect(d->socket_path);
	g_autofree char *e0 = event(0, 0);
	g_autofree char *e1 = event(0, 1);

	g_autofree char *onto_socket = g_strdup_printf("EMIT_TEF %s\n", d->socket_path);

	tldrs_test_send(s, "OPEN tr-own\n");
	tldrs_test_send(s, e0);
	tldrs_test_send(s, cmd);
	/* nor onto the socket: clients must still reach it */
	tldrs_test_send(s, onto_socket);
	tldrs_test_send(s, e1);
	tldrs_test_close(s);
	/* refused, the last of its lines read: the daemon still serves */
	g_assert_true(tldrs_test_daemon_wait_log(d, "connection 2 closed\n", 5000));
	g_assert_true(tldrs_test_socket_ready(d->socket_path));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	check_stored(fn, 1, 2);
}

/* a stale socket is replaced; a live one is not */
static void
test_stale_and_live_socket(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(TldrsTestDaemon) d2 = tldrs_test_daemon_new();
	g_autoptr(GSocket) stale = NULL;
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(d->socket_path);
	g_autoptr(GError) error = NULL;
	g_autofree char *err = NULL;

	stale = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
	g_socket_bind(stale, addr, FALSE, &error);
	g_assert_no_error(error);
	g_socket_close(stale, NULL);
	g_assert_true(g_file_test(d->socket_path, G_FILE_TEST_EXISTS));
	tldrs_test_daemon_start(d, NULL);

	/* a second daemon on the live socket: exit 1, the message names the socket */
	g_assert_cmpint(tldrs_test_cli(d2,
	                               NULL,
	                               &err,
	                               "serve",
	                               "--socket",
	                               d->socket_path,
	                               "-d",
	                               d2->data_dir,
	                               NULL),
	                ==,
	                1);
	g_assert_nonnull(strstr(err, "already listening"));
	g_assert_nonnull(strstr(err, d->socket_path));
	g_assert_true(g_file_test(d->socket_path, G_FILE_TEST_EXISTS));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* get-tef latest, by trace id, by file name and by path; list; clear */
static void
test_cli_traces(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "latest.json", NULL);
	g_autofree char *other = g_build_filename(d->data_dir, "notes.txt", NULL);
	g_autofree char *fn_old = tldrs_test_trace_file(d, "tr-old");
	g_autofree char *fn_busy = tldrs_test_trace_file(d, "tr-busy");
	g_autofree char *stdout_tef = NULL;
	g_autofree char *list = NULL;
	g_autofree char *err = NULL;
	g_autoptr(JsonNode) root = NULL;
	GSocket *s = tldrs_test_connect(d->socket_path);
	GSocket *busy = tldrs_test_connect(d->socket_path);
	g_autofree char *e = event(0, 0);

	tldrs_test_send(s, "OPEN tr-old\n");
	tldrs_test_send(s, e);
	tldrs_test_close(s);
	g_usleep(50000);
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-new\n");
	tldrs_test_send(s, e);
	tldrs_test_send(s, e);
	tldrs_test_close(s);
	tldrs_test_send(busy, "OPEN tr-busy\n");
	tldrs_test_send(busy, e);
	g_usleep(200000);
	/* the busy trace is written after tr-new: make tr-new the newest again */
	{
		g_autofree char *fn_new = tldrs_test_trace_file(d, "tr-new");
		g_utime(fn_old, NULL);
		g_usleep(20000);
		g_assert_cmpint(g_utime(fn_new, NULL), ==, 0);
	}
	g_file_set_contents(other, "not a trace\n", -1, NULL);

	g_assert_cmpint(
	        tldrs_test_cli(
	                d, NULL, NULL, "get-tef", "latest", "-d", d->data_dir, "-o", out, NULL),
	        ==,
	        0);
	root = tldrs_test_load_tef(out);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 2);

	g_assert_cmpint(tldrs_test_cli(d,
	                               &stdout_tef,
	                               NULL,
	                               "get-tef",
	                               "tr-old",
	                               "-d",
	                               d->data_dir,
	                               "--format",
	                               "array",
	                               NULL),
	                ==,
	                0);
	g_assert_true(g_str_has_prefix(stdout_tef, "[\n{"));
	g_assert_cmpint(tldrs_test_cli(d,
	                               NULL,
	                               NULL,
	                               "get-tef",
	                               "tr-old.jsonl",
	                               "-d",
	                               d->data_dir,
	                               "-o",
	                               out,
	                               NULL),
	                ==,
	                0);
	g_assert_cmpint(tldrs_test_cli(d, NULL, NULL, "get-tef", fn_old, "-o", out, NULL), ==, 0);
	g_assert_cmpint(
	        tldrs_test_cli(d, NULL, &err, "get-tef", "tr-nope", "-d", d->data_dir, NULL),
	        ==,
	        1);
	g_assert_nonnull(strstr(err, "tr-nope"));

	g_assert_cmpint(tldrs_test_cli(d, &list, NULL, "list", "-d", d->data_dir, NULL), ==, 0);
	g_assert_cmpstr(list, ==, "tr-busy\ntr-new\ntr-old\n");
	g_clear_pointer(&list, g_free);
	g_assert_cmpint(
	        tldrs_test_cli(d, &list, NULL, "list", "-l", "-d", d->data_dir, NULL), ==, 0);
	g_assert_true(g_regex_match_simple("tr-busy +[0-9]+ bytes +1 +1 ", list, 0, 0));
	g_assert_true(g_regex_match_simple("tr-new +[0-9]+ bytes +2 +0 ", list, 0, 0));

	/* clear: trace files only, never one being written */
	g_clear_pointer(&err, g_free);
	g_assert_cmpint(tldrs_test_cli(d, NULL, &err, "clear", "-d", d->data_dir, NULL), ==, 0);
	g_assert_nonnull(strstr(err, "tr-busy"));
	g_assert_false(g_file_test(fn_old, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(fn_busy, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(other, G_FILE_TEST_EXISTS));
	tldrs_test_send(busy, e);
	tldrs_test_close(busy);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn_busy), ==, 2);
}

/* list -l keeps its columns with generated trace ids (tr-<secs>-<32 hex>, 46 characters) */
static void
test_cli_list_columns(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	const char *ids[] = {"a", "tr-1732550000-5f2a0c1e9d8b7a6f5e4d3c2b1a0f9e8d"};
	g_autofree char *list = NULL;
	g_auto(GStrv) lines = NULL;

	g_assert_cmpint(g_mkdir(d->data_dir, 0700), ==, 0);
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree char *fn = tldrs_test_trace_file(d, ids[i]);
		g_assert_true(g_file_set_contents(fn, "{\"ph\":\"i\"}\n", -1, NULL));
	}
	g_assert_cmpint(
	        tldrs_test_cli(d, &list, NULL, "list", "-l", "-d", d->data_dir, NULL), ==, 0);
	g_test_message("%s", list);
	lines = g_strsplit(list, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 4);
	g_assert_cmpstr(lines[3], ==, "");
	/* the id column is as wide as the longest id, and every line as long as the heading */
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		gsize n = strlen(ids[i]);
		g_assert_true(g_str_has_prefix(lines[i + 1], ids[i]));
		g_assert_cmpuint(strspn(lines[i + 1] + n, " "), ==, strlen(ids[1]) - n + 1);
		g_assert_cmpuint(strlen(lines[i + 1]), ==, strlen(lines[0]));
	}
}

/* list -d of a directory that does not exist says so and fails; so does a file */
/* a trace id that looks like an option is named after "--"; a trace whose id is "latest" by
 * its file name */
static void
test_cli_odd_trace_ids(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *dash = g_build_filename(d->data_dir, "-rf.jsonl", NULL);
	g_autofree char *latest = g_build_filename(d->data_dir, "latest.jsonl", NULL);
	g_autofree char *other = g_build_filename(d->data_dir, "newer.jsonl", NULL);
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;

	g_mkdir_with_parents(d->data_dir, 0700);
	g_assert_true(g_file_set_contents(
	        dash, "{\"ph\":\"i\",\"name\":\"dash\",\"ts\":1,\"pid\":1,\"tid\":1}\n", -1, NULL));
	g_assert_true(g_file_set_contents(
	        latest,
	        "{\"ph\":\"i\",\"name\":\"in-latest\",\"ts\":1,\"pid\":1,\"tid\":1}\n",
	        -1,
	        NULL));
	g_assert_true(g_file_set_contents(
	        other,
	        "{\"ph\":\"i\",\"name\":\"newest\",\"ts\":1,\"pid\":1,\"tid\":1}\n",
	        -1,
	        NULL));
	g_assert_cmpint(
	        tldrs_test_cli(d, &out, &err, "get-tef", "-d", d->data_dir, "--", "-rf", NULL),
	        ==,
	        0);
	g_assert_nonnull(strstr(out, "\"dash\""));
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);
	/* without "--" it is an unknown option: usage */
	g_assert_cmpint(
	        tldrs_test_cli(d, &out, &err, "get-tef", "-d", d->data_dir, "-rf", NULL), ==, 2);
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&err, g_free);
	g_assert_cmpint(
	        tldrs_test_cli(d, &out, &err, "get-tef", "-d", d->data_dir, "latest.jsonl", NULL),
	        ==,
	        0);
	g_assert_nonnull(strstr(out, "\"in-latest\""));
}

static void
test_cli_list_missing_dir(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *missing = g_build_filename(d->tmpdir, "missing", NULL);
	g_autofree char *file = g_build_filename(d->tmpdir, "file", NULL);
	const char *dirs[] = {missing, file};

	g_assert_true(g_file_set_contents(file, "", 0, NULL));
	for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
		for (guint l = 0; l < 2; l++) {
			g_autofree char *out = NULL;
			g_autofree char *err = NULL;
			g_autofree char *msg =
			        g_strdup_printf("tldrs: %s: no such directory\n", dirs[i]);
			g_assert_cmpint(tldrs_test_cli(d,
			                               &out,
			                               &err,
			                               "list",
			                               "-d",
			                               dirs[i],
			                               l == 1 ? "-l" : NULL,
			                               NULL),
			                ==,
			                1);
			g_assert_cmpstr(out, ==, "");
			g_assert_cmpstr(err, ==, msg);
		}
	}
	/* the default data directory before the first trace: no traces, no error */
	{
		g_autofree char *out = NULL;
		g_assert_cmpint(tldrs_test_cli(d, &out, NULL, "list", NULL), ==, 0);
		g_assert_cmpstr(out, ==, "");
	}
}

/* usage errors exit 2, failures 1 with the value at fault named, --help and --version 0 */
static void
test_cli_usage(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	g_autofree char *dir = NULL;
	const char *cmds[] = {"serve", "list", "get-tef", "clear", "dir"};

	g_assert_cmpint(tldrs_test_cli(d, &out, NULL, "--version", NULL), ==, 0);
	g_assert_true(g_str_has_prefix(out, "tldrs "));
	g_clear_pointer(&out, g_free);
	g_assert_cmpint(tldrs_test_cli(d, &out, NULL, "--help", NULL), ==, 0);
	for (guint i = 0; i < G_N_ELEMENTS(cmds); i++) {
		g_autofree char *help = NULL;
		g_assert_nonnull(strstr(out, cmds[i]));
		g_assert_cmpint(tldrs_test_cli(d, &help, NULL, cmds[i], "--help", NULL), ==, 0);
		g_assert_nonnull(strstr(help, "tldrs"));
	}
	g_assert_cmpint(tldrs_test_cli(d, NULL, NULL, (const char *)NULL, NULL), ==, 2);
	g_assert_cmpint(tldrs_test_cli(d, NULL, &err, "frobnicate", NULL), ==, 2);
	g_assert_nonnull(strstr(err, "frobnicate"));
	g_assert_cmpint(tldrs_test_cli(d, NULL, NULL, "list", "--bogus", NULL), ==, 2);
	g_assert_cmpint(tldrs_test_cli(d, NULL, NULL, "get-tef", NULL), ==, 2);
	g_assert_cmpint(
	        tldrs_test_cli(d, NULL, NULL, "get-tef", "a", "--format", "xml", NULL), ==, 2);
	g_clear_pointer(&err, g_free);
	g_assert_cmpint(
	        tldrs_test_cli(d, NULL, &err, "serve", "--config", "/nonexistent/t.conf", NULL),
	        ==,
	        1);
	g_assert_nonnull(strstr(err, "/nonexistent/t.conf"));
	g_assert_cmpint(tldrs_test_cli(d, &dir, NULL, "dir", "-d", "/x/y", NULL), ==, 0);
	g_assert_cmpstr(dir, ==, "/x/y\n");
	g_clear_pointer(&dir, g_free);
	/* the default follows XDG_DATA_HOME */
	g_assert_cmpint(tldrs_test_cli(d, &dir, NULL, "dir", NULL), ==, 0);
	g_assert_true(g_str_has_prefix(dir, d->tmpdir));
	g_assert_true(g_str_has_suffix(dir, "xdg-data/tldrs\n"));
}

/* `tldrs serve` with its standard output on a pipe (tldrs_test_daemon_start() drops it) */
static GInputStream *
serve_with_stdout(TldrsTestDaemon *d, const char *extra_arg)
{
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(d->tmpdir);
	g_autoptr(GError) error = NULL;
	const char *argv[] = {g_getenv("TLDRS_BIN"),
	                      "serve",
	                      "--socket",
	                      d->socket_path,
	                      "-d",
	                      d->data_dir,
	                      extra_arg,
	                      NULL};
	g_subprocess_launcher_set_flags(l, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_subprocess_launcher_set_stderr_file_path(l, d->log_path);
	d->proc = g_subprocess_launcher_spawnv(l, argv, &error);
	g_assert_no_error(error);
	return g_subprocess_get_stdout_pipe(d->proc);
}

/* serve says where it listens and stores, once it does: one line on standard output */
static void
test_serve_announces(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GDataInputStream) out = g_data_input_stream_new(serve_with_stdout(d, NULL));
	g_autoptr(GError) error = NULL;
	g_autofree char *line = g_data_input_stream_read_line(out, NULL, NULL, &error);
	g_autofree char *expected = g_strdup_printf(
	        "listening on %s, storing traces in %s, sinks jsonl", d->socket_path, d->data_dir);

	g_assert_no_error(error);
	g_assert_cmpstr(line, ==, expected);
	/* printed once clients can connect */
	g_assert_true(tldrs_test_socket_ready(d->socket_path));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	/* and nothing else */
	g_clear_pointer(&line, g_free);
	line = g_data_input_stream_read_line(out, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_null(line);
}

/* serve -q prints nothing on standard output */
static void
test_serve_quiet(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	GInputStream *out = serve_with_stdout(d, "-q");
	g_autoptr(GError) error = NULL;
	char buf[256];
	guint i;

	for (i = 0; i < 1000 && !tldrs_test_socket_ready(d->socket_path); i++)
		g_usleep(10000);
	g_assert_cmpuint(i, <, 1000);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	/* the daemon has exited: whatever it printed is in the pipe */
	g_assert_cmpint(g_input_stream_read(out, buf, sizeof(buf), NULL, &error), ==, 0);
	g_assert_no_error(error);
}

/* the data directory is created with its parents; an empty trace gives a valid TEF */
static void
test_data_dir_and_empty_trace(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *nested = g_build_filename(d->tmpdir, "a", "b", "c", NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "empty.json", NULL);
	g_autofree char *cmd = g_strdup_printf("OPEN tr-empty\nEMIT_TEF_AT_EXIT %s\n", out);
	g_autoptr(JsonNode) root = NULL;
	GSocket *s;

	g_free(d->data_dir);
	d->data_dir = g_strdup(nested);
	tldrs_test_daemon_start(d, NULL);
	g_assert_true(g_file_test(nested, G_FILE_TEST_IS_DIR));
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, cmd);
	tldrs_test_close(s);
	g_assert_true(tldrs_test_wait_for_file(out, 5000));
	root = tldrs_test_load_tef(out);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 0);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* data reaches the file while the client stays connected, without waiting for a flush */
static void
test_connected_client_data_in_file(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-live");
	g_autofree char *e = event(0, 0);
	GSocket *s = tldrs_test_connect(d->socket_path);
	guint waited = 0;

	tldrs_test_send(s, "OPEN tr-live\n");
	tldrs_test_send(s, e);
	while (tldrs_test_count_lines(fn) < 1 && waited < 5000) {
		g_usleep(10000);
		waited += 10;
	}
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 1);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* get-tef shows progress on a terminal, nothing otherwise */
static void
test_get_tef_progress(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-big");
	g_autofree char *out = g_build_filename(d->tmpdir, "big.json", NULL);
	g_autofree char *cmd = NULL;
	g_autofree char *tty_out = NULL;
	g_autofree char *err = NULL;
	g_autoptr(GString) big = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	int status = 0;

	g_mkdir_with_parents(d->data_dir, 0700);
	for (guint i = 0; i < 200000; i++) {
		g_autofree char *e = event(0, i);
		g_string_append(big, e);
	}
	g_file_set_contents(fn, big->str, (gssize)big->len, NULL);
	g_assert_cmpint(
	        tldrs_test_cli(
	                d, NULL, &err, "get-tef", "tr-big", "-d", d->data_dir, "-o", out, NULL),
	        ==,
	        0);
	g_assert_cmpstr(err, ==, "");
	if (!tldrs_test_have_program("script")) {
		g_test_skip("script (util-linux) is not installed: no terminal to test with");
		return;
	}
	/* script(1) gives the command a terminal */
	cmd = g_strdup_printf("script -qec '%s get-tef tr-big -d %s -o %s' /dev/null",
	                      g_getenv("TLDRS_BIN"),
	                      d->data_dir,
	                      out);
	g_spawn_command_line_sync(cmd, &tty_out, NULL, &status, &error);
	g_assert_no_error(error);
	g_assert_cmpint(status, ==, 0);
	g_assert_nonnull(strstr(tty_out, "(100%)"));
	g_assert_nonnull(strstr(tty_out, "/s"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/daemon/two-clients-one-trace", test_two_clients_one_trace);
	g_test_add_func("/tldrs/daemon/forked-child-at-exit", test_forked_child_at_exit);
	g_test_add_func("/tldrs/daemon/reopen", test_reopen);
	g_test_add_func("/tldrs/daemon/emit-tef", test_emit_tef);
	g_test_add_func("/tldrs/daemon/die", test_die);
	g_test_add_func("/tldrs/daemon/die-when-idle", test_die_when_idle);
	g_test_add_func("/tldrs/daemon/concurrent-clients", test_concurrent_clients);
	g_test_add_func("/tldrs/daemon/sigterm-loses-nothing", test_sigterm_loses_nothing);
	g_test_add_func("/tldrs/daemon/sigint", test_sigint);
	g_test_add_func("/tldrs/daemon/clean-run-log", test_clean_run_log);
	g_test_add_func("/tldrs/daemon/into-file", test_into_file);
	g_test_add_func("/tldrs/daemon/bad-lines", test_bad_lines);
	g_test_add_func("/tldrs/daemon/long-line", test_long_line);
	g_test_add_func("/tldrs/daemon/bad-trace-ids", test_bad_trace_ids);
	g_test_add_func("/tldrs/daemon/emit-onto-own-file", test_emit_onto_own_file);
	g_test_add_func("/tldrs/daemon/stale-and-live-socket", test_stale_and_live_socket);
	g_test_add_func("/tldrs/daemon/data-dir-and-empty-trace", test_data_dir_and_empty_trace);
	g_test_add_func("/tldrs/daemon/connected-client-data-in-file",
	                test_connected_client_data_in_file);
	g_test_add_func("/tldrs/daemon/serve-announces", test_serve_announces);
	g_test_add_func("/tldrs/daemon/serve-quiet", test_serve_quiet);
	g_test_add_func("/tldrs/cli/traces", test_cli_traces);
	g_test_add_func("/tldrs/cli/list-columns", test_cli_list_columns);
	g_test_add_func("/tldrs/cli/list-missing-dir", test_cli_list_missing_dir);
	g_test_add_func("/tldrs/cli/odd-trace-ids", test_cli_odd_trace_ids);
	g_test_add_func("/tldrs/cli/usage", test_cli_usage);
	g_test_add_func("/tldrs/cli/get-tef-progress", test_get_tef_progress);
	return g_test_run();
}
