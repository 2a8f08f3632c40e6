/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The D-Bus interface of the real daemon on a private bus (GTestDBus). */

#include <signal.h>
#include <string.h>

#include <glib/gstdio.h>

#include "tldrs-test-util.h"

#define NAME  "org.tldrs.Daemon1"
#define PATH  "/org/tldrs/Daemon1"
#define IFACE "org.tldrs.Daemon1"

static GDBusConnection *
bus(void)
{
	g_autoptr(GError) error = NULL;
	GDBusConnection *c = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
	g_assert_no_error(error);
	return c;
}

/* call a method; NULL with @error set on a D-Bus error */
static GVariant *
call(const char *method, GVariant *params, const char *reply_type, GError **error)
{
	g_autoptr(GDBusConnection) c = bus();
	return g_dbus_connection_call_sync(c,
	                                   NAME,
	                                   PATH,
	                                   IFACE,
	                                   method,
	                                   params,
	                                   reply_type != NULL ? G_VARIANT_TYPE(reply_type) : NULL,
	                                   G_DBUS_CALL_FLAGS_NO_AUTO_START,
	                                   10000,
	                                   NULL,
	                                   error);
}

/* a round trip to the bus: the AddMatch of a subscription before it is in effect */
static void
sync_bus(GDBusConnection *c)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply G_GNUC_UNUSED =
	        g_dbus_connection_call_sync(c,
	                                    "org.freedesktop.DBus",
	                                    "/org/freedesktop/DBus",
	                                    "org.freedesktop.DBus",
	                                    "GetId",
	                                    NULL,
	                                    NULL,
	                                    G_DBUS_CALL_FLAGS_NONE,
	                                    5000,
	                                    NULL,
	                                    &error);
	g_assert_no_error(error);
}

static void
assert_dbus_error(GError *error, const char *name)
{
	g_autofree char *remote = NULL;
	g_assert_nonnull(error);
	remote = g_dbus_error_get_remote_error(error);
	if (g_strcmp0(remote, name) != 0)
		g_error("expected %s, got %s: %s", name, remote, error->message);
	/* a message a person can read */
	g_assert_cmpuint(strlen(error->message), >, 10);
}

static GVariant *
property(const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	GVariant *value = NULL;
	g_autoptr(GDBusConnection) c = bus();
	reply = g_dbus_connection_call_sync(c,
	                                    NAME,
	                                    PATH,
	                                    "org.freedesktop.DBus.Properties",
	                                    "Get",
	                                    g_variant_new("(ss)", IFACE, name),
	                                    G_VARIANT_TYPE("(v)"),
	                                    G_DBUS_CALL_FLAGS_NONE,
	                                    5000,
	                                    NULL,
	                                    &error);
	g_assert_no_error(error);
	g_variant_get(reply, "(v)", &value);
	return value;
}

static void
send_trace(TldrsTestDaemon *d, const char *id, guint n, gboolean close, GSocket **keep)
{
	GSocket *s = tldrs_test_connect(d->socket_path);
	g_autofree char *open = g_strdup_printf("OPEN %s\n", id);
	tldrs_test_send(s, open);
	for (guint i = 0; i < n; i++) {
		g_autofree char *e = g_strdup_printf(
		        "{\"ph\":\"i\",\"name\":\"e%u\",\"ts\":%u,\"pid\":1,\"tid\":0}\n", i, i);
		tldrs_test_send(s, e);
	}
	if (close)
		tldrs_test_close(s);
	else
		*keep = s;
}

typedef struct {
	GPtrArray *seen; /* "Signal:arg1:arg2" */
} Signals;

static void
signal_cb(GDBusConnection *connection,
          const char *sender,
          const char *object_path,
          const char *interface_name,
          const char *signal_name,
          GVariant *parameters,
          gpointer user_data)
{
	Signals *s = user_data;
	GString *str = g_string_new(signal_name);
	for (gsize i = 0; i < g_variant_n_children(parameters); i++) {
		g_autoptr(GVariant) v = g_variant_get_child_value(parameters, i);
		if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING))
			g_string_append_printf(str, ":%s", g_variant_get_string(v, NULL));
	}
	g_ptr_array_add(s->seen, g_string_free(str, FALSE));
}

static gboolean
wait_for(Signals *s, const char *what, guint timeout_ms)
{
	gint64 end = g_get_monotonic_time() + timeout_ms * 1000;
	while (g_get_monotonic_time() < end) {
		for (guint i = 0; i < s->seen->len; i++) {
			if (g_str_has_prefix(g_ptr_array_index(s->seen, i), what))
				return TRUE;
		}
		g_main_context_iteration(NULL, FALSE);
		g_usleep(5000);
	}
	return FALSE;
}

/* every method, its errors, and the signals they cause */
static void
test_methods_and_signals(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autoptr(GDBusConnection) c = bus();
	g_autofree char *out = g_build_filename(d->tmpdir, "emit.json", NULL);
	g_autofree char *jsonl = tldrs_test_trace_file(d, "tr-a");
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) dict = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = NULL;
	Signals sig = {g_ptr_array_new_with_free_func(g_free)};
	GSocket *live = NULL;
	guint sub;
	guint64 events = 0, refused = 0;
	guint32 clients = 0;
	gboolean active = FALSE;

	sub = g_dbus_connection_signal_subscribe(
	        c, NAME, IFACE, NULL, PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE, signal_cb, &sig, NULL);
	/* the match rule is in effect before the trace opens */
	sync_bus(c);
	send_trace(d, "tr-a", 5, FALSE, &live);
	tldrs_test_send(live, "not json\n");
	g_assert_true(wait_for(&sig, "TraceOpened:tr-a", 5000));

	/* Flush: the events are in the file when it replies */
	reply = call("Flush", NULL, "()", &error);
	g_assert_no_error(error);
	g_clear_pointer(&reply, g_variant_unref);
	g_assert_cmpuint(tldrs_test_count_lines(jsonl), ==, 5);

	/* ListTraces and GetTrace with their counts */
	reply = call("ListTraces", NULL, "(a(sa{sv}))", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_variant_n_children(g_variant_get_child_value(reply, 0)), ==, 1);
	g_clear_pointer(&reply, g_variant_unref);
	reply = call("GetTrace", g_variant_new("(s)", "tr-a"), "(a{sv})", &error);
	g_assert_no_error(error);
	dict = g_variant_get_child_value(reply, 0);
	g_assert_true(g_variant_lookup(dict, "events", "t", &events));
	g_assert_true(g_variant_lookup(dict, "refused", "t", &refused));
	g_assert_true(g_variant_lookup(dict, "clients", "u", &clients));
	g_assert_true(g_variant_lookup(dict, "active", "b", &active));
	g_assert_cmpuint(events, ==, 5);
	g_assert_cmpuint(refused, ==, 1);
	g_assert_cmpuint(clients, ==, 1);
	g_assert_true(active);
	g_clear_pointer(&reply, g_variant_unref);
	reply = call("GetTrace", g_variant_new("(s)", "tr-nope"), "(a{sv})", &error);
	assert_dbus_error(error, "org.tldrs.Daemon1.Error.NoSuchTrace");
	g_clear_error(&error);

	/* EmitTef: the reply comes with the file complete */
	reply = call("EmitTef",
	             g_variant_new_parsed("('tr-a', %s, {'format': <'array'>})", out),
	             "(t)",
	             &error);
	g_assert_no_error(error);
	g_variant_get(reply, "(t)", &events);
	g_assert_cmpuint(events, ==, 5);
	g_clear_pointer(&reply, g_variant_unref);
	root = tldrs_test_load_tef(out);
	g_assert_true(JSON_NODE_HOLDS_ARRAY(root));
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 5);
	g_assert_true(wait_for(&sig, "TefEmitted:tr-a:", 5000));
	reply = call(
	        "EmitTef", g_variant_new_parsed("('tr-a', 'rel.json', @a{sv} {})"), "(t)", &error);
	assert_dbus_error(error, "org.tldrs.Daemon1.Error.InvalidPath");
	g_clear_error(&error);
	reply = call(
	        "EmitTef", g_variant_new_parsed("('tr-a', %s, @a{sv} {})", jsonl), "(t)", &error);
	assert_dbus_error(error, "org.tldrs.Daemon1.Error.InvalidPath");
	g_clear_error(&error);
	reply = call(
	        "EmitTef", g_variant_new_parsed("('tr-nope', %s, @a{sv} {})", out), "(t)", &error);
	assert_dbus_error(error, "org.tldrs.Daemon1.Error.NoSuchTrace");
	g_clear_error(&error);
	reply = call("EmitTef",
	             g_variant_new_parsed("('tr-a', %s, {'colour': <'red'>})", out),
	             "(t)",
	             &error);
	assert_dbus_error(error, "org.tldrs.Daemon1.Error.InvalidArgument");
	g_clear_error(&error);

	/* DeleteTrace: refused while connected, then done, then no such trace */
	reply = call("DeleteTrace", g_variant_new("(s)", "tr-a"), "()", &error);
	assert_dbus_error(error, "org.tldrs.Daemon1.Error.Busy");
	g_clear_error(&error);
	tldrs_test_close(live);
	g_assert_true(wait_for(&sig, "TraceClosed:tr-a", 5000));
	reply = call("DeleteTrace", g_variant_new("(s)", "tr-a"), "()", &error);
	g_assert_no_error(error);
	g_clear_pointer(&reply, g_variant_unref);
	g_assert_false(g_file_test(jsonl, G_FILE_TEST_EXISTS));
	reply = call("DeleteTrace", g_variant_new("(s)", "tr-a"), "()", &error);
	assert_dbus_error(error, "org.tldrs.Daemon1.Error.NoSuchTrace");
	g_clear_error(&error);

	/* Quit: orderly, nothing lost */
	send_trace(d, "tr-q", 3, FALSE, &live);
	reply = call("Quit", NULL, "()", &error);
	g_assert_no_error(error);
	g_assert_cmpint(tldrs_test_daemon_wait(d), ==, 0);
	{
		g_autofree char *q = tldrs_test_trace_file(d, "tr-q");
		g_assert_cmpuint(tldrs_test_count_lines(q), ==, 3);
	}
	tldrs_test_close(live);
	g_dbus_connection_signal_unsubscribe(c, sub);
	g_ptr_array_unref(sig.seen);
}

/* "active" and "clients" agree in every reply, also while the trace closes after its last
 * client has left (a short delay lets a late child still OPEN it) */
static void
test_active_agrees_with_clients(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autoptr(GDBusConnection) c = bus();
	Signals sig = {g_ptr_array_new_with_free_func(g_free)};
	gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	GSocket *live = NULL;
	guint sub;
	guint replies = 0;
	gboolean closed = FALSE;

	sub = g_dbus_connection_signal_subscribe(
	        c, NAME, IFACE, NULL, PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE, signal_cb, &sig, NULL);
	sync_bus(c);
	send_trace(d, "tr-act", 2, FALSE, &live);
	g_assert_true(wait_for(&sig, "TraceOpened:tr-act", 5000));
	tldrs_test_close(live);
	/* ask over and over from the moment the client left until the trace has closed */
	while (!closed && g_get_monotonic_time() < end) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GVariant) reply =
		        call("GetTrace", g_variant_new("(s)", "tr-act"), "(a{sv})", &error);
		g_autoptr(GVariant) dict = NULL;
		guint32 clients = 0;
		gboolean active = FALSE;

		g_assert_no_error(error);
		dict = g_variant_get_child_value(reply, 0);
		g_assert_true(g_variant_lookup(dict, "clients", "u", &clients));
		g_assert_true(g_variant_lookup(dict, "active", "b", &active));
		if (active != (clients > 0))
			g_error("active is %d with %u clients", active, clients);
		replies++;
		while (g_main_context_iteration(NULL, FALSE))
			;
		for (guint i = 0; i < sig.seen->len; i++)
			closed |= g_str_equal(g_ptr_array_index(sig.seen, i), "TraceClosed:tr-act");
	}
	g_assert_true(closed);
	g_test_message("%u replies until the trace closed", replies);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_dbus_connection_signal_unsubscribe(c, sub);
	g_ptr_array_unref(sig.seen);
}

static void
properties_changed_cb(GDBusConnection *connection,
                      const char *sender,
                      const char *object_path,
                      const char *interface_name,
                      const char *signal_name,
                      GVariant *parameters,
                      gpointer user_data)
{
	guint *n = user_data;
	(*n)++;
}

/* properties, and the counters updated at most once a second */
static void
test_properties(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autoptr(GDBusConnection) c = bus();
	g_autoptr(GVariant) v = NULL;
	g_autofree const char **sinks = NULL;
	guint changes = 0;
	guint sub;
	GSocket *live = NULL;

	v = property("Version");
	g_assert_true(g_str_has_prefix(g_variant_get_string(v, NULL), "0."));
	g_clear_pointer(&v, g_variant_unref);
	v = property("SocketPath");
	g_assert_cmpstr(g_variant_get_string(v, NULL), ==, d->socket_path);
	g_clear_pointer(&v, g_variant_unref);
	v = property("DataDir");
	g_assert_cmpstr(g_variant_get_string(v, NULL), ==, d->data_dir);
	g_clear_pointer(&v, g_variant_unref);
	v = property("Sinks");
	sinks = g_variant_get_strv(v, NULL);
	g_assert_cmpstr(sinks[0], ==, "jsonl");
	g_clear_pointer(&v, g_variant_unref);

	sub = g_dbus_connection_signal_subscribe(c,
	                                         NAME,
	                                         "org.freedesktop.DBus.Properties",
	                                         "PropertiesChanged",
	                                         PATH,
	                                         NULL,
	                                         G_DBUS_SIGNAL_FLAGS_NONE,
	                                         properties_changed_cb,
	                                         &changes,
	                                         NULL);
	sync_bus(c);
	/* many events and refusals in a short time: few PropertiesChanged */
	send_trace(d, "tr-p", 1000, FALSE, &live);
	for (guint i = 0; i < 100; i++)
		tldrs_test_send(live, "[]\n");
	for (guint i = 0; i < 250; i++) {
		g_main_context_iteration(NULL, FALSE);
		g_usleep(10000);
	}
	v = property("EventsReceived");
	g_assert_cmpuint(g_variant_get_uint64(v), ==, 1000);
	g_clear_pointer(&v, g_variant_unref);
	v = property("LinesRefused");
	g_assert_cmpuint(g_variant_get_uint64(v), ==, 100);
	g_clear_pointer(&v, g_variant_unref);
	v = property("ConnectedClients");
	g_assert_cmpuint(g_variant_get_uint32(v), ==, 1);
	g_clear_pointer(&v, g_variant_unref);
	g_assert_cmpuint(changes, >=, 1);
	g_assert_cmpuint(changes, <=, 4);
	g_dbus_connection_signal_unsubscribe(c, sub);
	tldrs_test_close(live);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* a second daemon: exit 1 before touching the socket; --replace takes over */
static void
test_name_owned_and_replace(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autoptr(TldrsTestDaemon) d2 = tldrs_test_daemon_new();
	g_autofree char *err = NULL;
	const char *replace[] = {"--replace", NULL};

	g_assert_cmpint(tldrs_test_cli(d2,
	                               NULL,
	                               &err,
	                               "serve",
	                               "--socket",
	                               d2->socket_path,
	                               "-d",
	                               d2->data_dir,
	                               NULL),
	                ==,
	                1);
	g_assert_nonnull(strstr(err, "org.tldrs.Daemon1 is already owned"));
	g_assert_false(g_file_test(d2->socket_path, G_FILE_TEST_EXISTS));

	/* --replace on the same socket: the old daemon leaves in order, the new one serves */
	g_free(d2->socket_path);
	d2->socket_path = g_strdup(d->socket_path);
	tldrs_test_daemon_start(d2, replace);
	g_assert_cmpint(tldrs_test_daemon_wait(d), ==, 0);
	/* the old daemon removed its socket on the way out: the new one binds it then */
	for (guint i = 0; i < 500 && !tldrs_test_socket_ready(d2->socket_path); i++)
		g_usleep(10000);
	send_trace(d2, "tr-r", 2, TRUE, NULL);
	g_assert_cmpint(tldrs_test_daemon_stop(d2, SIGTERM), ==, 0);
	{
		g_autofree char *fn = tldrs_test_trace_file(d2, "tr-r");
		g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 2);
	}
}

/* --replace of the daemon that uses the same data directory, on a bus: it stops in order,
 * gives the name back, and the new one owns the name and serves the socket */
static void
test_replace_same_data_dir(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autoptr(TldrsTestDaemon) d2 = NULL;
	GSocket *keep = NULL;

	send_trace(d, "tr-same", 3, FALSE, &keep);
	d2 = tldrs_test_daemon_replace(d, NULL);
	tldrs_test_close(keep);
	g_assert_true(tldrs_test_daemon_wait_log(d2, "owning org.tldrs.Daemon1", 10000));
	send_trace(d2, "tr-same", 2, TRUE, NULL);
	g_assert_cmpint(tldrs_test_daemon_stop(d2, SIGTERM), ==, 0);
	{
		g_autofree char *fn = tldrs_test_trace_file(d2, "tr-same");
		g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 5);
	}
}

/* without a bus, or with DBus=none, the socket works as usual */
static void
test_without_bus(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autoptr(TldrsTestDaemon) d2 = tldrs_test_daemon_new();
	g_autofree char *conf = g_build_filename(d2->tmpdir, "tldrs.conf", NULL);
	const char *args[] = {"--config", conf, NULL};
	g_autofree char *log = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) reply = NULL;
	const char *saved = g_getenv("TLDRS_TEST_BUS");

	g_unsetenv("TLDRS_TEST_BUS");
	tldrs_test_daemon_start(d, NULL);
	g_setenv("TLDRS_TEST_BUS", saved, TRUE);
	send_trace(d, "tr-nobus", 2, TRUE, NULL);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "no session bus"));
	{
		g_autofree char *fn = tldrs_test_trace_file(d, "tr-nobus");
		g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 2);
	}

	/* DBus=none on a working bus: the name stays free */
	g_file_set_contents(conf, "[Daemon]\nDBus=none\n", -1, NULL);
	tldrs_test_daemon_start(d2, args);
	reply = call("ListTraces", NULL, NULL, &error);
	g_assert_nonnull(error);
	g_assert_cmpint(tldrs_test_daemon_stop(d2, SIGTERM), ==, 0);
}

/* the gdbus commands of docs/dbus.md, verbatim */
static void
test_documented_commands(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *doc =
	        g_build_filename(g_getenv("G_TEST_SRCDIR"), "..", "docs", "dbus.md", NULL);
	g_autofree char *contents = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) cmds = NULL;
	guint ran = 0;

	if (!tldrs_test_have_program("gdbus")) {
		g_test_skip("gdbus is not installed");
		return;
	}
	g_file_get_contents(doc, &contents, NULL, &error);
	g_assert_no_error(error);
	send_trace(d, "tr-demo", 3, TRUE, NULL);
	g_usleep(200000);
	lines = g_strsplit(contents, "\n", -1);
	/* in the order of the document, but Quit last */
	cmds = g_ptr_array_new();
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], "gdbus call ") && strstr(lines[i], ".Quit") == NULL)
			g_ptr_array_add(cmds, lines[i]);
	}
	for (guint i = 0; lines[i] != NULL; i++) {
		if (g_str_has_prefix(lines[i], "gdbus call ") && strstr(lines[i], ".Quit") != NULL)
			g_ptr_array_add(cmds, lines[i]);
	}
	for (guint i = 0; i < cmds->len; i++) {
		const char *cmd = g_ptr_array_index(cmds, i);
		g_autofree char *out = NULL;
		g_autofree char *err = NULL;
		int status = 0;
		g_spawn_sync(NULL,
		             (char *[]){"/bin/sh", "-c", (char *)cmd, NULL},
		             NULL,
		             G_SPAWN_DEFAULT,
		             NULL,
		             NULL,
		             &out,
		             &err,
		             &status,
		             &error);
		g_assert_no_error(error);
		if (!g_spawn_check_wait_status(status, NULL))
			g_error("documented command failed: %s\n%s", cmd, err);
		if (strstr(cmd, "ListTraces") != NULL)
			g_assert_nonnull(strstr(out, "'tr-demo'"));
		if (strstr(cmd, "EmitTef") != NULL)
			g_assert_cmpstr(out, ==, "(uint64 3,)\n");
		ran++;
	}
	g_unlink("/tmp/tr-demo.json");
	g_assert_cmpuint(ran, >=, 7);
	/* the last documented command is Quit */
	g_assert_cmpint(tldrs_test_daemon_wait(d), ==, 0);
}

int
main(int argc, char **argv)
{
	g_autoptr(GTestDBus) test_bus = NULL;
	int rc;

	g_test_init(&argc, &argv, NULL);
	test_bus = g_test_dbus_new(G_TEST_DBUS_NONE);
	g_test_dbus_up(test_bus);
	g_setenv("TLDRS_TEST_BUS", "1", TRUE);
	g_test_add_func("/tldrs/dbus/methods-and-signals", test_methods_and_signals);
	g_test_add_func("/tldrs/dbus/active-agrees-with-clients", test_active_agrees_with_clients);
	g_test_add_func("/tldrs/dbus/properties", test_properties);
	g_test_add_func("/tldrs/dbus/name-owned-and-replace", test_name_owned_and_replace);
	g_test_add_func("/tldrs/dbus/replace-same-data-dir", test_replace_same_data_dir);
	g_test_add_func("/tldrs/dbus/without-bus", test_without_bus);
	g_test_add_func("/tldrs/dbus/documented-commands", test_documented_commands);
	rc = g_test_run();
	g_test_dbus_down(test_bus);
	return rc;
}
