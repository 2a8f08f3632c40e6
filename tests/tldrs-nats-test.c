/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The nats sink and `get-tef --nats` / `list --nats` against a real `nats-server -js` that
 * the test starts on a free loopback port with its own store, kills and restarts: several
 * daemons standing for several hosts, one trace through all of them; the server going away
 * mid-stream; the bounded buffer while it stays away. */

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "tldrs-test-util.h"

#if TLDRS_HAVE_NATS
#include <nats/nats.h>
#endif

/* ---- a real nats-server ---- */

typedef struct {
	char *dir;
	char *log_path;
	guint port;
	GSubprocess *proc;
	guint starts;
	const char *token; /* --auth: clients must present it */
	const char *user;  /* --user and --pass: clients must log in */
	const char *pass;
} TestNats;

static gboolean
nats_log_has(TestNats *n, const char *needle, guint *count)
{
	g_autofree char *log = NULL;
	guint c = 0;
	if (!g_file_get_contents(n->log_path, &log, NULL, NULL))
		return FALSE;
	for (const char *p = log; (p = strstr(p, needle)) != NULL; p++)
		c++;
	if (count != NULL)
		*count = c;
	return c > 0;
}

/* starts it (again): the first time on a port it picks, later on the same port and store */
static void
nats_start(TestNats *n)
{
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(n->dir);
	g_autofree char *store = g_build_filename(n->dir, "store", NULL);
	g_autofree char *port = n->port > 0 ? g_strdup_printf("%u", n->port) : g_strdup("-1");
	const char *argv[] = {"nats-server",
	                      "-js",
	                      "-a",
	                      "127.0.0.1",
	                      "-p",
	                      port,
	                      "-sd",
	                      store,
	                      NULL,
	                      NULL,
	                      NULL,
	                      NULL,
	                      NULL};
	g_autoptr(GError) error = NULL;
	g_autofree char *server = tldrs_test_find_program("nats-server");
	guint ready = 0;

	if (n->token != NULL) {
		argv[8] = "--auth";
		argv[9] = n->token;
	} else if (n->user != NULL) {
		argv[8] = "--user";
		argv[9] = n->user;
		argv[10] = "--pass";
		argv[11] = n->pass;
	}
	g_subprocess_launcher_set_flags(l, G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	/* appended, one log for every start: count the "ready" lines */
	g_subprocess_launcher_take_stderr_fd(
	        l, g_open(n->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
	g_assert_nonnull(server);
	argv[0] = server;
	g_clear_object(&n->proc);
	n->proc = g_subprocess_launcher_spawnv(l, argv, &error);
	g_assert_no_error(error);
	n->starts++;
	for (guint i = 0; i < 1000 && ready < n->starts; i++) {
		nats_log_has(n, "Server is ready", &ready);
		if (ready < n->starts)
			g_usleep(10000);
	}
	if (ready < n->starts) {
		g_autofree char *log = NULL;
		g_file_get_contents(n->log_path, &log, NULL, NULL);
		g_error("nats-server did not start: %s", log);
	}
	if (n->port == 0) {
		g_autofree char *log = NULL;
		g_autoptr(GRegex) re = g_regex_new(
		        "Listening for client connections on 127\\.0\\.0\\.1:([0-9]+)", 0, 0, NULL);
		g_autoptr(GMatchInfo) m = NULL;
		g_autofree char *p = NULL;
		g_assert_true(g_file_get_contents(n->log_path, &log, NULL, NULL));
		g_assert_true(g_regex_match(re, log, 0, &m));
		p = g_match_info_fetch(m, 1);
		n->port = (guint)g_ascii_strtoull(p, NULL, 10);
	}
	g_assert_cmpuint(n->port, >, 0);
}

static void
nats_kill(TestNats *n)
{
	g_subprocess_send_signal(n->proc, SIGKILL);
	g_subprocess_wait(n->proc, NULL, NULL);
}

/* on @port, or on one it picks (0) */
static TestNats *
nats_new(guint port)
{
	TestNats *n = g_new0(TestNats, 1);
	n->port = port;
	n->dir = tldrs_test_mkdtemp();
	n->log_path = g_build_filename(n->dir, "nats-server.log", NULL);
	nats_start(n);
	return n;
}

static char *
nats_url(TestNats *n)
{
	return g_strdup_printf("nats://127.0.0.1:%u", n->port);
}

static void
nats_free(TestNats *n)
{
	if (n->proc != NULL && g_subprocess_get_identifier(n->proc) != NULL)
		nats_kill(n);
	g_clear_object(&n->proc);
	if (g_getenv("TLDRS_TEST_KEEP") == NULL)
		tldrs_test_rm_rf(n->dir);
	g_free(n->dir);
	g_free(n->log_path);
	g_free(n);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TestNats, nats_free)

/* a free loopback port nobody listens on (for a server that is not there yet) */
static guint
free_port(void)
{
	g_autoptr(GSocket) s = g_socket_new(
	        G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	g_assert_true(g_socket_bind(s, addr, TRUE, NULL));
	bound = g_socket_get_local_address(s, NULL);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

/* ---- daemons with a nats sink ---- */

static TldrsTestDaemon *
start_daemon(const char *url, const char *host, const char *more)
{
	TldrsTestDaemon *d = tldrs_test_daemon_new();
	g_autofree char *text = g_strdup_printf("[Daemon]\nSinks=jsonl;nats\n"
	                                        "[Sink nats]\nURL=%s\nHost=%s\n%s",
	                                        url,
	                                        host,
	                                        more != NULL ? more : "");
	g_autofree char *conf = tldrs_test_write_config(d, text);
	const char *args[] = {"--config", conf, NULL};
	tldrs_test_daemon_start(d, args);
	return d;
}

/* @n events named HOST-I, ts from @ts0 on, all of pid 1 (every host's pid 1) */
static void
send_events(GSocket *s, const char *host, guint from, guint n, gint64 ts0)
{
	g_autoptr(GString) buf = g_string_new(NULL);
	for (guint i = from; i < from + n; i++) {
		g_string_append_printf(
		        buf,
		        "{\"name\":\"%s-%u\",\"ph\":\"i\",\"s\":\"p\",\"ts\":%" G_GINT64_FORMAT
		        ",\"pid\":1,\"tid\":1,\"args\":{\"pad\":\"%0100u\"}}\n",
		        host,
		        i,
		        ts0 + i,
		        i);
		if (buf->len > 60000) {
			tldrs_test_send(s, buf->str);
			g_string_truncate(buf, 0);
		}
	}
	if (buf->len > 0)
		tldrs_test_send(s, buf->str);
}

/* `get-tef --nats`: the TEF's events, or NULL when it failed */
static JsonNode *
get_tef_nats(TldrsTestDaemon *d, const char *url, const char *trace, char **err)
{
	g_autofree char *out = g_build_filename(d->tmpdir, "nats.json", NULL);
	int status = tldrs_test_cli(d, NULL, err, "get-tef", "--nats", url, trace, "-o", out, NULL);
	if (status != 0)
		return NULL;
	return tldrs_test_load_tef(out);
}

/* the events named like @prefix* in @root */
static guint
count_named(JsonArray *events, const char *prefix)
{
	guint n = 0;
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		if (g_str_has_prefix(json_object_get_string_member_with_default(o, "name", ""),
		                     prefix))
			n++;
	}
	return n;
}

/* wait until `get-tef --nats` has @want events named @prefix*, for up to @ms */
static JsonNode *
wait_nats_events(TldrsTestDaemon *d,
                 const char *url,
                 const char *trace,
                 const char *prefix,
                 guint want,
                 guint ms)
{
	guint have = 0;
	for (gint64 end = g_get_monotonic_time() + (gint64)ms * 1000; g_get_monotonic_time() < end;
	     g_usleep(100000)) {
		g_autofree char *err = NULL;
		g_autoptr(JsonNode) root = get_tef_nats(d, url, trace, &err);
		if (root == NULL)
			continue;
		have = count_named(tldrs_test_tef_events(root), prefix);
		if (have >= want)
			return g_steal_pointer(&root);
	}
	g_error("get-tef --nats: %u events %s*, expected %u", have, prefix, want);
	return NULL;
}

/* @host-@k seen (once) */
static void
mark_seen(guint8 *seen, const char *host, guint64 k)
{
	if (seen[k])
		g_error("%s-%" G_GUINT64_FORMAT " appears twice", host, k);
	seen[k] = 1;
}

/* every one of @host-0 … @host-(n-1) seen */
static void
assert_all_seen(const guint8 *seen, const char *host, guint n)
{
	for (guint i = 0; i < n; i++)
		if (!seen[i])
			g_error("%s-%u is missing", host, i);
}

/* every event named @host-0 … @host-(n-1) exactly once, and nothing else of @host */
static void
assert_exactly_once(JsonArray *events, const char *host, guint n)
{
	g_autofree guint8 *seen = g_malloc0(n);
	g_autofree char *prefix = g_strdup_printf("%s-", host);
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		const char *name = json_object_get_string_member_with_default(o, "name", "");
		guint64 k;
		if (!g_str_has_prefix(name, prefix))
			continue;
		g_assert_true(
		        g_ascii_string_to_unsigned(name + strlen(prefix), 10, 0, n - 1, &k, NULL));
		mark_seen(seen, host, k);
	}
	assert_all_seen(seen, host, n);
}

static gboolean
have_nats(void)
{
#if TLDRS_HAVE_NATS
	g_autofree char *server = tldrs_test_find_program("nats-server");
	if (server == NULL)
		g_error("nats-server is not installed (tools/dev deps installs it)");
	return TRUE;
#else
	g_test_skip("built without libnats");
	return FALSE;
#endif
}

/* three daemons, three simulated hosts, one trace through all of them: every event once,
 * every host's pid 1 its own labelled process, timestamps unchanged (one machine: one
 * monotonic clock) */
static void
test_nats_many_hosts(void)
{
	const char *hosts[] = {"alpha", "beta", "gamma"};
	const guint n = 3000;
	g_autoptr(TestNats) nats = NULL;
	g_autofree char *url = NULL;
	TldrsTestDaemon *d[3];
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GHashTable) pids = g_hash_table_new_full(NULL, NULL, NULL, g_free);
	g_autofree char *out = NULL;
	JsonArray *events;
	gint64 ts0 = g_get_monotonic_time();
	guint labels = 0;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	for (guint h = 0; h < 3; h++) {
		GSocket *s = NULL;
		d[h] = start_daemon(url, hosts[h], NULL);
		s = tldrs_test_connect(d[h]->socket_path);
		tldrs_test_send(s, "OPEN tr-many.hosts\n");
		send_events(s, hosts[h], 0, n, ts0);
		tldrs_test_close(s);
	}
	root = wait_nats_events(d[0], url, "tr-many.hosts", "", 3 * n, 30000);
	events = tldrs_test_tef_events(root);
	for (guint h = 0; h < 3; h++)
		assert_exactly_once(events, hosts[h], n);
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		const char *name = json_object_get_string_member_with_default(o, "name", "");
		gint64 pid = json_object_get_int_member_with_default(o, "pid", -1);
		if (g_str_equal(name, "process_labels")) {
			const char *label = json_object_get_string_member(
			        json_object_get_object_member(o, "args"), "labels");
			g_assert_true(g_str_has_prefix(label, "host "));
			g_hash_table_insert(pids, GINT_TO_POINTER(pid), g_strdup(label + 5));
			labels++;
			continue;
		}
		/* the host of the event, by its name, owns the pid it got */
		{
			g_autofree char *host = g_strndup(name, strcspn(name, "-"));
			const char *owner = g_hash_table_lookup(pids, GINT_TO_POINTER(pid));
			guint64 k = g_ascii_strtoull(strchr(name, '-') + 1, NULL, 10);
			gint64 ts = json_object_get_int_member(o, "ts");
			g_assert_cmpstr(owner, ==, host);
			/* one machine: aligning the clocks moves nothing by more than the error of
			 * reading them */
			g_assert_cmpint(ts - (ts0 + (gint64)k), <=, 1000);
			g_assert_cmpint(ts - (ts0 + (gint64)k), >=, -1000);
		}
	}
	g_assert_cmpuint(labels, ==, 3);
	g_assert_cmpuint(g_hash_table_size(pids), ==, 3);

	g_assert_cmpint(tldrs_test_cli(d[0], &out, NULL, "list", "--nats", url, NULL), ==, 0);
	g_assert_cmpstr(out, ==, "tr-many.hosts\n");
	for (guint h = 0; h < 3; h++) {
		g_assert_cmpint(tldrs_test_daemon_stop(d[h], SIGTERM), ==, 0);
		tldrs_test_daemon_free(d[h]);
	}
}

/* the server killed mid-stream and restarted: nothing accepted is lost, nothing doubled */
static void
test_nats_server_restart(void)
{
	const guint n = 2000;
	g_autoptr(TestNats) nats = NULL;
	g_autoptr(TldrsTestDaemon) d = NULL;
	GSocket *s = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *url = NULL;
	g_autofree char *stored = NULL;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	d = start_daemon(url, "alpha", NULL);
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-restart\n");
	send_events(s, "alpha", 0, n, 0);
	g_clear_pointer(&root, json_node_unref);
	root = wait_nats_events(d, url, "tr-restart", "alpha-", n, 30000);
	g_clear_pointer(&root, json_node_unref);

	nats_kill(nats);
	send_events(s, "alpha", n, n, 0);
	/* the daemon has taken them (the jsonl sink stored them) while the server is away */
	stored = tldrs_test_trace_file(d, "tr-restart");
	for (guint i = 0; i < 300 && tldrs_test_count_lines(stored) < 2 * n; i++)
		g_usleep(100000);
	g_assert_cmpuint(tldrs_test_count_lines(stored), ==, 2 * n);
	nats_start(nats);
	send_events(s, "alpha", 2 * n, n, 0);
	tldrs_test_close(s);

	root = wait_nats_events(d, url, "tr-restart", "alpha-", 3 * n, 60000);
	assert_exactly_once(tldrs_test_tef_events(root), "alpha", 3 * n);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* the server killed (-9) right as a burst is being published, most likely with a window's
 * acknowledgments outstanding, and restarted: the window is sent again with the same message
 * ids, and every event is there exactly once */
static void
test_nats_kill_mid_burst(void)
{
	const guint n = 20000;
	g_autoptr(TestNats) nats = NULL;
	g_autoptr(TldrsTestDaemon) d = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *url = NULL;
	g_autofree char *stored = NULL;
	GSocket *s;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	d = start_daemon(url, "alpha", "BatchBytes=1024\n");
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-burst\n");
	send_events(s, "alpha", 0, n, 0);
	tldrs_test_close(s);
	nats_kill(nats);
	stored = tldrs_test_trace_file(d, "tr-burst");
	g_assert_true(tldrs_test_wait_for_file(stored, 30000));
	nats_start(nats);
	root = wait_nats_events(d, url, "tr-burst", "alpha-", n, 120000);
	assert_exactly_once(tldrs_test_tef_events(root), "alpha", n);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	/* how many were sent again, for the record (it depends on where the kill fell) */
	{
		g_autofree char *log = tldrs_test_daemon_log(d);
		const char *line = strstr(log, "messages acknowledged");
		if (line != NULL)
			g_test_message("%.80s", line);
	}
}

/* `list -l` shows @dropped in its last column, DROPPED, within @ms */
static gboolean
wait_list_dropped(TldrsTestDaemon *d, const char *dropped, guint ms)
{
	for (gint64 end = g_get_monotonic_time() + (gint64)ms * 1000; g_get_monotonic_time() < end;
	     g_usleep(50000)) {
		g_autofree char *list = NULL;
		g_auto(GStrv) lines = NULL;
		g_auto(GStrv) cells = NULL;
		g_assert_cmpint(
		        tldrs_test_cli(d, &list, NULL, "list", "-l", "-d", d->data_dir, NULL),
		        ==,
		        0);
		lines = g_strsplit(list, "\n", -1);
		g_assert_true(g_str_has_suffix(lines[0], "DROPPED"));
		g_assert_nonnull(lines[1]);
		cells = g_strsplit_set(g_strstrip(lines[1]), " ", -1);
		if (g_str_equal(cells[g_strv_length(cells) - 1], dropped))
			return TRUE;
	}
	return FALSE;
}

/* the server is not there: the daemon keeps BufferBytes of events and drops the rest,
 * counting them; the other sinks store everything; once the server comes, what was kept is
 * published */
static void
test_nats_bounded_buffer(void)
{
	const guint n = 2000;
	guint port = free_port();
	g_autofree char *url = g_strdup_printf("nats://127.0.0.1:%u", port);
	g_autoptr(TldrsTestDaemon) d = NULL;
	g_autoptr(TestNats) nats = NULL;
	GSocket *s = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GRegex) re = g_regex_new("trace tr-buffer: ([0-9]+) events dropped", 0, 0, NULL);
	g_autoptr(GMatchInfo) m = NULL;
	g_autofree char *stored = NULL;
	g_autofree char *log = NULL;
	g_autofree char *count = NULL;
	g_autoptr(GTestDBus) test_bus = NULL;
	guint64 dropped;

	if (!have_nats())
		return;
	/* on a private bus, for GetTrace */
	test_bus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_test_dbus_up(test_bus);
	g_setenv("TLDRS_TEST_BUS", "1", TRUE);
	d = start_daemon(url, "alpha", "BufferBytes=65536\nBatchBytes=4096\n");
	g_unsetenv("TLDRS_TEST_BUS");
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-buffer\n");
	send_events(s, "alpha", 0, n, 0);
	tldrs_test_close(s);
	g_assert_true(tldrs_test_daemon_wait_log(d, "events dropped", 30000));
	stored = tldrs_test_trace_file(d, "tr-buffer");
	g_assert_cmpuint(tldrs_test_count_lines(stored), ==, n);
	log = tldrs_test_daemon_log(d);
	g_assert_true(g_regex_match(re, log, 0, &m));
	count = g_match_info_fetch(m, 1);
	dropped = g_ascii_strtoull(count, NULL, 10);
	/* about 200 bytes an event, 64 KiB kept */
	g_assert_cmpuint(dropped, >, n / 2);
	g_assert_cmpuint(dropped, <, n);

	/* the same count in `list -l`, the last column (the state file is saved soon after),
	 * and over D-Bus */
	g_assert_true(wait_list_dropped(d, count, 10000));
	{
		g_autoptr(GDBusConnection) c = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, NULL);
		g_autoptr(GError) error = NULL;
		g_autoptr(GVariant) reply = NULL;
		g_autoptr(GVariant) dict = NULL;
		guint64 over_bus = 0;
		g_assert_nonnull(c);
		reply = g_dbus_connection_call_sync(c,
		                                    "org.tldrs.Daemon1",
		                                    "/org/tldrs/Daemon1",
		                                    "org.tldrs.Daemon1",
		                                    "GetTrace",
		                                    g_variant_new("(s)", "tr-buffer"),
		                                    G_VARIANT_TYPE("(a{sv})"),
		                                    G_DBUS_CALL_FLAGS_NO_AUTO_START,
		                                    10000,
		                                    NULL,
		                                    &error);
		g_assert_no_error(error);
		g_variant_get(reply, "(@a{sv})", &dict);
		g_assert_true(g_variant_lookup(dict, "dropped", "t", &over_bus));
		g_assert_cmpuint(over_bus, ==, dropped);
	}

	nats = nats_new(port);
	root = wait_nats_events(d, url, "tr-buffer", "alpha-", n - (guint)dropped, 60000);
	g_assert_cmpuint(count_named(tldrs_test_tef_events(root), "alpha-"), ==, n - dropped);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_test_dbus_down(test_bus);
}

/* D-Bus EmitTef of @trace to @out with the option nats = @url; the events, or 0 with @error */
static guint64
emit_tef_nats(GDBusConnection *c,
              const char *trace,
              const char *out,
              const char *url,
              GError **error)
{
	g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
	        c,
	        "org.tldrs.Daemon1",
	        "/org/tldrs/Daemon1",
	        "org.tldrs.Daemon1",
	        "EmitTef",
	        g_variant_new_parsed("(%s, %s, {'nats': <%s>})", trace, out, url),
	        G_VARIANT_TYPE("(t)"),
	        G_DBUS_CALL_FLAGS_NO_AUTO_START,
	        30000,
	        NULL,
	        error);
	guint64 events = 0;
	if (reply != NULL)
		g_variant_get(reply, "(t)", &events);
	return events;
}

/* D-Bus EmitTef with the option "nats": the file get-tef --nats writes, from the daemon on
 * the (private) bus; a bad URL is InvalidArgument, an unreachable server Failed */
static void
test_nats_emit_tef_dbus(void)
{
	const guint n = 500;
	g_autoptr(GTestDBus) test_bus = NULL;
	g_autoptr(TestNats) nats = NULL;
	g_autoptr(TldrsTestDaemon) alpha = NULL;
	g_autoptr(TldrsTestDaemon) beta = NULL;
	g_autoptr(GDBusConnection) c = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *url = NULL;
	g_autofree char *out = NULL;
	g_autofree char *dead = g_strdup_printf("nats://127.0.0.1:%u", free_port());
	guint64 events = 0;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	test_bus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_test_dbus_up(test_bus);
	/* alpha on the bus, beta not (one daemon owns the name) */
	g_setenv("TLDRS_TEST_BUS", "1", TRUE);
	alpha = start_daemon(url, "alpha", NULL);
	g_unsetenv("TLDRS_TEST_BUS");
	beta = start_daemon(url, "beta", NULL);
	for (guint h = 0; h < 2; h++) {
		TldrsTestDaemon *d = h == 0 ? alpha : beta;
		GSocket *s = tldrs_test_connect(d->socket_path);
		tldrs_test_send(s, "OPEN tr-dbus\n");
		send_events(s, h == 0 ? "alpha" : "beta", 0, n, 0);
		tldrs_test_close(s);
	}
	g_clear_pointer(&root, json_node_unref);
	root = wait_nats_events(alpha, url, "tr-dbus", "", 2 * n, 30000);
	g_clear_pointer(&root, json_node_unref);

	c = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
	g_assert_no_error(error);
	out = g_build_filename(alpha->tmpdir, "dbus.json", NULL);
	events = emit_tef_nats(c, "tr-dbus", out, url, &error);
	g_assert_no_error(error);
	/* the events and a process_labels record per host */
	g_assert_cmpuint(events, ==, 2 * n + 2);
	root = tldrs_test_load_tef(out);
	assert_exactly_once(tldrs_test_tef_events(root), "alpha", n);
	assert_exactly_once(tldrs_test_tef_events(root), "beta", n);

	g_assert_cmpuint(emit_tef_nats(c, "tr-dbus", out, "foo://x", &error), ==, 0);
	g_assert_true(g_dbus_error_is_remote_error(error));
	g_assert_nonnull(strstr(error->message, "InvalidArgument"));
	g_assert_nonnull(strstr(error->message, "foo://x"));
	g_clear_error(&error);
	g_assert_cmpuint(emit_tef_nats(c, "tr-dbus", out, dead, &error), ==, 0);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "cannot connect to NATS"));
	g_clear_error(&error);

	g_assert_cmpint(tldrs_test_daemon_stop(alpha, SIGTERM), ==, 0);
	g_assert_cmpint(tldrs_test_daemon_stop(beta, SIGTERM), ==, 0);
	g_clear_object(&c);
	g_test_dbus_down(test_bus);
}

#if TLDRS_HAVE_NATS
/* one message on @subject as a nats sink of @host would publish it */
static void
publish(jsCtx *js, const char *subject, const char *host, const char *instance, const char *data)
{
	natsMsg *msg = NULL;
	g_assert_cmpint(natsMsg_Create(&msg, subject, NULL, data, (int)strlen(data)), ==, NATS_OK);
	g_assert_cmpint(natsMsgHeader_Set(msg, "Tldrs-Host", host), ==, NATS_OK);
	g_assert_cmpint(natsMsgHeader_Set(msg, "Tldrs-Instance", instance), ==, NATS_OK);
	g_assert_cmpint(js_PublishMsg(NULL, js, msg, NULL, NULL), ==, NATS_OK);
	natsMsg_Destroy(msg);
}
#endif

/* The clock model with hosts whose monotonic clocks start far apart (here, with the messages
 * written as the sinks of three hosts would write them): each host's events land on the first
 * host's time line, by the clock record nearest to each event; a host without a clock record
 * is left where it is, and said so. */
static void
test_nats_clock_alignment(void)
{
#if TLDRS_HAVE_NATS
	const gint64 real0 = G_GINT64_CONSTANT(1700000000000000);
	const gint64 off_a = G_GINT64_CONSTANT(1000000000); /* realtime - monotonic */
	const gint64 off_b = G_GINT64_CONSTANT(5000000000);
	g_autoptr(TestNats) nats = NULL;
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *url = NULL;
	g_autofree char *err = NULL;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsStreamConfig cfg;
	const char *subjects[] = {"tldrs.>"};
	JsonArray *events;
	guint seen = 0;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	g_assert_cmpint(natsConnection_ConnectTo(&nc, url), ==, NATS_OK);
	g_assert_cmpint(natsConnection_JetStream(&js, nc, NULL), ==, NATS_OK);
	jsStreamConfig_Init(&cfg);
	cfg.Name = "TLDRS";
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	g_assert_cmpint(js_AddStream(NULL, js, &cfg, NULL, NULL), ==, NATS_OK);

	/* host a: one record; host b: two, 50 us apart, at its first and last event */
	{
		g_autofree char *ra = g_strdup_printf("{\"host\":\"a\",\"instance\":\"ia\","
		                                      "\"monotonic_us\":%" G_GINT64_FORMAT
		                                      ",\"realtime_us\":%" G_GINT64_FORMAT "}",
		                                      real0 - off_a,
		                                      real0);
		g_autofree char *rb1 = g_strdup_printf("{\"host\":\"b\",\"instance\":\"ib\","
		                                       "\"monotonic_us\":%" G_GINT64_FORMAT
		                                       ",\"realtime_us\":%" G_GINT64_FORMAT "}",
		                                       real0 - off_b,
		                                       real0);
		g_autofree char *rb2 = g_strdup_printf("{\"host\":\"b\",\"instance\":\"ib\","
		                                       "\"monotonic_us\":%" G_GINT64_FORMAT
		                                       ",\"realtime_us\":%" G_GINT64_FORMAT "}",
		                                       real0 + 9000 - off_b,
		                                       real0 + 9000 + 50);
		publish(js, "tldrs.clock.tr=2Eclock", "b", "ib", rb2);
		publish(js, "tldrs.clock.tr=2Eclock", "a", "ia", ra);
		publish(js, "tldrs.clock.tr=2Eclock", "b", "ib", rb1);
	}
	/* event k of every host happened at real0 + k ms; each stamps it with its own clock */
	for (guint k = 0; k < 10; k++) {
		const struct {
			const char *host;
			gint64 off;
		} hosts[] = {{"a", off_a}, {"b", off_b}, {"c", 0}};
		for (guint h = 0; h < 3; h++) {
			/* nested members of the same names are not the event's; a line that is
			 * not a JSON object is left out */
			g_autofree char *ev = g_strdup_printf(
			        "{\"name\":\"%s-%u\",\"ph\":\"i\",\"ts\":%" G_GINT64_FORMAT
			        ",\"args\":{\"ts\":5,\"s\":\"}\\\"{\",\"pid\":[1]} , \"pid\":7,"
			        "\"tid\":7}\nnot json\n",
			        hosts[h].host,
			        k,
			        real0 + k * 1000 - hosts[h].off);
			g_autofree char *instance = g_strdup_printf("i%s", hosts[h].host);
			publish(js, "tldrs.trace.tr=2Eclock", hosts[h].host, instance, ev);
		}
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);

	root = get_tef_nats(d, url, "tr.clock", &err);
	g_assert_nonnull(root);
	g_assert_nonnull(strstr(err, "10 events of a daemon that published no clock record"));
	g_assert_nonnull(strstr(err, "left out 30 lines that are not JSON objects"));
	events = tldrs_test_tef_events(root);
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		const char *name = json_object_get_string_member(o, "name");
		gint64 ts, pid, want;
		guint64 k;
		if (g_str_equal(name, "process_labels"))
			continue;
		k = g_ascii_strtoull(name + 2, NULL, 10);
		ts = json_object_get_int_member(o, "ts");
		pid = json_object_get_int_member(o, "pid");
		/* on a's time line: a as it was, b moved by its offset (the later record for its
		 * later events), c not at all */
		if (name[0] == 'a')
			want = real0 + (gint64)k * 1000 - off_a;
		else if (name[0] == 'b')
			want = real0 + (gint64)k * 1000 - off_a + (k >= 5 ? 50 : 0);
		else
			want = real0 + (gint64)k * 1000;
		g_assert_cmpint(ts, ==, want);
		g_assert_cmpint(pid, ==, 7 + (gint64)(name[0] - 'a') * (1 << 22));
		g_assert_cmpint(json_object_get_int_member(o, "tid"), ==, pid);
		o = json_object_get_object_member(o, "args");
		g_assert_cmpint(json_object_get_int_member(o, "ts"), ==, 5);
		g_assert_cmpstr(json_object_get_string_member(o, "s"), ==, "}\"{");
		seen++;
	}
	g_assert_cmpuint(seen, ==, 30);
#else
	g_test_skip("built without libnats");
#endif
}

/* the recipe of docs/many-hosts.md: `tldrs run` on one host, a worker "on another host" that
 * gets only the trace id (ssh host env TRACE_TEF_TLDR_TRACE_ID=... cmd) and talks to its own
 * daemon; get-tef --nats has both, apart */
static void
test_nats_run_across_hosts(void)
{
	g_autoptr(TestNats) nats = NULL;
	g_autoptr(TldrsTestDaemon) local = NULL;
	g_autoptr(TldrsTestDaemon) remote = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *url = NULL;
	g_autofree char *script = NULL;
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	JsonArray *events;
	gint64 local_pid = -1, remote_pid = -1;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	local = start_daemon(url, "build1", NULL);
	remote = start_daemon(url, "build2", NULL);
	/* the "ssh build2" part: nothing of this host's but the trace id crosses */
	script = g_strdup_printf(
	        "printf '{\"name\":\"local-0\",\"ph\":\"i\",\"ts\":1,\"pid\":1,\"tid\":1}\\n' "
	        "| %s send; "
	        "env -i PATH=\"$PATH\" TRACE_TEF_TLDR_TRACE_ID=\"$TRACE_TEF_TLDR_TRACE_ID\" "
	        "TRACE_TEF_TLDR_SOCKET=%s sh -c \"printf '{\\\"name\\\":\\\"remote-0\\\","
	        "\\\"ph\\\":\\\"i\\\",\\\"ts\\\":2,\\\"pid\\\":1,\\\"tid\\\":1}\\\\n' | %s send\"",
	        g_getenv("TLDRS_BIN"),
	        remote->socket_path,
	        g_getenv("TLDRS_BIN"));
	out = g_build_filename(local->tmpdir, "run.json", NULL);
	if (tldrs_test_cli(local,
	                   NULL,
	                   &err,
	                   "run",
	                   "--socket",
	                   local->socket_path,
	                   "-t",
	                   "tr-across",
	                   "-o",
	                   out,
	                   /* no ptrace: the sanitizers' leak check cannot run in a traced
	                    * tldrs send */
	                   "--no-processes",
	                   "--",
	                   "sh",
	                   "-c",
	                   script,
	                   NULL) != 0)
		g_error("tldrs run: %s", err);
	root = wait_nats_events(local, url, "tr-across", "", 2, 30000);
	g_clear_pointer(&root, json_node_unref);
	root = wait_nats_events(local, url, "tr-across", "remote-0", 1, 30000);
	events = tldrs_test_tef_events(root);
	assert_exactly_once(events, "local", 1);
	assert_exactly_once(events, "remote", 1);
	for (guint i = 0; i < json_array_get_length(events); i++) {
		JsonObject *o = json_array_get_object_element(events, i);
		const char *name = json_object_get_string_member_with_default(o, "name", "");
		if (g_str_equal(name, "local-0"))
			local_pid = json_object_get_int_member(o, "pid");
		else if (g_str_equal(name, "remote-0"))
			remote_pid = json_object_get_int_member(o, "pid");
	}
	/* both sent pid 1: two processes */
	g_assert_cmpint(local_pid, ==, 1);
	g_assert_cmpint(remote_pid, ==, 1 + (1 << 22));
	g_assert_cmpint(tldrs_test_daemon_stop(local, SIGTERM), ==, 0);
	g_assert_cmpint(tldrs_test_daemon_stop(remote, SIGTERM), ==, 0);
}

/* a server that wants credentials (@token, or @user and @pass): the sink's @keys publish,
 * get-tef --nats with them in the URL reads, a reader without them is refused and says so */
static void
check_auth(const char *token,
           const char *user,
           const char *pass,
           const char *keys,
           const char *cred)
{
	TestNats *n = g_new0(TestNats, 1);
	g_autoptr(TestNats) nats = n;
	g_autoptr(TldrsTestDaemon) d = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *url = NULL;
	g_autofree char *with_cred = NULL;
	g_autofree char *err = NULL;
	GSocket *s;

	n->dir = tldrs_test_mkdtemp();
	n->log_path = g_build_filename(n->dir, "nats-server.log", NULL);
	n->token = token;
	n->user = user;
	n->pass = pass;
	nats_start(n);
	url = nats_url(nats);
	with_cred = g_strdup_printf("nats://%s@127.0.0.1:%u", cred, nats->port);
	d = start_daemon(url, "alpha", keys);
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-auth\n");
	send_events(s, "alpha", 0, 100, 0);
	tldrs_test_close(s);
	root = wait_nats_events(d, with_cred, "tr-auth", "alpha-", 100, 30000);
	assert_exactly_once(tldrs_test_tef_events(root), "alpha", 100);
	g_assert_cmpint(tldrs_test_cli(d, NULL, &err, "list", "--nats", url, NULL), ==, 1);
	g_assert_nonnull(strstr(err, "cannot connect to NATS at"));
	g_assert_nonnull(strstr(err, "uthorization"));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

static void
test_nats_token(void)
{
	if (!have_nats())
		return;
	check_auth("s3cret", NULL, NULL, "Token=s3cret\n", "s3cret");
}

static void
test_nats_user_password(void)
{
	if (!have_nats())
		return;
	check_auth(NULL, "tracer", "pa55", "User=tracer\nPassword=pa55\n", "tracer:pa55");
}

/* the clock records of an open trace are refreshed every ClockIntervalSec */
static void
test_nats_clock_refresh(void)
{
#if TLDRS_HAVE_NATS
	g_autoptr(TestNats) nats = NULL;
	g_autoptr(TldrsTestDaemon) d = NULL;
	g_autofree char *url = NULL;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsOptions o;
	GSocket *s;
	guint64 records = 0;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	d = start_daemon(url, "alpha", "ClockIntervalSec=1\n");
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-refresh\n");
	send_events(s, "alpha", 0, 1, 0);
	g_assert_cmpint(natsConnection_ConnectTo(&nc, url), ==, NATS_OK);
	g_assert_cmpint(natsConnection_JetStream(&js, nc, NULL), ==, NATS_OK);
	jsOptions_Init(&o);
	o.Stream.Info.SubjectsFilter = "tldrs.clock.tr-refresh";
	/* one at open, then one a second while the connection stays open */
	for (gint64 end = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
	     records < 3 && g_get_monotonic_time() < end;
	     g_usleep(100000)) {
		jsStreamInfo *si = NULL;
		records = 0;
		if (js_GetStreamInfo(&si, js, "TLDRS", &o, NULL) != NATS_OK)
			continue;
		if (si->State.Subjects != NULL && si->State.Subjects->Count == 1)
			records = si->State.Subjects->List[0].Msgs;
		jsStreamInfo_Destroy(si);
	}
	g_assert_cmpuint(records, >=, 3);
	tldrs_test_close(s);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
#else
	g_test_skip("built without libnats");
#endif
}

#if TLDRS_HAVE_NATS
/* a stream TLDRS made before any daemon, on @subject, at most @max_bytes (-1: no limit) with
 * DiscardNew; its JetStream context (*nc: the connection) */
static jsCtx *
add_stream(const char *url, const char *subject, gint64 max_bytes, natsConnection **nc)
{
	jsCtx *js = NULL;
	jsStreamConfig cfg;
	const char *subjects[] = {subject};
	g_assert_cmpint(natsConnection_ConnectTo(nc, url), ==, NATS_OK);
	g_assert_cmpint(natsConnection_JetStream(&js, *nc, NULL), ==, NATS_OK);
	jsStreamConfig_Init(&cfg);
	cfg.Name = "TLDRS";
	cfg.Subjects = subjects;
	cfg.SubjectsLen = 1;
	cfg.MaxBytes = max_bytes;
	cfg.Discard = js_DiscardNew;
	g_assert_cmpint(js_AddStream(NULL, js, &cfg, NULL, NULL), ==, NATS_OK);
	return js;
}
#endif

/* a stream of that name already there, but not for our subjects: the sink says JetStream
 * refuses the events, keeps them, and publishes them once the stream is fixed */
static void
test_nats_stream_refuses(void)
{
#if TLDRS_HAVE_NATS
	g_autoptr(TestNats) nats = NULL;
	g_autoptr(TldrsTestDaemon) d = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *url = NULL;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsStreamConfig cfg;
	const char *ours[] = {"tldrs.>"};
	GSocket *s;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	js = add_stream(url, "other.>", -1, &nc);

	d = start_daemon(url, "alpha", NULL);
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-refused\n");
	send_events(s, "alpha", 0, 50, 0);
	tldrs_test_close(s);
	g_assert_true(tldrs_test_daemon_wait_log(d, "stream TLDRS at", 30000));
	g_assert_true(tldrs_test_daemon_wait_log(d, "refuses events", 30000));
	/* said once, from a look at the existing stream */
	g_assert_true(tldrs_test_daemon_wait_log(d, "its subjects do not cover tldrs.trace.*", 1));
	g_assert_true(tldrs_test_daemon_wait_log(d, "its subjects do not cover tldrs.clock.*", 1));

	jsStreamConfig_Init(&cfg);
	cfg.Name = "TLDRS";
	cfg.Subjects = ours;
	cfg.SubjectsLen = 1;
	g_assert_cmpint(js_UpdateStream(NULL, js, &cfg, NULL, NULL), ==, NATS_OK);
	root = wait_nats_events(d, url, "tr-refused", "alpha-", 50, 30000);
	assert_exactly_once(tldrs_test_tef_events(root), "alpha", 50);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
#else
	g_test_skip("built without libnats");
#endif
}

/* messages NATS can never take: a line over the server's max payload is dropped and counted,
 * the events around it are published; BatchBytes at its maximum (1 MiB, the server's max
 * payload) gives messages the server takes with their headers */
static void
test_nats_too_large(void)
{
	const guint n = 20000;
	g_autoptr(TestNats) nats = NULL;
	g_autoptr(TldrsTestDaemon) d = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GString) big = g_string_new("{\"name\":\"big\",\"ph\":\"i\",\"ts\":1,"
	                                      "\"pid\":1,\"tid\":1,\"args\":{\"pad\":\"");
	g_autofree char *url = NULL;
	g_autofree char *stored = NULL;
	GSocket *s;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	d = start_daemon(url, "alpha", "BatchBytes=1048576\n");
	for (guint i = 0; i < 2 << 20; i++)
		g_string_append_c(big, 'x');
	g_string_append(big, "\"}}\n");
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-big\n");
	send_events(s, "alpha", 0, n / 2, 0);
	tldrs_test_send(s, big->str);
	send_events(s, "alpha", n / 2, n / 2, 0);
	tldrs_test_close(s);
	root = wait_nats_events(d, url, "tr-big", "alpha-", n, 60000);
	assert_exactly_once(tldrs_test_tef_events(root), "alpha", n);
	g_assert_cmpuint(count_named(tldrs_test_tef_events(root), "big"), ==, 0);
	g_assert_true(tldrs_test_daemon_wait_log(d, "is over what NATS takes in one message", 1));
	g_assert_true(wait_list_dropped(d, "1", 10000));
	/* the local file has everything */
	stored = tldrs_test_trace_file(d, "tr-big");
	g_assert_cmpuint(tldrs_test_count_lines(stored), ==, n + 1);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* get-tef --nats on a trace of 20,000 messages of one line each (BatchBytes=1024, lines of
 * about 800 bytes): far more than the server may send ahead of the reader, every event
 * exactly once */
static void
test_nats_many_messages(void)
{
	const guint n = 20000;
	g_autoptr(TestNats) nats = NULL;
	g_autoptr(TldrsTestDaemon) d = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GString) buf = g_string_new(NULL);
	g_autofree char *url = NULL;
	GSocket *s;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	d = start_daemon(url, "alpha", "BatchBytes=1024\n");
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-many\n");
	for (guint i = 0; i < n; i++) {
		g_string_append_printf(buf,
		                       "{\"name\":\"alpha-%u\",\"ph\":\"i\",\"ts\":%u,\"pid\":1,"
		                       "\"tid\":1,\"args\":{\"pad\":\"%0700u\"}}\n",
		                       i,
		                       i,
		                       i);
		if (buf->len > 60000) {
			tldrs_test_send(s, buf->str);
			g_string_truncate(buf, 0);
		}
	}
	tldrs_test_send(s, buf->str);
	tldrs_test_close(s);
	root = wait_nats_events(d, url, "tr-many", "alpha-", n, 120000);
	assert_exactly_once(tldrs_test_tef_events(root), "alpha", n);

	/* the copy get-tef --nats reads back goes beside the output (or, for standard output,
	 * into the data directory), not into $TMPDIR: a TMPDIR that does not exist is no
	 * obstacle */
	{
		g_autofree char *beside = g_build_filename(d->tmpdir, "beside", NULL);
		g_autofree char *out = g_build_filename(beside, "all.json", NULL);
		g_autofree char *data = g_build_filename(d->tmpdir, "fresh-xdg-data", NULL);
		g_autofree char *config = g_build_filename(d->tmpdir, "xdg-config", NULL);
		const char *bin = g_getenv("TLDRS_BIN");
		g_autofree char *err1 = NULL;
		g_autofree char *err2 = NULL;
		g_autofree char *text = NULL;
		g_autofree char *last = g_strdup_printf("\"alpha-%u\"", n - 1);
		g_autoptr(JsonNode) again = NULL;
		g_auto(GStrv) env =
		        g_environ_setenv(g_get_environ(), "TMPDIR", "/nonexistent", TRUE);
		const char *to_file[] = {bin, "get-tef", "--nats", url, "tr-many", "-o", out, NULL};
		const char *to_stdout[] = {bin, "get-tef", "--nats", url, "tr-many", NULL};
		env = g_environ_setenv(env, "XDG_DATA_HOME", data, TRUE);
		env = g_environ_setenv(env, "XDG_CONFIG_HOME", config, TRUE);
		env = g_environ_setenv(env, "XDG_CONFIG_DIRS", config, TRUE);
		g_assert_cmpint(g_mkdir_with_parents(beside, 0700), ==, 0);
		g_assert_cmpint(
		        tldrs_test_run_env(NULL, &err1, to_file, (const char *const *)env), ==, 0);
		again = tldrs_test_load_tef(out);
		assert_exactly_once(tldrs_test_tef_events(again), "alpha", n);
		g_assert_cmpint(
		        tldrs_test_run_env(&text, &err2, to_stdout, (const char *const *)env),
		        ==,
		        0);
		g_assert_nonnull(strstr(text, last));
	}
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* every event named @host-0 … @host-(n-1) exactly once in the TEF text @text (a trace too
 * large to load as one JSON tree) */
static void
assert_exactly_once_text(const char *text, const char *host, guint n)
{
	g_autofree guint8 *seen = g_malloc0(n);
	g_autofree char *prefix = g_strdup_printf("\"name\":\"%s-", host);
	for (const char *p = text; (p = strstr(p, prefix)) != NULL;) {
		char *end = NULL;
		guint64 k;
		p += strlen(prefix);
		k = g_ascii_strtoull(p, &end, 10);
		g_assert_true(end != p && *end == '"' && k < n);
		mark_seen(seen, host, k);
	}
	assert_all_seen(seen, host, n);
}

/* get-tef --nats on messages of about 700 kB, of many short events each, that take the reader
 * longer than the server takes to send them, with a small message after each: once the reader
 * is 16 MiB behind, libnats drops the next large message (its ordered consumer has already
 * counted it as delivered) and queues the small one after it, which is all it takes for
 * natsSubscription_NextMsg() not to report the drop (it reports a slow consumer only if nothing
 * was queued since). Every event exactly once, or a failure: never a read with a hole. */
static void
test_nats_read_gaps(void)
{
#if TLDRS_HAVE_NATS
	const guint n = 160;
	g_autoptr(TestNats) nats = NULL;
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(GString) filler = g_string_new(NULL);
	g_autofree char *url = NULL;
	g_autofree char *out = g_build_filename(d->tmpdir, "gaps.json", NULL);
	natsConnection *nc = NULL;
	jsCtx *js = NULL;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	js = add_stream(url, "tldrs.>", -1, &nc);
	for (guint i = 0; i < 20000; i++)
		g_string_append(filler, "{\"ph\":\"i\",\"ts\":1,\"pid\":1,\"tid\":1}\n");
	for (guint i = 0; i < n; i++) {
		g_autofree char *data = g_strdup_printf(
		        "{\"name\":\"alpha-%u\",\"ph\":\"i\",\"ts\":%u,\"pid\":1,\"tid\":1}\n%s",
		        i,
		        i,
		        i % 2 == 0 ? filler->str : "");
		publish(js, "tldrs.trace.tr-gaps", "alpha", "ia", data);
	}
	/* how far the reader falls behind depends on the machine: several reads */
	for (guint k = 0; k < 10; k++) {
		g_autofree char *err = NULL;
		g_autofree char *text = NULL;
		if (tldrs_test_cli(
		            d, NULL, &err, "get-tef", "--nats", url, "tr-gaps", "-o", out, NULL) !=
		    0)
			g_error("get-tef --nats failed: %s", err);
		g_assert_true(g_file_get_contents(out, &text, NULL, NULL));
		assert_exactly_once_text(text, "alpha", n);
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
#else
	g_test_skip("built without libnats");
#endif
}

/* JetStream up but refusing (a stream at its MaxBytes with DiscardNew): after a while the
 * sink stops holding up the clients, keeps BufferBytes and drops the rest, counted; the
 * jsonl sink gets every event */
static void
test_nats_stream_full(void)
{
#if TLDRS_HAVE_NATS
	const guint n = 20000;
	g_autoptr(TestNats) nats = NULL;
	g_autoptr(TldrsTestDaemon) d = NULL;
	g_autoptr(GRegex) re = g_regex_new("trace tr-full: ([0-9]+) events dropped", 0, 0, NULL);
	g_autoptr(GMatchInfo) m = NULL;
	g_autofree char *url = NULL;
	g_autofree char *stored = NULL;
	g_autofree char *log = NULL;
	g_autofree char *count = NULL;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	GSocket *s;

	if (!have_nats())
		return;
	nats = nats_new(0);
	url = nats_url(nats);
	js = add_stream(url, "tldrs.>", 64 << 10, &nc);

	/* MaxBacklogBytes below BufferBytes: a sink that held on to what the stream does not
	 * take would stop the daemon reading its clients for good */
	d = tldrs_test_daemon_new();
	{
		g_autofree char *text = g_strdup_printf(
		        "[Daemon]\nSinks=jsonl;nats\nMaxBacklogBytes=65536\n"
		        "[Sink nats]\nURL=%s\nHost=alpha\nBufferBytes=1048576\nBatchBytes=4096\n",
		        url);
		g_autofree char *conf = tldrs_test_write_config(d, text);
		const char *args[] = {"--config", conf, NULL};
		tldrs_test_daemon_start(d, args);
	}
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-full\n");
	/* a first few the stream takes: the sink is connected and publishing */
	send_events(s, "alpha", 0, 100, 0);
	json_node_unref(wait_nats_events(d, url, "tr-full", "alpha-", 100, 30000));
	send_events(s, "alpha", 100, n - 100, 0);
	tldrs_test_close(s);
	/* the daemon read the whole client (the trace closed), the local file has it all */
	g_assert_true(
	        tldrs_test_daemon_wait_log(d, "events dropped: the NATS buffer was full", 60000));
	stored = tldrs_test_trace_file(d, "tr-full");
	g_assert_cmpuint(tldrs_test_count_lines(stored), ==, n);
	g_assert_true(tldrs_test_daemon_wait_log(d, "refuses events", 1));
	g_assert_true(tldrs_test_daemon_wait_log(d, "no longer holding up clients", 1));
	log = tldrs_test_daemon_log(d);
	g_assert_true(g_regex_match(re, log, 0, &m));
	count = g_match_info_fetch(m, 1);
	g_assert_cmpuint(g_ascii_strtoull(count, NULL, 10), >, 0);
	g_assert_true(wait_list_dropped(d, count, 10000));
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
#else
	g_test_skip("built without libnats");
#endif
}

/* bad input: each error names what was wrong */
static void
test_nats_bad_input(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *dead = g_strdup_printf("nats://127.0.0.1:%u", free_port());
	const struct {
		const char *group;
		const char *needle;
	} confs[] = {
	        {"URL=foo://x\n", "[Sink nats] URL: expected a NATS URL like nats://HOST:4222"},
	        {"Replicas=9\n", "[Sink nats] Replicas: expected a number from 1 to 5, got \"9\""},
	        {"Subjects=tldrs.trace.>\n",
	         "[Sink nats] Subjects: expected subjects separated by ';' that cover "
	         "tldrs.trace.* and tldrs.clock.*, got \"tldrs.trace.>\""},
	        {"URL=nats://me:s3cret@127.0.0.1:4222/path\n",
	         "got \"nats://***@127.0.0.1:4222/path\""},
	        {"Retention=forever\n", "[Sink nats] Retention: expected limits (interest and"},
	        {"Retention=interest\n", "[Sink nats] Retention: expected limits (interest and"},
	        {"Retention=workqueue\n", "[Sink nats] Retention: expected limits (interest and"},
	        {"User=me\n", "[Sink nats] User and Password: expected both or neither"},
	        {"TLSCAFile=/nonexistent/ca.pem\n",
	         "[Sink nats] TLSCAFile: expected an existing file"},
	        {"Colour=blue\n", "[Sink nats] Colour: unknown key"},
	};

	if (!have_nats())
		return;
	for (guint i = 0; i < G_N_ELEMENTS(confs); i++) {
		g_autofree char *text = g_strdup_printf(
		        "[Daemon]\nSinks=jsonl;nats\n[Sink nats]\n%s", confs[i].group);
		g_autofree char *conf = tldrs_test_write_config(d, text);
		g_autofree char *err = NULL;
		g_assert_cmpint(tldrs_test_serve_config(d, conf, &err), ==, 1);
		if (strstr(err, confs[i].needle) == NULL)
			g_error("%s: %s", confs[i].group, err);
		g_assert_null(strstr(err, "s3cret"));
	}
	{
		g_autofree char *err = NULL;
		g_assert_cmpint(
		        tldrs_test_cli(d, NULL, &err, "get-tef", "--nats", "foo://x", "t", NULL),
		        ==,
		        1);
		g_assert_nonnull(strstr(err, "got \"foo://x\""));
	}
	{
		g_autofree char *err = NULL;
		g_assert_cmpint(tldrs_test_cli(d, NULL, &err, "list", "--nats", dead, NULL), ==, 1);
		g_assert_nonnull(strstr(err, "cannot connect to NATS at"));
		g_assert_nonnull(strstr(err, dead));
	}
	/* credentials in the URL stay out of messages */
	{
		g_autofree char *err = NULL;
		g_autofree char *secret = g_strdup_printf("nats://me:s3cret@%s", dead + 7);
		g_assert_cmpint(
		        tldrs_test_cli(d, NULL, &err, "list", "--nats", secret, NULL), ==, 1);
		g_assert_nonnull(strstr(err, "cannot connect to NATS at nats://127.0.0.1:"));
		g_assert_null(strstr(err, "s3cret"));
	}
	/* a plugin directory without the reader module: said, naming it */
	{
		g_autofree char *empty = g_build_filename(d->tmpdir, "no-plugins", NULL);
		g_autofree char *err = NULL;
		g_auto(GStrv) env =
		        g_environ_setenv(g_get_environ(), "TLDRS_PLUGIN_DIR", empty, TRUE);
		const char *argv[] = {g_getenv("TLDRS_BIN"), "list", "--nats", dead, NULL};
		g_assert_cmpint(g_mkdir_with_parents(empty, 0700), ==, 0);
		g_assert_cmpint(
		        tldrs_test_run_env(NULL, &err, argv, (const char *const *)env), ==, 1);
		g_assert_nonnull(strstr(err, "no NATS support: no tldrs-nats-reader.so in"));
		g_assert_nonnull(strstr(err, empty));
	}
	/* usage */
	{
		g_autofree char *err1 = NULL;
		g_autofree char *err2 = NULL;
		g_assert_cmpint(
		        tldrs_test_cli(d, NULL, &err1, "list", "--nats", dead, "-l", NULL), ==, 2);
		g_assert_nonnull(strstr(err1, "--nats goes without -l and -d"));
		g_assert_cmpint(
		        tldrs_test_cli(d, NULL, &err2, "get-tef", "--stream", "S", "t", NULL),
		        ==,
		        2);
		g_assert_nonnull(strstr(err2, "--stream needs --nats"));
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/nats/many-hosts", test_nats_many_hosts);
	g_test_add_func("/tldrs/nats/server-restart", test_nats_server_restart);
	g_test_add_func("/tldrs/nats/kill-mid-burst", test_nats_kill_mid_burst);
	g_test_add_func("/tldrs/nats/bounded-buffer", test_nats_bounded_buffer);
	g_test_add_func("/tldrs/nats/emit-tef-dbus", test_nats_emit_tef_dbus);
	g_test_add_func("/tldrs/nats/clock-alignment", test_nats_clock_alignment);
	g_test_add_func("/tldrs/nats/bad-input", test_nats_bad_input);
	g_test_add_func("/tldrs/nats/run-across-hosts", test_nats_run_across_hosts);
	g_test_add_func("/tldrs/nats/token", test_nats_token);
	g_test_add_func("/tldrs/nats/user-password", test_nats_user_password);
	g_test_add_func("/tldrs/nats/clock-refresh", test_nats_clock_refresh);
	g_test_add_func("/tldrs/nats/stream-refuses", test_nats_stream_refuses);
	g_test_add_func("/tldrs/nats/too-large", test_nats_too_large);
	g_test_add_func("/tldrs/nats/many-messages", test_nats_many_messages);
	g_test_add_func("/tldrs/nats/read-gaps", test_nats_read_gaps);
	g_test_add_func("/tldrs/nats/stream-full", test_nats_stream_full);
	return g_test_run();
}
