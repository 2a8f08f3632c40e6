/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>

#include "tldrs-client.h"
#include "tldrs-config.h"
#include "tldrs-linecheck.h"
#include "tldrs-tef.h"
#include "tldrs-trace.h"

G_BEGIN_DECLS

#define TLDRS_TYPE_DAEMON (tldrs_daemon_get_type())
G_DECLARE_FINAL_TYPE(TldrsDaemon, tldrs_daemon, TLDRS, DAEMON, GObject)

/* the size of one read from a client */
#define TLDRS_DAEMON_READ_SIZE (256 * 1024)

TldrsDaemon *
tldrs_daemon_new(TldrsConfig *config, GError **error);
gboolean
tldrs_daemon_listen(TldrsDaemon *self, GError **error);
gboolean
tldrs_daemon_start(TldrsDaemon *self, GError **error);
int
tldrs_daemon_run(TldrsDaemon *self);
void
tldrs_daemon_quit(TldrsDaemon *self, const char *why);

/* what a client asks of its daemon */
char *
tldrs_daemon_get_read_buffer(TldrsDaemon *self);
gsize
tldrs_daemon_get_max_line(TldrsDaemon *self);
TldrsLineCheck *
tldrs_daemon_get_line_check(TldrsDaemon *self);
TldrsTrace *
tldrs_daemon_acquire_trace(TldrsDaemon *self, const char *id);
void
tldrs_daemon_release_trace(TldrsDaemon *self, TldrsTrace *trace);
void
tldrs_daemon_trace_dirty(TldrsDaemon *self, TldrsTrace *trace);
gboolean
tldrs_daemon_emit_tef(TldrsDaemon *self,
                      TldrsTrace *trace,
                      const char *path,
                      gboolean at_exit,
                      GError **error);
gboolean
tldrs_daemon_await_tef(TldrsDaemon *self,
                       TldrsClient *client,
                       TldrsTrace *trace,
                       const char *path,
                       GError **error);
void
tldrs_daemon_die_when_idle(TldrsDaemon *self);
void
tldrs_daemon_count_events(TldrsDaemon *self, guint n);
void
tldrs_daemon_count_refused(TldrsDaemon *self);
gboolean
tldrs_daemon_may_log(TldrsDaemon *self);
void
tldrs_daemon_client_closed(TldrsDaemon *self, TldrsClient *client);

/* for the D-Bus interface */
typedef void (*TldrsEmitDoneFunc)(guint64 events, const GError *error, gpointer user_data);

const TldrsConfig *
tldrs_daemon_get_config(TldrsDaemon *self);
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
                            TldrsEmitDoneFunc done,
                            gpointer done_data,
                            GError **error);
gboolean
tldrs_daemon_delete_trace(TldrsDaemon *self, const char *id, GError **error);

G_END_DECLS
