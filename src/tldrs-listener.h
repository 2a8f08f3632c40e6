/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>

#include "tldrs-log-limit.h"

G_BEGIN_DECLS

#define TLDRS_TYPE_LISTENER (tldrs_listener_get_type())
G_DECLARE_FINAL_TYPE(TldrsListener, tldrs_listener, TLDRS, LISTENER, GObject)

/**
 * TldrsListenerLoadFunc:
 * @connections: (out): connections open now
 * @files: (out): files the daemon holds open for its traces
 *
 * What the listener asks before and after it accepts: the connection limits depend on it.
 */
typedef void (*TldrsListenerLoadFunc)(guint *connections, guint64 *files, gpointer user_data);

TldrsListener *
tldrs_listener_new(guint max_clients,
                   TldrsLogLimit *log_limit,
                   TldrsListenerLoadFunc load,
                   gpointer load_data);
void
tldrs_listener_set_max_clients(TldrsListener *self, guint max_clients);
guint
tldrs_listener_get_max_clients(TldrsListener *self);
void
tldrs_listener_adopt(TldrsListener *self, GPtrArray *sockets);
gboolean
tldrs_listener_listen(TldrsListener *self, const char *path, gboolean replace, GError **error);
gboolean
tldrs_listener_listen_also(TldrsListener *self, const char *path, GError **error);
GStrv
tldrs_listener_get_paths(TldrsListener *self);

const char *
tldrs_listener_get_path(TldrsListener *self);
const char *
tldrs_listener_get_bound_path(TldrsListener *self);
guint64
tldrs_listener_get_nofile(TldrsListener *self);
void
tldrs_listener_start(TldrsListener *self);
void
tldrs_listener_accept_backlog(TldrsListener *self);
void
tldrs_listener_stop(TldrsListener *self);

G_END_DECLS
