/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "tldrs-checked.h"
#include "tldrs-error.h"
#include "tldrs-trace.h"
#include <tldrs/tldrs-sink.h>

/* A trace: the events of every connection that opened one trace id, batched in memory in
 * arrival order (whole lines only) and handed to every configured sink. */

typedef struct {
	TldrsSink *sink; /* borrowed from the daemon */
	gpointer state;  /* the sink's per-trace state */
	gboolean failing;
	guint64 dropped; /* events the sink gave up on, as it last said */
} TldrsTraceSink;

struct _TldrsTrace {
	GObject parent_instance;
	char *id;
	GArray *sinks; /* of TldrsTraceSink */
	GByteArray *pending;
	GPtrArray *exit_paths;     /* EMIT_TEF_AT_EXIT paths, in the order they came */
	GHashTable *exit_path_set; /* the same strings, borrowed: the duplicate check */
	guint clients;
	guint64 events;
	guint64 events_at_periodic; /* events at the last periodic flush */
	gsize pending_peak;         /* the most pending held since then */
	guint64 refused;
	guint64 write_errors;
	gint64 last_write;
	gboolean queued;
	gboolean closed;
	gboolean lost;      /* closed with events a sink could not store */
	guint64 lost_bytes; /* how many bytes of them, as far as the sinks said */

	/* the sink that appends verbatim to its file, and that file, watched while it holds only
	 * lines the daemon checked (NULL: not watched) */
	TldrsSink *verbatim_sink;
	TldrsCheckedWatch *watch;
};

G_DEFINE_TYPE(TldrsTrace, tldrs_trace, G_TYPE_OBJECT)

static const char *
tldrs_trace_sink_name(TldrsSink *sink)
{
	const TldrsSinkInfo *info = tldrs_sink_get_info(sink);
	return info != NULL ? info->name : G_OBJECT_TYPE_NAME(sink);
}

/* the sink that appends verbatim, for the checked-file watch (see tldrs-checked.c) */
static void
tldrs_trace_watch_start(TldrsTrace *self, TldrsChecked *checked)
{
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		const TldrsSinkInfo *info = tldrs_sink_get_info(ts->sink);
		g_autofree char *fn = NULL;
		if (info == NULL || !(info->flags & TLDRS_SINK_FLAG_APPENDS_VERBATIM))
			continue;
		fn = tldrs_sink_stored_file(ts->sink, ts->state);
		if (fn != NULL) {
			self->verbatim_sink = ts->sink;
			self->watch = tldrs_checked_watch_new(checked, fn, self->id);
		}
		break;
	}
}

/* right before @ts gets data (or may write on flush): TRUE when its file is watched and as
 * the daemon left it; *@backlog is then its backlog */
static gboolean
tldrs_trace_watch_begin(TldrsTrace *self, TldrsTraceSink *ts, gsize *backlog)
{
	if (ts->sink != self->verbatim_sink || !tldrs_checked_watch_begin(self->watch))
		return FALSE;
	*backlog = tldrs_sink_backlog(ts->sink);
	return TRUE;
}

static void
tldrs_trace_watch_end(TldrsTrace *self, TldrsTraceSink *ts, gsize handed, gsize backlog)
{
	tldrs_checked_watch_end(self->watch, handed, backlog, tldrs_sink_backlog(ts->sink));
}

static void
tldrs_trace_write_sinks(TldrsTrace *self, const char *data, gsize len)
{
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		g_autoptr(GError) error = NULL;
		/* the file is looked at right around its own sink's write, so that the window
		 * in which another program could change it unseen is as short as can be */
		gsize backlog = 0;
		gboolean watched = tldrs_trace_watch_begin(self, ts, &backlog);
		gboolean ok = tldrs_sink_write(ts->sink, ts->state, data, len, &error);
		if (watched)
			tldrs_trace_watch_end(self, ts, len, backlog);
		if (!ok) {
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
		/* only a sink with a backlog writes on flush */
		gsize backlog = 0;
		gboolean watched = ts->sink == self->verbatim_sink &&
		                   tldrs_sink_backlog(ts->sink) > 0 &&
		                   tldrs_trace_watch_begin(self, ts, &backlog);
		gboolean ok = wait ? tldrs_sink_flush(ts->sink, ts->state, &error)
		                   : tldrs_sink_flush_async(ts->sink, ts->state, &error);
		if (watched)
			tldrs_trace_watch_end(self, ts, 0, backlog);
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
	self->pending_peak = MAX(self->pending_peak, self->pending->len);
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
	g_autoptr(GString) lost_sinks = NULL;
	g_return_if_fail(TLDRS_IS_TRACE(self));
	if (self->closed)
		return;
	tldrs_trace_flush(self, TRUE);
	stored = tldrs_trace_get_stored_file(self);
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		tldrs_sink_trace_complete(ts->sink, ts->state, stored);
	}
	/* a sink with a backlog makes a last try as it closes; what a failing sink lets go of
	 * (its backlog shrinks by it) is lost */
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		gsize backlog = 0;
		gboolean watched = tldrs_trace_watch_begin(self, ts, &backlog);
		gsize before = ts->failing ? tldrs_sink_backlog(ts->sink) : 0;
		ts->dropped = tldrs_sink_dropped(ts->sink, ts->state);
		tldrs_sink_close_trace(ts->sink, ts->state);
		ts->state = NULL;
		if (watched)
			tldrs_trace_watch_end(self, ts, 0, backlog);
		if (ts->failing) {
			gsize after = tldrs_sink_backlog(ts->sink);
			gsize lost = before > after ? before - after : 0;
			if (lost_sinks == NULL)
				lost_sinks = g_string_new(NULL);
			else
				g_string_append(lost_sinks, ", ");
			g_string_append_printf(lost_sinks,
			                       "%" G_GSIZE_FORMAT " bytes in sink %s",
			                       lost,
			                       tldrs_trace_sink_name(ts->sink));
			self->lost = TRUE;
			self->lost_bytes += lost;
		}
	}
	if (lost_sinks != NULL)
		g_warning("trace %s: events lost, could not be stored: %s",
		          self->id,
		          lost_sinks->str);
	self->verbatim_sink = NULL;
	g_clear_pointer(&self->watch, tldrs_checked_watch_free);
	self->closed = TRUE;
}

/* TRUE when every sink has stored everything it was given, as of the last flush(); a trace
 * with events a sink keeps for retrying is not */
gboolean
tldrs_trace_is_stored(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), TRUE);
	for (guint i = 0; i < self->sinks->len && !self->closed; i++) {
		if (g_array_index(self->sinks, TldrsTraceSink, i).failing)
			return FALSE;
	}
	return TRUE;
}

/* closed with events that a sink could not store: TRUE, and *@bytes how many bytes of them
 * the sinks let go of (a sink that keeps no count of its backlog adds nothing) */
gboolean
tldrs_trace_get_lost(TldrsTrace *self, guint64 *bytes)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), FALSE);
	if (bytes != NULL)
		*bytes = self->lost_bytes;
	return self->lost;
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
	/* a trace that got nothing for a whole interval gives its batch buffer back, and so
	 * does one whose buffer grew past twice the batch size for a long line; a busy one
	 * keeps it (filling new memory costs page faults on the main thread) */
	if (self->events == self->events_at_periodic ||
	    self->pending_peak > 2 * TLDRS_TRACE_BATCH_BYTES) {
		g_byte_array_unref(self->pending);
		self->pending = g_byte_array_new();
	}
	self->events_at_periodic = self->events;
	self->pending_peak = 0;
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

/* the events that sinks accepted but gave up on (tldrs_sink_dropped()), summed; a closed
 * trace keeps what its sinks said last */
guint64
tldrs_trace_get_dropped(TldrsTrace *self)
{
	guint64 n = 0;
	g_return_val_if_fail(TLDRS_IS_TRACE(self), 0);
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		if (ts->state != NULL)
			ts->dropped = tldrs_sink_dropped(ts->sink, ts->state);
		n += ts->dropped;
	}
	return n;
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

/**
 * tldrs_trace_add_exit_path:
 * @max: the most paths the trace may hold (MaxAtExitPaths)
 *
 * Registers an EMIT_TEF_AT_EXIT (or AWAIT_TEF) path. A path already registered is kept
 * once, and is never refused; a new one beyond @max is (the line is refused with the error).
 * Constant time, whatever the number of paths.
 */
gboolean
tldrs_trace_add_exit_path(TldrsTrace *self, const char *path, guint max, GError **error)
{
	char *copy;
	g_return_val_if_fail(TLDRS_IS_TRACE(self), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);
	if (g_hash_table_contains(self->exit_path_set, path))
		return TRUE;
	if (self->exit_paths->len >= max) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_BUSY,
		            "too many EMIT_TEF_AT_EXIT paths for this trace (MaxAtExitPaths=%u)",
		            max);
		return FALSE;
	}
	copy = g_strdup(path);
	g_ptr_array_add(self->exit_paths, copy);
	g_hash_table_add(self->exit_path_set, copy);
	return TRUE;
}

guint
tldrs_trace_get_n_exit_paths(TldrsTrace *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE(self), 0);
	return self->exit_paths->len;
}

GPtrArray *
tldrs_trace_steal_exit_paths(TldrsTrace *self)
{
	GPtrArray *paths;
	g_return_val_if_fail(TLDRS_IS_TRACE(self), NULL);
	g_hash_table_remove_all(self->exit_path_set);
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
	g_hash_table_unref(self->exit_path_set);
	g_ptr_array_unref(self->exit_paths);
	g_clear_pointer(&self->watch, tldrs_checked_watch_free);
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
	self->exit_path_set = g_hash_table_new(g_str_hash, g_str_equal);
}

/**
 * tldrs_trace_new:
 * @id: a checked trace id
 * @file: (nullable): the exact file to store into (`serve --into-file`), or %NULL
 * @sinks: the daemon's sinks, borrowed for the trace's lifetime
 * @checked: (nullable): what the daemon vouches for: the file of a sink that appends
 *   verbatim is watched with it
 */
TldrsTrace *
tldrs_trace_new(const char *id, const char *file, GPtrArray *sinks, TldrsChecked *checked)
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
	if (file == NULL && checked != NULL)
		tldrs_trace_watch_start(self, checked);
	return self;
}
