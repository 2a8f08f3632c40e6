/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include <string.h>

#include "tldrs-sink.h"
#include "tldrs-trace.h"

/* A trace: the events of every connection that opened one trace id, batched in memory in
 * arrival order (whole lines only) and handed to every configured sink. */

typedef struct {
	TldrsSink *sink; /* borrowed from the daemon */
	gpointer state;  /* the sink's per-trace state */
	gboolean failing;
} TldrsTraceSink;

struct _TldrsTrace {
	GObject parent_instance;
	char *id;
	GArray *sinks; /* of TldrsTraceSink */
	GByteArray *pending;
	GPtrArray *exit_paths;
	guint clients;
	guint64 events;
	guint64 refused;
	guint64 write_errors;
	gint64 last_write;
	gboolean queued;
	gboolean closed;
};

G_DEFINE_TYPE(TldrsTrace, tldrs_trace, G_TYPE_OBJECT)

static const char *
tldrs_trace_sink_name(TldrsSink *sink)
{
	const char *name = g_object_get_data(G_OBJECT(sink), "tldrs-sink-name");
	return name != NULL ? name : G_OBJECT_TYPE_NAME(sink);
}

static void
tldrs_trace_write_sinks(TldrsTrace *self, const char *data, gsize len)
{
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		g_autoptr(GError) error = NULL;
		if (!tldrs_sink_write(ts->sink, ts->state, data, len, &error)) {
			self->write_errors++;
			if (!ts->failing) {
				g_warning("trace %s: sink %s: %s (kept in memory, retried)",
				          self->id,
				          tldrs_trace_sink_name(ts->sink),
				          error != NULL ? error->message : "failed");
			}
			ts->failing = TRUE;
		}
	}
	self->last_write = g_get_real_time();
}

static void
tldrs_trace_flush_sinks(TldrsTrace *self, gboolean wait)
{
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		g_autoptr(GError) error = NULL;
		gboolean ok = wait ? tldrs_sink_flush(ts->sink, ts->state, &error)
		                   : tldrs_sink_flush_async(ts->sink, ts->state, &error);
		if (!ok) {
			self->write_errors++;
			if (!ts->failing) {
				g_warning("trace %s: sink %s: %s (kept in memory, retried)",
				          self->id,
				          tldrs_trace_sink_name(ts->sink),
				          error != NULL ? error->message : "failed");
			}
			ts->failing = TRUE;
		} else if (ts->failing) {
			g_message("trace %s: sink %s works again",
			          self->id,
			          tldrs_trace_sink_name(ts->sink));
			ts->failing = FALSE;
		}
	}
}

void
tldrs_trace_append(TldrsTrace *self, const char *lines, gsize len, guint n_events)
{
	g_return_if_fail(TLDRS_IS_TRACE(self));
	g_return_if_fail(!self->closed);

	self->events += n_events;
	/* a large batch goes straight to the sinks, without a copy */
	if (self->pending->len == 0 && len >= TLDRS_TRACE_BATCH_BYTES) {
		tldrs_trace_write_sinks(self, lines, len);
		return;
	}
	g_byte_array_append(self->pending, (const guint8 *)lines, (guint)len);
	if (self->pending->len >= TLDRS_TRACE_BATCH_BYTES) {
		tldrs_trace_write_sinks(
		        self, (const char *)self->pending->data, self->pending->len);
		g_byte_array_set_size(self->pending, 0);
	}
}

gboolean
tldrs_trace_has_pending(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), FALSE);
	return self->pending->len > 0;
}

/* hand pending lines to the sinks; with @sync_sinks also make the sinks store them */
void
tldrs_trace_flush(TldrsTrace *self, gboolean sync_sinks)
{
	g_return_if_fail(TLDRS_IS_TRACE(self));
	if (self->closed)
		return;
	if (self->pending->len > 0) {
		tldrs_trace_write_sinks(
		        self, (const char *)self->pending->data, self->pending->len);
		g_byte_array_set_size(self->pending, 0);
	}
	if (sync_sinks) {
		/* do not keep a batch-sized buffer around for an idle trace */
		g_byte_array_unref(self->pending);
		self->pending = g_byte_array_new();
		tldrs_trace_flush_sinks(self, TRUE);
	}
}

void
tldrs_trace_close(TldrsTrace *self)
{
	g_autofree char *stored = NULL;
	g_return_if_fail(TLDRS_IS_TRACE(self));
	if (self->closed)
		return;
	tldrs_trace_flush(self, TRUE);
	stored = tldrs_trace_get_stored_file(self);
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		tldrs_sink_trace_complete(ts->sink, ts->state, stored);
	}
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		tldrs_sink_close_trace(ts->sink, ts->state);
		ts->state = NULL;
	}
	self->closed = TRUE;
}

gboolean
tldrs_trace_is_closed(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), TRUE);
	return self->closed;
}

char *
tldrs_trace_get_stored_file(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), NULL);
	for (guint i = 0; i < self->sinks->len && !self->closed; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		char *fn = tldrs_sink_stored_file(ts->sink, ts->state);
		if (fn != NULL)
			return fn;
	}
	return NULL;
}

/* the periodic flush: pending lines to the sinks, and every sink asked to make them
 * readable without waiting for a sink that works in a thread */
void
tldrs_trace_flush_periodic(TldrsTrace *self)
{
	g_return_if_fail(TLDRS_IS_TRACE(self));
	if (self->closed)
		return;
	tldrs_trace_flush(self, FALSE);
	g_byte_array_unref(self->pending);
	self->pending = g_byte_array_new();
	tldrs_trace_flush_sinks(self, FALSE);
}

const char *
tldrs_trace_get_id(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), NULL);
	return self->id;
}

void
tldrs_trace_add_client(TldrsTrace *self)
{
	g_return_if_fail(TLDRS_IS_TRACE(self));
	self->clients++;
}

guint
tldrs_trace_remove_client(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), 0);
	g_return_val_if_fail(self->clients > 0, 0);
	return --self->clients;
}

guint
tldrs_trace_get_clients(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), 0);
	return self->clients;
}

void
tldrs_trace_add_refused(TldrsTrace *self)
{
	g_return_if_fail(TLDRS_IS_TRACE(self));
	self->refused++;
}

guint64
tldrs_trace_get_events(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), 0);
	return self->events;
}

guint64
tldrs_trace_get_refused(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), 0);
	return self->refused;
}

guint64
tldrs_trace_get_write_errors(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), 0);
	return self->write_errors;
}

gint64
tldrs_trace_get_last_write(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), 0);
	return self->last_write;
}

void
tldrs_trace_add_exit_path(TldrsTrace *self, const char *path)
{
	g_return_if_fail(TLDRS_IS_TRACE(self));
	g_return_if_fail(path != NULL);
	for (guint i = 0; i < self->exit_paths->len; i++) {
		if (g_strcmp0(g_ptr_array_index(self->exit_paths, i), path) == 0)
			return;
	}
	g_ptr_array_add(self->exit_paths, g_strdup(path));
}

GPtrArray *
tldrs_trace_steal_exit_paths(TldrsTrace *self)
{
	GPtrArray *paths;
	g_return_val_if_fail(TLDRS_IS_TRACE(self), NULL);
	paths = g_steal_pointer(&self->exit_paths);
	self->exit_paths = g_ptr_array_new_with_free_func(g_free);
	return paths;
}

gboolean
tldrs_trace_get_queued(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), FALSE);
	return self->queued;
}

void
tldrs_trace_set_queued(TldrsTrace *self, gboolean queued)
{
	g_return_if_fail(TLDRS_IS_TRACE(self));
	self->queued = queued;
}

static void
tldrs_trace_finalize(GObject *object)
{
	TldrsTrace *self = TLDRS_TRACE(object);
	tldrs_trace_close(self);
	g_free(self->id);
	g_array_unref(self->sinks);
	g_byte_array_unref(self->pending);
	g_ptr_array_unref(self->exit_paths);
	G_OBJECT_CLASS(tldrs_trace_parent_class)->finalize(object);
}

static void
tldrs_trace_class_init(TldrsTraceClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = tldrs_trace_finalize;
}

static void
tldrs_trace_init(TldrsTrace *self)
{
	self->sinks = g_array_new(FALSE, TRUE, sizeof(TldrsTraceSink));
	self->pending = g_byte_array_new();
	self->exit_paths = g_ptr_array_new_with_free_func(g_free);
}

/**
 * tldrs_trace_new:
 * @id: a checked trace id
 * @file: (nullable): the exact file to store into (`serve --into-file`), or %NULL
 * @sinks: the daemon's sinks, borrowed for the trace's lifetime
 */
TldrsTrace *
tldrs_trace_new(const char *id, const char *file, GPtrArray *sinks)
{
	TldrsTrace *self;
	g_return_val_if_fail(id != NULL, NULL);
	g_return_val_if_fail(sinks != NULL, NULL);
	self = g_object_new(TLDRS_TYPE_TRACE, NULL);
	self->id = g_strdup(id);
	for (guint i = 0; i < sinks->len; i++) {
		TldrsTraceSink ts = {g_ptr_array_index(sinks, i), NULL, FALSE};
		ts.state = tldrs_sink_open_trace(ts.sink, id, file);
		g_array_append_val(self->sinks, ts);
	}
	return self;
}
