/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

#include "tldrs-activation.h"
#include "tldrs-error.h"

/* Activation: what systemd hands the daemon and what it tells systemd back, without
 * libsystemd. The listening socket of tldrs.socket (sd_listen_fds(3)) and sd_notify(3). */

/**
 * tldrs_activation_take_sockets:
 *
 * LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES: the listening unix stream sockets handed over by
 * systemd (tldrs.socket listens on the shared and the private socket). Unsets those
 * variables, so call it before any thread exists.
 *
 * Returns: (transfer full) (nullable): the sockets, the one named "tldrs"
 *   (FileDescriptorName=) first, or %NULL without error when there are none
 */
GPtrArray *
tldrs_activation_take_sockets(GError **error)
{
	const char *pid = g_getenv("LISTEN_PID");
	const char *fds = g_getenv("LISTEN_FDS");
	const char *names = g_getenv("LISTEN_FDNAMES");
	g_autoptr(GPtrArray) sockets = g_ptr_array_new_with_free_func(g_object_unref);
	g_auto(GStrv) list = NULL;
	guint64 n = 0;

	if (pid == NULL || fds == NULL)
		return NULL;
	if (g_ascii_strtoll(pid, NULL, 10) != (gint64)getpid())
		return NULL;
	if (!g_ascii_string_to_unsigned(fds, 10, 1, 64, &n, NULL)) {
		g_set_error(error, TLDRS_ERROR, TLDRS_ERROR_FAILED, "bad LISTEN_FDS=%s", fds);
		return NULL;
	}
	list = names != NULL ? g_strsplit(names, ":", -1) : NULL;
	for (int i = 3; i < 3 + (int)n; i++)
		fcntl(i, F_SETFD, FD_CLOEXEC);
	g_unsetenv("LISTEN_PID");
	g_unsetenv("LISTEN_FDS");
	g_unsetenv("LISTEN_FDNAMES");
	for (guint i = 0; i < n; i++) {
		GSocket *socket = g_socket_new_from_fd(3 + (int)i, error);
		if (socket == NULL) {
			g_prefix_error(error, "a socket passed by systemd: ");
			return NULL;
		}
		if (g_socket_get_family(socket) != G_SOCKET_FAMILY_UNIX ||
		    g_socket_get_socket_type(socket) != G_SOCKET_TYPE_STREAM) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_FAILED,
			            "a socket passed by systemd is not a unix stream socket");
			g_object_unref(socket);
			return NULL;
		}
		g_ptr_array_add(sockets, socket);
	}
	/* the one named "tldrs" first: the daemon's main socket */
	for (guint i = 1; list != NULL && list[i - 1] != NULL && i < sockets->len; i++) {
		if (g_strcmp0(list[i], "tldrs") == 0) {
			g_ptr_array_insert(sockets, 0, g_ptr_array_steal_index(sockets, i));
			break;
		}
	}
	return g_steal_pointer(&sockets);
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET */
void
tldrs_activation_notify(const char *state)
{
	const char *path = g_getenv("NOTIFY_SOCKET");
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) addr = NULL;

	g_return_if_fail(state != NULL);
	if (path == NULL || path[0] == '\0')
		return;
	socket = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
	if (socket == NULL)
		return;
	/* a leading '@' is an abstract socket */
	if (path[0] == '@')
		addr = g_unix_socket_address_new_with_type(
		        path + 1, -1, G_UNIX_SOCKET_ADDRESS_ABSTRACT);
	else
		addr = g_unix_socket_address_new(path);
	if (g_socket_send_to(socket, addr, state, strlen(state), NULL, NULL) < 0)
		g_debug("cannot notify systemd");
}
