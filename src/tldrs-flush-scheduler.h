/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib-object.h>

#include "tldrs-trace.h"

G_BEGIN_DECLS

/* the default budget of the sinks' backlog (bytes, all sinks together) that makes the daemon
 * stop reading, and the backlog that lets it resume (a quarter of the budget) */
#define TLDRS_FLUSH_SCHEDULER_BACKLOG_HIGH (8 * 1024 * 1024)
#define TLDRS_FLUSH_SCHEDULER_BACKLOG_LOW  (TLDRS_FLUSH_SCHEDULER_BACKLOG_HIGH / 4)

#define TLDRS_TYPE_FLUSH_SCHEDULER (tldrs_flush_scheduler_get_type())
G_DECLARE_FINAL_TYPE(TldrsFlushScheduler, tldrs_flush_scheduler, TLDRS, FLUSH_SCHEDULER, GObject)

TldrsFlushScheduler *
tldrs_flush_scheduler_new(GPtrArray *sinks, gint64 interval_us);
void
tldrs_flush_scheduler_set_max_backlog(TldrsFlushScheduler *self, gsize max_backlog);
void
tldrs_flush_scheduler_start(TldrsFlushScheduler *self);
void
tldrs_flush_scheduler_set_interval(TldrsFlushScheduler *self, gint64 interval_us);
void
tldrs_flush_scheduler_trace_dirty(TldrsFlushScheduler *self, TldrsTrace *trace);
void
tldrs_flush_scheduler_forget(TldrsFlushScheduler *self, TldrsTrace *trace);
gboolean
tldrs_flush_scheduler_get_paused(TldrsFlushScheduler *self);
void
tldrs_flush_scheduler_shutdown(TldrsFlushScheduler *self);

G_END_DECLS
