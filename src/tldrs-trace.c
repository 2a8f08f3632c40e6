/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "tldrs-state.h"
#include "tldrs-trace.h"
#include <tldrs/tldrs-sink.h>

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
	guint64 events_at_periodic; /* events at the last periodic flush */
	gsize pending_peak;         /* the most pending held since then */
	guint64 refused;
	guint64 write_errors;
	gint64 last_write;
	gboolean queued;
	gboolean closed;

	/* the jsonl sink's file while it holds only lines the daemon checked (NULL: not known
	 * to), and its identity after the daemon's last write to it */
	TldrsSink *checked_sink;
	char *checked_path;
	gboolean checked_absent;
	TldrsCheckedFile checked;
};

G_DEFINE_TYPE(TldrsTrace, tldrs_trace, G_TYPE_OBJECT)

static const char *
tldrs_trace_sink_name(TldrsSink *sink)
{
	const TldrsSinkInfo *info = tldrs_sink_get_info(sink);
	return info != NULL ? info->name : G_OBJECT_TYPE_NAME(sink);
}

/* ---- the jsonl file's trust ----
 *
 * Every line the daemon hands to the jsonl sink passed the strict check, and the sink keeps
 * only whole lines. So while nobody else touches `<id>.jsonl`, it holds only checked lines, and
 * the TEF writer need not check them again. The file starts trusted when it is absent or empty
 * or unchanged since the daemon vouched for it (in this run or, by the state file's record, an
 * earlier one). Around each write the daemon checks that the file is as it left it, and after
 * it that it grew by exactly what the sink stored (the data handed over less what the sink's
 * backlog kept); then it vouches for the new identity. Anything else, and the file is not
 * trusted again in this run. */

static gboolean
tldrs_trace_checked_stat(TldrsTrace *self, TldrsCheckedFile *file, gboolean *absent)
{
	GStatBuf st;
	if (g_stat(self->checked_path, &st) != 0) {
		*absent = errno == ENOENT;
		return *absent;
	}
	*absent = FALSE;
	tldrs_checked_file_from_stat(file, &st);
	return S_ISREG(st.st_mode);
}

static void
tldrs_trace_checked_drop(TldrsTrace *self, const char *why)
{
	if (self->checked_sink == NULL)
		return;
	g_info("trace %s: %s %s: TEF written from it checks every line",
	       self->id,
	       self->checked_path,
	       why);
	tldrs_state_vouch(self->checked_path, NULL);
	self->checked_sink = NULL;
}

static void
tldrs_trace_checked_start(TldrsTrace *self)
{
	TldrsCheckedFile vouched;

	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		const TldrsSinkInfo *info = tldrs_sink_get_info(ts->sink);
		g_autofree char *fn = NULL;
		if (info == NULL || !(info->flags & TLDRS_SINK_FLAG_APPENDS_VERBATIM))
			continue;
		fn = tldrs_sink_stored_file(ts->sink, ts->state);
		if (fn != NULL) {
			self->checked_sink = ts->sink;
			self->checked_path = g_steal_pointer(&fn);
		}
		break;
	}
	if (self->checked_sink == NULL)
		return;
	if (!tldrs_trace_checked_stat(self, &self->checked, &self->checked_absent)) {
		tldrs_trace_checked_drop(self, "cannot be read");
		return;
	}
	if (self->checked_absent || self->checked.size == 0)
		return;
	if (tldrs_state_get_vouched(self->checked_path, &vouched) &&
	    tldrs_checked_file_equal(&vouched, &self->checked))
		return;
	tldrs_trace_checked_drop(self, "holds lines that this daemon did not store, or changed");
}

/* before data goes to the sinks: the file is as the daemon left it; returns the backlog */
static gsize
tldrs_trace_checked_begin(TldrsTrace *self)
{
	TldrsCheckedFile now;
	gboolean absent;

	if (self->checked_sink == NULL)
		return 0;
	if (!tldrs_trace_checked_stat(self, &now, &absent) || absent != self->checked_absent ||
	    (!absent && !tldrs_checked_file_equal(&now, &self->checked))) {
		tldrs_trace_checked_drop(self, "was changed by another program");
		return 0;
	}
	return tldrs_sink_backlog(self->checked_sink);
}

/* after @handed bytes went to the sinks: the file grew by what the jsonl sink stored */
static void
tldrs_trace_checked_end(TldrsTrace *self, gsize handed, gsize backlog_before)
{
	TldrsCheckedFile now;
	gboolean absent;
	gsize backlog;
	guint64 stored;

	if (self->checked_sink == NULL)
		return;
	backlog = tldrs_sink_backlog(self->checked_sink);
	if (backlog > backlog_before + handed) {
		tldrs_trace_checked_drop(self, "lost track of what was stored");
		return;
	}
	stored = handed + backlog_before - backlog;
	if (!tldrs_trace_checked_stat(self, &now, &absent) ||
	    (absent ? stored != 0 || !self->checked_absent
	            : now.size != (self->checked_absent ? 0 : self->checked.size) + stored ||
	                      (!self->checked_absent &&
	                       (now.dev != self->checked.dev || now.ino != self->checked.ino)))) {
		tldrs_trace_checked_drop(self, "does not hold what was stored");
		return;
	}
	self->checked_absent = absent;
	if (absent)
		return;
	self->checked = now;
	tldrs_state_vouch(self->checked_path, &now);
}

static void
tldrs_trace_write_sinks(TldrsTrace *self, const char *data, gsize len)
{
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		g_autoptr(GError) error = NULL;
		/* the file is looked at right around its own sink's write, so that the window
		 * in which another program could change it unseen is as short as can be */
		gboolean checked = ts->sink == self->checked_sink;
		gsize backlog = checked ? tldrs_trace_checked_begin(self) : 0;
		gboolean ok = tldrs_sink_write(ts->sink, ts->state, data, len, &error);
		if (checked)
			tldrs_trace_checked_end(self, len, backlog);
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
		gboolean checked = ts->sink == self->checked_sink &&
		                   tldrs_sink_backlog(self->checked_sink) > 0;
		gsize backlog = checked ? tldrs_trace_checked_begin(self) : 0;
		gboolean ok = wait ? tldrs_sink_flush(ts->sink, ts->state, &error)
		                   : tldrs_sink_flush_async(ts->sink, ts->state, &error);
		if (checked)
			tldrs_trace_checked_end(self, 0, backlog);
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
	g_return_if_fail(TLDRS_IS_TRACE(self));
	if (self->closed)
		return;
	tldrs_trace_flush(self, TRUE);
	stored = tldrs_trace_get_stored_file(self);
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		tldrs_sink_trace_complete(ts->sink, ts->state, stored);
	}
	/* a sink with a backlog makes a last try as it closes */
	for (guint i = 0; i < self->sinks->len; i++) {
		TldrsTraceSink *ts = &g_array_index(self->sinks, TldrsTraceSink, i);
		gboolean checked = ts->sink == self->checked_sink;
		gsize backlog = checked ? tldrs_trace_checked_begin(self) : 0;
		tldrs_sink_close_trace(ts->sink, ts->state);
		ts->state = NULL;
		if (checked)
			tldrs_trace_checked_end(self, 0, backlog);
	}
	self->checked_sink = NULL;
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
	g_free(self->checked_path);
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
	if (file == NULL)
		tldrs_trace_checked_start(self);
	return self;
}
