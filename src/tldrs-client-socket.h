/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

char *
tldrs_client_socket_path(const char *opt_socket);
gboolean
tldrs_client_socket_live(const char *path);
GSocket *
tldrs_client_socket_connect(const char *path, GError **error);

G_END_DECLS
