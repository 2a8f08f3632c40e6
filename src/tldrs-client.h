/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>

#include "tldrs-trace.h"

G_BEGIN_DECLS

#define TLDRS_TYPE_CLIENT (tldrs_client_get_type())
G_DECLARE_FINAL_TYPE(TldrsClient, tldrs_client, TLDRS, CLIENT, GObject)

typedef struct _TldrsDaemon TldrsDaemon;

TldrsClient *
tldrs_client_new(TldrsDaemon *daemon, GSocketConnection *connection, guint64 id, gint pid);
void
tldrs_client_start(TldrsClient *self);
void
tldrs_client_set_paused(TldrsClient *self, gboolean paused);
void
tldrs_client_drain_and_close(TldrsClient *self);
void
tldrs_client_close(TldrsClient *self);
void
tldrs_client_reply(TldrsClient *self, const char *line);
guint64
tldrs_client_get_id(TldrsClient *self);
void
tldrs_client_set_trace(TldrsClient *self, TldrsTrace *trace);

G_END_DECLS
