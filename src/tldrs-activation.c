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
 * tldrs_activation_take_socket:
 *
 * LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES: a listening unix stream socket handed over by
 * systemd. Unsets those variables, so call it before any thread exists.
 *
 * Returns: (transfer full) (nullable): the socket, or %NULL without error when there is none
 */
GSocket *
tldrs_activation_take_socket(GError **error)
{
	const char *pid = g_getenv("LISTEN_PID");
	const char *fds = g_getenv("LISTEN_FDS");
	const char *names = g_getenv("LISTEN_FDNAMES");
	guint64 n = 0;
	int fd = 3; /* SD_LISTEN_FDS_START */
	GSocket *socket;

	if (pid == NULL || fds == NULL)
		return NULL;
	if (g_ascii_strtoll(pid, NULL, 10) != (gint64)getpid())
		return NULL;
	if (!g_ascii_string_to_unsigned(fds, 10, 1, 64, &n, NULL)) {
		g_set_error(error, TLDRS_ERROR, TLDRS_ERROR_FAILED, "bad LISTEN_FDS=%s", fds);
		return NULL;
	}
	/* several sockets: the one named "tldrs" (FileDescriptorName=), else the first */
	if (names != NULL) {
		g_auto(GStrv) list = g_strsplit(names, ":", -1);
		for (guint i = 0; list[i] != NULL && i < n; i++) {
			if (g_strcmp0(list[i], "tldrs") == 0)
				fd = 3 + (int)i;
		}
	}
	for (int i = 3; i < 3 + (int)n; i++)
		fcntl(i, F_SETFD, FD_CLOEXEC);
	g_unsetenv("LISTEN_PID");
	g_unsetenv("LISTEN_FDS");
	g_unsetenv("LISTEN_FDNAMES");
	socket = g_socket_new_from_fd(fd, error);
	if (socket == NULL) {
		g_prefix_error(error, "the socket passed by systemd: ");
		return NULL;
	}
	if (g_socket_get_family(socket) != G_SOCKET_FAMILY_UNIX ||
	    g_socket_get_socket_type(socket) != G_SOCKET_TYPE_STREAM) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            "the socket passed by systemd is not a unix stream socket");
		g_object_unref(socket);
		return NULL;
	}
	return socket;
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
