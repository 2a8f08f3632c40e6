/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* TldrsListener in-process: the sockets it binds, serves and removes, a live socket it does
 * not take, a stale one it replaces, the connections it hands on and MaxClients. */

#include <string.h>
#include <sys/stat.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

#include "tldrs-listener.h"
#include "tldrs-test-util.h"

typedef struct {
	GPtrArray *connections;
	gint pid;
} Accepted;

static void
load_cb(guint *connections, guint64 *files, gpointer user_data)
{
	Accepted *a = user_data;
	*connections = a->connections->len;
	*files = 0;
}

static void
connection_cb(TldrsListener *listener, GSocketConnection *connection, gint pid, gpointer user_data)
{
	Accepted *a = user_data;
	(void)listener;
	g_ptr_array_add(a->connections, g_object_ref(connection));
	a->pid = pid;
}

static GSocket *
connect_to(const char *path)
{
	g_autoptr(GSocket) s = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	g_autoptr(GError) error = NULL;
	g_socket_connect(s, addr, NULL, &error);
	g_assert_no_error(error);
	return g_steal_pointer(&s);
}

/* the main loop until @a has @n connections */
static void
wait_accepted(Accepted *a, guint n)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (a->connections->len < n && g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
	g_assert_cmpuint(a->connections->len, ==, n);
}

static void
test_listener_sockets(void)
{
	g_autofree char *dir = tldrs_test_mkdtemp();
	g_autofree char *main_path = g_build_filename(dir, "main.socket", NULL);
	g_autofree char *also = g_build_filename(dir, "private.socket", NULL);
	g_autoptr(TldrsLogLimit) limit = tldrs_log_limit_new();
	Accepted a = {g_ptr_array_new_with_free_func(g_object_unref), 0};
	g_autoptr(TldrsListener) l = tldrs_listener_new(8, limit, load_cb, &a);
	g_autoptr(TldrsListener) second = tldrs_listener_new(8, limit, load_cb, &a);
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) paths = NULL;
	GStatBuf sb;

	g_signal_connect(l, "connection", G_CALLBACK(connection_cb), &a);
	g_assert_true(tldrs_listener_listen(l, main_path, FALSE, &error));
	g_assert_no_error(error);
	g_assert_true(tldrs_listener_listen_also(l, also, &error));
	g_assert_no_error(error);
	paths = tldrs_listener_get_paths(l);
	g_assert_cmpuint(g_strv_length(paths), ==, 2);
	g_assert_cmpstr(paths[0], ==, main_path);
	g_assert_cmpstr(paths[1], ==, also);
	g_assert_cmpstr(tldrs_listener_get_bound_path(l), ==, main_path);
	/* owner-only from the start */
	g_assert_cmpint(g_stat(main_path, &sb), ==, 0);
	g_assert_cmpint(sb.st_mode & 0777, ==, 0600);

	/* a live socket is not taken */
	g_assert_false(tldrs_listener_listen(second, main_path, FALSE, &error));
	g_assert_nonnull(strstr(error->message, "another daemon is already listening"));
	g_clear_error(&error);

	/* both sockets hand on connections, with the peer's pid */
	tldrs_listener_start(l);
	{
		g_autoptr(GSocket) c1 G_GNUC_UNUSED = connect_to(main_path);
		g_autoptr(GSocket) c2 G_GNUC_UNUSED = connect_to(also);
		wait_accepted(&a, 2);
		g_assert_cmpint(a.pid, ==, getpid());
	}
	tldrs_listener_stop(l);
	/* the sockets it bound are gone */
	g_assert_false(g_file_test(main_path, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(also, G_FILE_TEST_EXISTS));
	g_ptr_array_unref(a.connections);
	tldrs_test_rm_rf(dir);
}

/* a socket file nobody listens on is replaced; MaxClients refuses the one too many */
static void
test_listener_stale_and_max_clients(void)
{
	g_autofree char *dir = tldrs_test_mkdtemp();
	g_autofree char *path = g_build_filename(dir, "tldrs.socket", NULL);
	g_autoptr(TldrsLogLimit) limit = tldrs_log_limit_new();
	Accepted a = {g_ptr_array_new_with_free_func(g_object_unref), 0};
	g_autoptr(TldrsListener) l = tldrs_listener_new(1, limit, load_cb, &a);
	g_autoptr(GError) error = NULL;

	/* a socket left by a dead daemon: bound, never listened on, closed */
	{
		g_autoptr(GSocket) dead = g_socket_new(G_SOCKET_FAMILY_UNIX,
		                                       G_SOCKET_TYPE_STREAM,
		                                       G_SOCKET_PROTOCOL_DEFAULT,
		                                       NULL);
		g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
		g_assert_true(g_socket_bind(dead, addr, FALSE, NULL));
	}
	g_assert_true(g_file_test(path, G_FILE_TEST_EXISTS));
	g_signal_connect(l, "connection", G_CALLBACK(connection_cb), &a);
	g_assert_true(tldrs_listener_listen(l, path, FALSE, &error));
	g_assert_no_error(error);
	tldrs_listener_start(l);
	{
		g_autoptr(GSocket) c1 G_GNUC_UNUSED = connect_to(path);
		g_autoptr(GSocket) c2 = connect_to(path);
		gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
		gssize n = -1;
		char byte;
		g_test_expect_message(
		        "tldrs", G_LOG_LEVEL_WARNING, "*MaxClients=1 clients connected*");
		wait_accepted(&a, 1);
		/* the second is closed by the listener: its read ends */
		g_socket_set_blocking(c2, FALSE);
		while (n != 0 && g_get_monotonic_time() < deadline) {
			g_main_context_iteration(NULL, FALSE);
			n = g_socket_receive(c2, &byte, 1, NULL, NULL);
		}
		g_assert_cmpint(n, ==, 0);
		g_assert_cmpuint(a.connections->len, ==, 1);
		g_test_assert_expected_messages();
	}
	tldrs_listener_stop(l);
	g_ptr_array_unref(a.connections);
	tldrs_test_rm_rf(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/listener/sockets", test_listener_sockets);
	g_test_add_func("/tldrs/listener/stale-and-max-clients",
	                test_listener_stale_and_max_clients);
	return g_test_run();
}
