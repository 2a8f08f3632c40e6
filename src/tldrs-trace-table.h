/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>

#include "tldrs-checked.h"
#include "tldrs-state.h"
#include "tldrs-trace.h"

G_BEGIN_DECLS

/* how long a trace whose last client left waits for connections already readable */
#define TLDRS_TRACE_TABLE_CLOSE_DELAY_MS 20

#define TLDRS_TYPE_TRACE_TABLE (tldrs_trace_table_get_type())
G_DECLARE_FINAL_TYPE(TldrsTraceTable, tldrs_trace_table, TLDRS, TRACE_TABLE, GObject)

TldrsTraceTable *
tldrs_trace_table_new(GPtrArray *sinks,
                      TldrsChecked *checked,
                      const char *data_dir,
                      const char *into_file);
void
tldrs_trace_table_set_max_traces(TldrsTraceTable *self, guint max_traces);
void
tldrs_trace_table_set_closing_at_once(TldrsTraceTable *self, gboolean at_once);
TldrsTrace *
tldrs_trace_table_acquire(TldrsTraceTable *self, const char *id);
void
tldrs_trace_table_release(TldrsTraceTable *self, TldrsTrace *trace);
void
tldrs_trace_table_close_pending(TldrsTraceTable *self);
void
tldrs_trace_table_flush_all(TldrsTraceTable *self, gboolean wait);
guint
tldrs_trace_table_give_up(TldrsTraceTable *self);
TldrsTrace *
tldrs_trace_table_lookup(TldrsTraceTable *self, const char *id);
guint
tldrs_trace_table_get_size(TldrsTraceTable *self);
gboolean
tldrs_trace_table_has_into_file(TldrsTraceTable *self);
GVariant *
tldrs_trace_table_list(TldrsTraceTable *self);
GVariant *
tldrs_trace_table_describe(TldrsTraceTable *self, const char *id, GError **error);
void
tldrs_trace_table_save_state(TldrsTraceTable *self);

G_END_DECLS
