/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib-object.h>

#include "tldrs-checked.h"

G_BEGIN_DECLS

#define TLDRS_TYPE_TRACE (tldrs_trace_get_type())
G_DECLARE_FINAL_TYPE(TldrsTrace, tldrs_trace, TLDRS, TRACE, GObject)

/* pending bytes of a trace that make it write to its sinks at once */
#define TLDRS_TRACE_BATCH_BYTES (256 * 1024)

TldrsTrace *
tldrs_trace_new(const char *id, const char *file, GPtrArray *sinks, TldrsChecked *checked);
const char *
tldrs_trace_get_id(TldrsTrace *self);
void
tldrs_trace_append(TldrsTrace *self, const char *lines, gsize len, guint n_events);
gboolean
tldrs_trace_has_pending(TldrsTrace *self);
void
tldrs_trace_flush(TldrsTrace *self, gboolean sync_sinks);
void
tldrs_trace_flush_periodic(TldrsTrace *self);
void
tldrs_trace_close(TldrsTrace *self);
gboolean
tldrs_trace_is_closed(TldrsTrace *self);
gboolean
tldrs_trace_is_stored(TldrsTrace *self);
gboolean
tldrs_trace_get_lost(TldrsTrace *self, guint64 *bytes);
char *
tldrs_trace_get_stored_file(TldrsTrace *self);

void
tldrs_trace_add_client(TldrsTrace *self);
guint
tldrs_trace_remove_client(TldrsTrace *self);
guint
tldrs_trace_get_clients(TldrsTrace *self);

void
tldrs_trace_add_refused(TldrsTrace *self);
guint64
tldrs_trace_get_events(TldrsTrace *self);
guint64
tldrs_trace_get_refused(TldrsTrace *self);
guint64
tldrs_trace_get_dropped(TldrsTrace *self);
guint64
tldrs_trace_get_write_errors(TldrsTrace *self);
gint64
tldrs_trace_get_last_write(TldrsTrace *self);

gboolean
tldrs_trace_add_exit_path(TldrsTrace *self, const char *path, guint max, GError **error);
guint
tldrs_trace_get_n_exit_paths(TldrsTrace *self);
GPtrArray *
tldrs_trace_steal_exit_paths(TldrsTrace *self);

gboolean
tldrs_trace_get_queued(TldrsTrace *self);
void
tldrs_trace_set_queued(TldrsTrace *self, gboolean queued);

G_END_DECLS
