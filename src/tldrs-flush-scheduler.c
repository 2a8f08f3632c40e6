/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include "tldrs-flush-scheduler.h"
#include <tldrs/tldrs-sink.h>

/* Flush scheduling and backpressure. A trace with pending lines is written out as soon as
 * the main loop has nothing to read (an idle source); every FlushIntervalSec the "periodic"
 * signal asks the owner of the traces to flush them all. When the sinks fall behind or cannot
 * write (the backlog of all of them together over MaxBacklogBytes, by default
 * TLDRS_FLUSH_SCHEDULER_BACKLOG_HIGH), the scheduler says "paused" (the daemon stops
 * reading, the kernel then blocks the clients) instead of growing memory or dropping
 * events, until the backlog is down to a quarter of that. */

struct _TldrsFlushScheduler {
	GObject parent_instance;
	GPtrArray *sinks; /* of TldrsSink, borrowed from the daemon */
	gint64 interval_us;
	gsize max_backlog; /* MaxBacklogBytes */
	GPtrArray *dirty;  /* TldrsTrace with pending lines, for the idle flush */
	guint idle_flush_id;
	guint timer_id;
	guint backlog_id;
	gboolean paused;
	gboolean shutting_down;
};

G_DEFINE_TYPE(TldrsFlushScheduler, tldrs_flush_scheduler, G_TYPE_OBJECT)

enum {
	SIGNAL_PERIODIC,
	SIGNAL_PAUSED,
	SIGNAL_LAST,
};

static guint tldrs_flush_scheduler_signals[SIGNAL_LAST] = {0};

static gboolean
tldrs_flush_scheduler_idle_cb(gpointer user_data)
{
	TldrsFlushScheduler *self = TLDRS_FLUSH_SCHEDULER(user_data);
	g_autoptr(GPtrArray) dirty = g_steal_pointer(&self->dirty);

	self->dirty = g_ptr_array_new_with_free_func(g_object_unref);
	self->idle_flush_id = 0;
	for (guint i = 0; i < dirty->len; i++) {
		TldrsTrace *trace = g_ptr_array_index(dirty, i);
		tldrs_trace_set_queued(trace, FALSE);
		tldrs_trace_flush(trace, FALSE);
	}
	return G_SOURCE_REMOVE;
}

static void
tldrs_flush_scheduler_set_paused(TldrsFlushScheduler *self, gboolean paused)
{
	self->paused = paused;
	g_signal_emit(self, tldrs_flush_scheduler_signals[SIGNAL_PAUSED], 0, paused);
}

/* what every sink keeps in memory, accepted but not stored yet */
static gsize
tldrs_flush_scheduler_backlog(TldrsFlushScheduler *self)
{
	gsize backlog = 0;
	for (guint i = 0; i < self->sinks->len; i++)
		backlog += tldrs_sink_backlog(g_ptr_array_index(self->sinks, i));
	return backlog;
}

static gboolean
tldrs_flush_scheduler_backlog_cb(gpointer user_data)
{
	TldrsFlushScheduler *self = TLDRS_FLUSH_SCHEDULER(user_data);
	if (tldrs_flush_scheduler_backlog(self) > self->max_backlog / 4)
		return G_SOURCE_CONTINUE;
	g_debug("sinks caught up: reading from clients again");
	self->backlog_id = 0;
	tldrs_flush_scheduler_set_paused(self, FALSE);
	return G_SOURCE_REMOVE;
}

static void
tldrs_flush_scheduler_check_backlog(TldrsFlushScheduler *self)
{
	gsize backlog;
	if (self->paused || self->shutting_down)
		return;
	backlog = tldrs_flush_scheduler_backlog(self);
	if (backlog <= self->max_backlog)
		return;
	g_debug("a sink is behind: not reading from clients until it catches up (%" G_GSIZE_FORMAT
	        " bytes kept, over MaxBacklogBytes=%" G_GSIZE_FORMAT ")",
	        backlog,
	        self->max_backlog);
	tldrs_flush_scheduler_set_paused(self, TRUE);
	self->backlog_id = g_timeout_add(10, tldrs_flush_scheduler_backlog_cb, self);
}

/* the budget of the sinks' backlog (MaxBacklogBytes): over it reading pauses, and resumes
 * once the backlog is down to a quarter of it */
void
tldrs_flush_scheduler_set_max_backlog(TldrsFlushScheduler *self, gsize max_backlog)
{
	g_return_if_fail(TLDRS_IS_FLUSH_SCHEDULER(self));
	g_return_if_fail(max_backlog > 0);
	self->max_backlog = max_backlog;
}

/* @trace has pending lines: write them out as soon as the main loop has nothing to read */
void
tldrs_flush_scheduler_trace_dirty(TldrsFlushScheduler *self, TldrsTrace *trace)
{
	g_return_if_fail(TLDRS_IS_FLUSH_SCHEDULER(self));
	tldrs_flush_scheduler_check_backlog(self);
	if (tldrs_trace_get_queued(trace))
		return;
	tldrs_trace_set_queued(trace, TRUE);
	g_ptr_array_add(self->dirty, g_object_ref(trace));
	if (self->idle_flush_id == 0) {
		self->idle_flush_id =
		        g_idle_add_full(G_PRIORITY_LOW, tldrs_flush_scheduler_idle_cb, self, NULL);
	}
}

/* @trace is closing: it is flushed by its owner, not here */
void
tldrs_flush_scheduler_forget(TldrsFlushScheduler *self, TldrsTrace *trace)
{
	g_return_if_fail(TLDRS_IS_FLUSH_SCHEDULER(self));
	g_ptr_array_remove(self->dirty, trace);
	tldrs_trace_set_queued(trace, FALSE);
}

/* TRUE while the sinks are behind and nobody should read from clients */
gboolean
tldrs_flush_scheduler_get_paused(TldrsFlushScheduler *self)
{
	g_return_val_if_fail(TLDRS_IS_FLUSH_SCHEDULER(self), FALSE);
	return self->paused;
}

static gboolean
tldrs_flush_scheduler_timer_cb(gpointer user_data)
{
	g_signal_emit(user_data, tldrs_flush_scheduler_signals[SIGNAL_PERIODIC], 0);
	return G_SOURCE_CONTINUE;
}

/* the periodic flush starts */
void
tldrs_flush_scheduler_start(TldrsFlushScheduler *self)
{
	g_return_if_fail(TLDRS_IS_FLUSH_SCHEDULER(self));
	g_return_if_fail(self->timer_id == 0);
	self->timer_id = g_timeout_add_full(G_PRIORITY_DEFAULT,
	                                    (guint)MAX(self->interval_us / 1000, 1),
	                                    tldrs_flush_scheduler_timer_cb,
	                                    self,
	                                    NULL);
}

/* FlushIntervalSec changed (SIGHUP): the periodic flush runs at the new pace from now */
void
tldrs_flush_scheduler_set_interval(TldrsFlushScheduler *self, gint64 interval_us)
{
	g_return_if_fail(TLDRS_IS_FLUSH_SCHEDULER(self));
	if (self->interval_us == interval_us)
		return;
	self->interval_us = interval_us;
	if (self->timer_id == 0)
		return;
	g_clear_handle_id(&self->timer_id, g_source_remove);
	tldrs_flush_scheduler_start(self);
}

/* the daemon is shutting down: it reads what clients sent whatever the sinks' backlog */
void
tldrs_flush_scheduler_shutdown(TldrsFlushScheduler *self)
{
	g_return_if_fail(TLDRS_IS_FLUSH_SCHEDULER(self));
	self->shutting_down = TRUE;
}

static void
tldrs_flush_scheduler_dispose(GObject *object)
{
	TldrsFlushScheduler *self = TLDRS_FLUSH_SCHEDULER(object);
	g_clear_handle_id(&self->timer_id, g_source_remove);
	g_clear_handle_id(&self->idle_flush_id, g_source_remove);
	g_clear_handle_id(&self->backlog_id, g_source_remove);
	g_clear_pointer(&self->dirty, g_ptr_array_unref);
	g_clear_pointer(&self->sinks, g_ptr_array_unref);
	G_OBJECT_CLASS(tldrs_flush_scheduler_parent_class)->dispose(object);
}

static void
tldrs_flush_scheduler_class_init(TldrsFlushSchedulerClass *klass)
{
	G_OBJECT_CLASS(klass)->dispose = tldrs_flush_scheduler_dispose;

	/**
	 * TldrsFlushScheduler::periodic:
	 *
	 * FlushIntervalSec has passed: every trace is to be flushed.
	 */
	tldrs_flush_scheduler_signals[SIGNAL_PERIODIC] = g_signal_new("periodic",
	                                                              G_TYPE_FROM_CLASS(klass),
	                                                              G_SIGNAL_RUN_LAST,
	                                                              0,
	                                                              NULL,
	                                                              NULL,
	                                                              NULL,
	                                                              G_TYPE_NONE,
	                                                              0);
	/**
	 * TldrsFlushScheduler::paused:
	 * @paused: %TRUE: stop reading from clients; %FALSE: read again
	 */
	tldrs_flush_scheduler_signals[SIGNAL_PAUSED] = g_signal_new("paused",
	                                                            G_TYPE_FROM_CLASS(klass),
	                                                            G_SIGNAL_RUN_LAST,
	                                                            0,
	                                                            NULL,
	                                                            NULL,
	                                                            NULL,
	                                                            G_TYPE_NONE,
	                                                            1,
	                                                            G_TYPE_BOOLEAN);
}

static void
tldrs_flush_scheduler_init(TldrsFlushScheduler *self)
{
	self->dirty = g_ptr_array_new_with_free_func(g_object_unref);
	self->max_backlog = TLDRS_FLUSH_SCHEDULER_BACKLOG_HIGH;
}

/**
 * tldrs_flush_scheduler_new:
 * @sinks: the daemon's sinks, whose backlog is watched
 * @interval_us: FlushIntervalSec
 */
TldrsFlushScheduler *
tldrs_flush_scheduler_new(GPtrArray *sinks, gint64 interval_us)
{
	TldrsFlushScheduler *self;
	g_return_val_if_fail(sinks != NULL, NULL);
	self = g_object_new(TLDRS_TYPE_FLUSH_SCHEDULER, NULL);
	self->sinks = g_ptr_array_ref(sinks);
	self->interval_us = interval_us;
	return self;
}
