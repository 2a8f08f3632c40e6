/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>

#include "tldrs-config.h"
#include "tldrs-tef-jobs.h"
#include "tldrs-trace-table.h"

G_BEGIN_DECLS

#define TLDRS_TYPE_DAEMON (tldrs_daemon_get_type())
G_DECLARE_FINAL_TYPE(TldrsDaemon, tldrs_daemon, TLDRS, DAEMON, GObject)

TldrsDaemon *
tldrs_daemon_new(TldrsConfig *config, GError **error);
gboolean
tldrs_daemon_listen(TldrsDaemon *self, GError **error);
GStrv
tldrs_daemon_get_socket_paths(TldrsDaemon *self);
gboolean
tldrs_daemon_start(TldrsDaemon *self, GError **error);
int
tldrs_daemon_run(TldrsDaemon *self);
void
tldrs_daemon_quit(TldrsDaemon *self, const char *why);

/* for the D-Bus interface */

const TldrsConfig *
tldrs_daemon_get_config(TldrsDaemon *self);
TldrsTraceTable *
tldrs_daemon_get_traces(TldrsDaemon *self);
guint
tldrs_daemon_get_n_clients(TldrsDaemon *self);
guint64
tldrs_daemon_get_events_received(TldrsDaemon *self);
guint64
tldrs_daemon_get_lines_refused(TldrsDaemon *self);
void
tldrs_daemon_flush(TldrsDaemon *self);
GVariant *
tldrs_daemon_list_traces(TldrsDaemon *self);
GVariant *
tldrs_daemon_get_trace(TldrsDaemon *self, const char *id, GError **error);
gboolean
tldrs_daemon_emit_tef_by_id(TldrsDaemon *self,
                            const char *id,
                            const char *path,
                            TldrsTefFormat format,
                            TldrsTefJobDoneFunc done,
                            gpointer done_data,
                            GError **error);
gboolean
tldrs_daemon_emit_tef_nats(TldrsDaemon *self,
                           const char *url,
                           const char *stream,
                           const char *id,
                           const char *path,
                           TldrsTefFormat format,
                           TldrsTefJobDoneFunc done,
                           gpointer done_data,
                           GError **error);
gboolean
tldrs_daemon_delete_trace(TldrsDaemon *self, const char *id, GError **error);

G_END_DECLS
