/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include <string.h>

#include "tldrs-json.h"
#include "tldrs-linecheck.h"

/* The strict check is most of what the daemon does with a busy client's bytes, and every line
 * can be checked on its own. So a read is cut at line ends into chunks; the caller and the
 * helper threads take chunks from a shared counter until none is left. The caller does not
 * wait for a helper that has not started (it takes the chunks itself), only for chunks that a
 * helper is in the middle of. Chunks after the first line that is not a plain event are not
 * checked at all: the caller handles that line itself and may share out the rest again.
 * Several threads may call it (the read threads); one at a time shares out its read, the
 * others meanwhile check theirs alone. */

#define TLDRS_LINE_CHECK_CHUNK      (16 * 1024)
#define TLDRS_LINE_CHECK_MAX_CHUNKS 64

typedef struct {
	gsize start;
	gsize end;
	gsize good; /* end of the plain events at the chunk's start */
	guint events;
} TldrsLineChunk;

struct _TldrsLineCheck {
	GMutex caller; /* held by the one caller sharing out a read */
	GMutex lock;
	GCond job_cond;  /* helpers wait here for a job */
	GCond done_cond; /* the caller waits here for chunks in progress */
	GThread **threads;
	guint n_helpers;

	/* under lock */
	gboolean quit;
	gint job_serial;   /* the current job, under lock */
	gboolean job_open; /* helpers may still join the current job */
	guint helpers_in_job;
	guint sleeping; /* helpers waiting on job_cond */

	/* the current job: written by the caller before it is opened */
	const char *data;
	gsize max_line;
	TldrsLineChunk chunks[TLDRS_LINE_CHECK_MAX_CHUNKS];
	gint n_chunks;
	gint next;      /* atomic: the next chunk to take */
	gint completed; /* atomic: chunks done or skipped */
	gint failed_at; /* atomic: lowest chunk with a line that is not a plain event */
};

gboolean
tldrs_line_is_plain_event(const char *line, gsize len, gsize max_line)
{
	return len > 1 && len <= max_line && line[0] == '{' && line[len - 1] == '}' &&
	       tldrs_json_check_object(line, len, NULL, NULL);
}

/* the plain events at the start of data[start..end); returns where they stop */
static gsize
tldrs_line_check_run(const char *data, gsize start, gsize end, gsize max_line, guint *n_events)
{
	const char *p = data + start;
	const char *stop = data + end;
	guint n = 0;

	/* the usual case, all of them plain events, in one pass; else line by line */
	if (end > start && tldrs_json_check_lines_fast(p, end - start, max_line, n_events))
		return end;
	while (p < stop) {
		const char *nl = memchr(p, '\n', (gsize)(stop - p));
		if (nl == NULL || !tldrs_line_is_plain_event(p, (gsize)(nl - p), max_line))
			break;
		n++;
		p = nl + 1;
	}
	*n_events = n;
	return (gsize)(p - data);
}

static void
tldrs_line_check_work(TldrsLineCheck *self)
{
	for (;;) {
		gint i = g_atomic_int_add(&self->next, 1);
		TldrsLineChunk *c;

		if (i >= self->n_chunks)
			return;
		c = &self->chunks[i];
		c->good = c->start;
		c->events = 0;
		if (i < g_atomic_int_get(&self->failed_at)) {
			c->good = tldrs_line_check_run(
			        self->data, c->start, c->end, self->max_line, &c->events);
			if (c->good < c->end) {
				gint seen = g_atomic_int_get(&self->failed_at);
				while (i < seen && !g_atomic_int_compare_and_exchange(
				                           &self->failed_at, seen, i))
					seen = g_atomic_int_get(&self->failed_at);
			}
		}
		if (g_atomic_int_add(&self->completed, 1) + 1 == self->n_chunks) {
			g_mutex_lock(&self->lock);
			g_cond_signal(&self->done_cond);
			g_mutex_unlock(&self->lock);
		}
	}
}

static gpointer
tldrs_line_check_helper(gpointer data)
{
	TldrsLineCheck *self = data;
	gint seen = 0;

	g_mutex_lock(&self->lock);
	for (;;) {
		self->sleeping++;
		while (!self->quit && (!self->job_open || self->job_serial == seen))
			g_cond_wait(&self->job_cond, &self->lock);
		self->sleeping--;
		if (self->quit)
			break;
		seen = self->job_serial;
		self->helpers_in_job++;
		g_mutex_unlock(&self->lock);
		tldrs_line_check_work(self);
		g_mutex_lock(&self->lock);
		if (--self->helpers_in_job == 0)
			g_cond_signal(&self->done_cond);
	}
	g_mutex_unlock(&self->lock);
	return NULL;
}

TldrsLineCheck *
tldrs_line_check_new(guint n_helpers)
{
	TldrsLineCheck *self = g_new0(TldrsLineCheck, 1);

	g_mutex_init(&self->caller);
	g_mutex_init(&self->lock);
	g_cond_init(&self->job_cond);
	g_cond_init(&self->done_cond);
	self->threads = g_new0(GThread *, MAX(n_helpers, 1));
	for (guint i = 0; i < n_helpers; i++) {
		g_autoptr(GError) error = NULL;
		GThread *thread =
		        g_thread_try_new("tldrs-check", tldrs_line_check_helper, self, &error);
		if (thread == NULL) {
			g_warning("cannot start a thread to check lines: %s", error->message);
			break;
		}
		self->threads[self->n_helpers++] = thread;
	}
	return self;
}

void
tldrs_line_check_free(TldrsLineCheck *self)
{
	if (self == NULL)
		return;
	g_mutex_lock(&self->lock);
	self->quit = TRUE;
	g_cond_broadcast(&self->job_cond);
	g_mutex_unlock(&self->lock);
	for (guint i = 0; i < self->n_helpers; i++)
		g_thread_join(self->threads[i]);
	g_free(self->threads);
	g_cond_clear(&self->done_cond);
	g_cond_clear(&self->job_cond);
	g_mutex_clear(&self->lock);
	g_mutex_clear(&self->caller);
	g_free(self);
}

guint
tldrs_line_check_get_n_helpers(TldrsLineCheck *self)
{
	return self != NULL ? self->n_helpers : 0;
}

gsize
tldrs_line_check_prefix(TldrsLineCheck *self,
                        const char *data,
                        gsize len,
                        gsize max_line,
                        guint *n_events)
{
	gsize size;
	gsize pos = 0;
	gsize good = 0;
	guint events = 0;
	gint n = 0;

	*n_events = 0;
	g_return_val_if_fail(len == 0 || data[len - 1] == '\n', 0);

	if (self == NULL || self->n_helpers == 0 || len < TLDRS_LINE_CHECK_MIN ||
	    !g_mutex_trylock(&self->caller))
		return tldrs_line_check_run(data, 0, len, max_line, n_events);

	/* cut at line ends */
	size = MAX(TLDRS_LINE_CHECK_CHUNK, len / TLDRS_LINE_CHECK_MAX_CHUNKS + 1);
	while (pos < len) {
		gsize end = len;
		if (len - pos > size && n < TLDRS_LINE_CHECK_MAX_CHUNKS - 1) {
			const char *nl = memchr(data + pos + size - 1, '\n', len - pos - size + 1);
			end = (gsize)(nl - data) + 1; /* found: data ends with '\n' */
		}
		self->chunks[n].start = pos;
		self->chunks[n].end = end;
		n++;
		pos = end;
	}

	g_mutex_lock(&self->lock);
	self->data = data;
	self->max_line = max_line;
	self->n_chunks = n;
	g_atomic_int_set(&self->next, 0);
	g_atomic_int_set(&self->completed, 0);
	g_atomic_int_set(&self->failed_at, n);
	g_atomic_int_inc(&self->job_serial);
	self->job_open = TRUE;
	if (self->sleeping > 0)
		g_cond_broadcast(&self->job_cond);
	g_mutex_unlock(&self->lock);

	tldrs_line_check_work(self);

	/* a helper that has not joined yet stays out; wait for those that did */
	g_mutex_lock(&self->lock);
	self->job_open = FALSE;
	while (g_atomic_int_get(&self->completed) < n || self->helpers_in_job > 0)
		g_cond_wait(&self->done_cond, &self->lock);
	g_mutex_unlock(&self->lock);

	for (gint i = 0; i < n; i++) {
		const TldrsLineChunk *c = &self->chunks[i];
		events += c->events;
		good = c->good;
		if (c->good < c->end)
			break;
	}
	g_mutex_unlock(&self->caller);
	*n_events = events;
	return good;
}
