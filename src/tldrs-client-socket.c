/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <pwd.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gi18n.h>

#include "tldrs-client-socket.h"
#include "tldrs-config.h"

/* The socket that tldrs' own client commands (send, run) talk to, and the check that the
 * daemon behind it is the user's own: nothing (events, argv, output paths) is sent to a
 * socket whose peer is another user, whatever the socket's path or mode says. */

/* a daemon of ours listens on @path */
gboolean
tldrs_client_socket_live(const char *path)
{
	g_autoptr(GSocket) s = tldrs_client_socket_connect(path, NULL);
	return s != NULL;
}

/* --socket, the config file's Socket=, $TRACE_TEF_TLDR_SOCKET; else the private socket when a
 * daemon of ours serves it; else $TMPDIR/tldrs.socket */
char *
tldrs_client_socket_path(const char *opt_socket)
{
	g_autoptr(TldrsConfig) config = tldrs_config_new();
	g_autofree char *conf = NULL;
	g_autofree char *private_path = NULL;
	g_autofree char *plain = NULL;
	const char *env = g_getenv("TRACE_TEF_TLDR_SOCKET");

	if (opt_socket != NULL)
		return g_canonicalize_filename(opt_socket, NULL);
	conf = tldrs_config_find_file();
	if (conf != NULL) {
		g_autoptr(GError) error = NULL;
		if (!tldrs_config_load_file(config, conf, &error))
			g_printerr("tldrs: %s\n", error->message);
	}
	plain = tldrs_config_default_socket_path();
	if ((env != NULL && env[0] != '\0') || g_strcmp0(config->socket_path, plain) != 0)
		return g_strdup(config->socket_path);
	private_path = tldrs_config_private_socket_path();
	if (private_path != NULL && tldrs_client_socket_live(private_path))
		return g_steal_pointer(&private_path);
	return g_strdup(config->socket_path);
}

static char *
tldrs_client_socket_user_name(uid_t uid)
{
	struct passwd *pw = getpwuid(uid);
	return pw != NULL ? g_strdup(pw->pw_name) : g_strdup_printf("%u", (guint)uid);
}

/* a connection to @path whose peer runs as this user: checked before anything is sent */
GSocket *
tldrs_client_socket_connect(const char *path, GError **error)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(GCredentials) peer = NULL;
	uid_t uid;

	g_return_val_if_fail(path != NULL, NULL);
	socket = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
	if (socket == NULL)
		return NULL;
	addr = g_unix_socket_address_new(path);
	if (!g_socket_connect(socket, addr, NULL, error)) {
		g_prefix_error(error, "%s: ", path);
		return NULL;
	}
	peer = g_socket_get_credentials(socket, error);
	if (peer == NULL) {
		g_prefix_error(error, _("%s: cannot tell who serves it: "), path);
		return NULL;
	}
	uid = g_credentials_get_unix_user(peer, error);
	if (uid == (uid_t)-1) {
		g_prefix_error(error, _("%s: cannot tell who serves it: "), path);
		return NULL;
	}
	if (uid != getuid()) {
		g_autofree char *theirs = tldrs_client_socket_user_name(uid);
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_PERMISSION_DENIED,
		            _("%s is served by user %s, not by you: nothing is sent to another "
		              "user's daemon"),
		            path,
		            theirs);
		return NULL;
	}
	return g_steal_pointer(&socket);
}
