/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tldrs-checked.h"
#include "tldrs-state.h"

/* Checked by the daemon: files that hold nothing but lines the daemon checked itself.
 *
 * Every line the daemon hands to a sink passed the strict check, and a sink that appends
 * verbatim (TLDRS_SINK_FLAG_APPENDS_VERBATIM: the jsonl sink) keeps only whole lines. So
 * while nobody else touches its file, the file holds only checked lines, and the TEF writer
 * need not check them again. A TldrsCheckedWatch follows one such file for a trace: the file
 * starts trusted when it is absent or empty or unchanged since the daemon vouched for it (in
 * this run or, by the state file's record, an earlier one). Around each write the daemon
 * checks that the file is as it left it, and after it that it grew by exactly what the sink
 * stored (the data handed over less what the sink's backlog kept); then it vouches for the
 * new identity. Anything else, and the file is not trusted again in this run.
 *
 * TldrsChecked holds what the daemon vouches for, by path. The daemon owns one and passes it
 * to its traces, its state file (which saves it as each trace's "checked" record) and its
 * TEF jobs, which read it from worker threads (hence the lock). */

#define TLDRS_CHECKED_MAX_ENTRIES 10000
#define TLDRS_NS_PER_SEC          G_GINT64_CONSTANT(1000000000)

struct _TldrsChecked {
	GMutex lock;
	GHashTable *files; /* path -> TldrsCheckedFile */
	guint64 generation;
};

void
tldrs_checked_file_from_stat(TldrsCheckedFile *self, const GStatBuf *st)
{
	self->size = (guint64)st->st_size;
	self->dev = (guint64)st->st_dev;
	self->ino = (guint64)st->st_ino;
	self->mtime_ns = (gint64)st->st_mtim.tv_sec * TLDRS_NS_PER_SEC + st->st_mtim.tv_nsec;
	self->ctime_ns = (gint64)st->st_ctim.tv_sec * TLDRS_NS_PER_SEC + st->st_ctim.tv_nsec;
}

gboolean
tldrs_checked_file_equal(const TldrsCheckedFile *a, const TldrsCheckedFile *b)
{
	return a->size == b->size && a->dev == b->dev && a->ino == b->ino &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

/* TRUE when no later change to the file can keep @file's ctime: the clock that stamps files
 * has moved past it. Until then a change in the same clock tick would go unseen. A file
 * system with whole-second times gets two seconds. */
gboolean
tldrs_checked_file_settled(const TldrsCheckedFile *file)
{
	struct timespec ts;
	gint64 margin = 0;
#ifdef CLOCK_REALTIME_COARSE
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
#else
	clock_gettime(CLOCK_REALTIME, &ts);
	margin = 50 * G_GINT64_CONSTANT(1000000);
#endif
	if (file->ctime_ns % TLDRS_NS_PER_SEC == 0)
		margin = 2 * TLDRS_NS_PER_SEC;
	return (gint64)ts.tv_sec * TLDRS_NS_PER_SEC + ts.tv_nsec > file->ctime_ns + margin;
}

static void
tldrs_checked_clear(TldrsChecked *self)
{
	g_hash_table_unref(self->files);
	g_mutex_clear(&self->lock);
}

TldrsChecked *
tldrs_checked_new(void)
{
	TldrsChecked *self = g_atomic_rc_box_new0(TldrsChecked);
	g_mutex_init(&self->lock);
	self->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return self;
}

TldrsChecked *
tldrs_checked_ref(TldrsChecked *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return g_atomic_rc_box_acquire(self);
}

void
tldrs_checked_unref(TldrsChecked *self)
{
	if (self != NULL)
		g_atomic_rc_box_release_full(self, (GDestroyNotify)tldrs_checked_clear);
}

/* the daemon vouches that @path, while its identity is @file, holds only checked lines;
 * @file %NULL withdraws it */
void
tldrs_checked_vouch(TldrsChecked *self, const char *path, const TldrsCheckedFile *file)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(path != NULL);
	g_mutex_lock(&self->lock);
	if (file == NULL) {
		g_hash_table_remove(self->files, path);
	} else {
		if (g_hash_table_size(self->files) >= TLDRS_CHECKED_MAX_ENTRIES &&
		    !g_hash_table_contains(self->files, path))
			g_hash_table_remove_all(self->files);
		g_hash_table_insert(
		        self->files, g_strdup(path), g_memdup2(file, sizeof(TldrsCheckedFile)));
	}
	self->generation++;
	g_mutex_unlock(&self->lock);
}

/* what the daemon vouches for at @path, if anything */
gboolean
tldrs_checked_get(TldrsChecked *self, const char *path, TldrsCheckedFile *file)
{
	const TldrsCheckedFile *found;
	g_return_val_if_fail(self != NULL, FALSE);
	g_mutex_lock(&self->lock);
	found = g_hash_table_lookup(self->files, path);
	if (found != NULL)
		*file = *found;
	g_mutex_unlock(&self->lock);
	return found != NULL;
}

/* changes with every vouch: the state file is saved again when it has */
guint64
tldrs_checked_get_generation(TldrsChecked *self)
{
	guint64 gen;
	g_return_val_if_fail(self != NULL, 0);
	g_mutex_lock(&self->lock);
	gen = self->generation;
	g_mutex_unlock(&self->lock);
	return gen;
}

/**
 * tldrs_checked_lookup:
 * @self: (nullable): what this process vouches for; %NULL outside the daemon
 * @path: a stored trace file, opened by the caller
 * @st: its fstat()
 * @checked_size: (out): how many of its first bytes are lines the daemon checked
 *
 * Whether a daemon vouches for @path as it is now: this one (@self), or the one whose state
 * file lies beside it (its "checked" record, see tldrs_state_lookup_record()). Only when the
 * file's identity equals the record exactly (device, inode, size, mtime, ctime).
 */
gboolean
tldrs_checked_lookup(TldrsChecked *self,
                     const char *path,
                     const GStatBuf *st,
                     guint64 *checked_size)
{
	TldrsCheckedFile now, rec;

	g_return_val_if_fail(path != NULL && st != NULL, FALSE);
	if (!S_ISREG(st->st_mode))
		return FALSE;
	tldrs_checked_file_from_stat(&now, st);
	if ((self != NULL && tldrs_checked_get(self, path, &rec) &&
	     tldrs_checked_file_equal(&rec, &now)) ||
	    (tldrs_state_lookup_record(path, st, &rec) && tldrs_checked_file_equal(&rec, &now))) {
		*checked_size = rec.size;
		return TRUE;
	}
	return FALSE;
}

/* ---- one file, watched around the daemon's writes ---- */

struct _TldrsCheckedWatch {
	TldrsChecked *checked;
	char *path;
	char *trace_id;
	gboolean trusted;
	gboolean absent;       /* the file did not exist after the last write */
	TldrsCheckedFile file; /* its identity after the last write */
};

static gboolean
tldrs_checked_watch_stat(TldrsCheckedWatch *self, TldrsCheckedFile *file, gboolean *absent)
{
	GStatBuf st;
	if (g_stat(self->path, &st) != 0) {
		*absent = errno == ENOENT;
		return *absent;
	}
	*absent = FALSE;
	tldrs_checked_file_from_stat(file, &st);
	return S_ISREG(st.st_mode);
}

static void
tldrs_checked_watch_drop(TldrsCheckedWatch *self, const char *why)
{
	if (!self->trusted)
		return;
	g_info("trace %s: %s %s: TEF written from it checks every line",
	       self->trace_id,
	       self->path,
	       why);
	tldrs_checked_vouch(self->checked, self->path, NULL);
	self->trusted = FALSE;
}

/**
 * tldrs_checked_watch_new:
 * @path: the file a sink appends verbatim to for trace @trace_id
 *
 * Starts trusted if the file is absent or empty, or unchanged since the daemon vouched for it.
 */
TldrsCheckedWatch *
tldrs_checked_watch_new(TldrsChecked *checked, const char *path, const char *trace_id)
{
	TldrsCheckedWatch *self;
	TldrsCheckedFile vouched;

	g_return_val_if_fail(checked != NULL, NULL);
	g_return_val_if_fail(path != NULL, NULL);
	self = g_new0(TldrsCheckedWatch, 1);
	self->checked = tldrs_checked_ref(checked);
	self->path = g_strdup(path);
	self->trace_id = g_strdup(trace_id);
	self->trusted = TRUE;
	if (!tldrs_checked_watch_stat(self, &self->file, &self->absent)) {
		tldrs_checked_watch_drop(self, "cannot be read");
		return self;
	}
	if (self->absent || self->file.size == 0)
		return self;
	if (tldrs_checked_get(checked, path, &vouched) &&
	    tldrs_checked_file_equal(&vouched, &self->file))
		return self;
	tldrs_checked_watch_drop(self, "holds lines that this daemon did not store, or changed");
	return self;
}

/* before data goes to the sink: TRUE when the file is trusted and as the daemon left it */
gboolean
tldrs_checked_watch_begin(TldrsCheckedWatch *self)
{
	TldrsCheckedFile now;
	gboolean absent;

	g_return_val_if_fail(self != NULL, FALSE);
	if (!self->trusted)
		return FALSE;
	if (!tldrs_checked_watch_stat(self, &now, &absent) || absent != self->absent ||
	    (!absent && !tldrs_checked_file_equal(&now, &self->file))) {
		tldrs_checked_watch_drop(self, "was changed by another program");
		return FALSE;
	}
	return TRUE;
}

/* after @handed bytes went to the sink (its backlog was @backlog_before, is @backlog_after):
 * the file grew by what the sink stored, and the daemon vouches for it as it is now */
void
tldrs_checked_watch_end(TldrsCheckedWatch *self,
                        gsize handed,
                        gsize backlog_before,
                        gsize backlog_after)
{
	TldrsCheckedFile now;
	gboolean absent;
	guint64 stored;

	g_return_if_fail(self != NULL);
	if (!self->trusted)
		return;
	if (backlog_after > backlog_before + handed) {
		tldrs_checked_watch_drop(self, "lost track of what was stored");
		return;
	}
	stored = handed + backlog_before - backlog_after;
	if (!tldrs_checked_watch_stat(self, &now, &absent) ||
	    (absent ? stored != 0 || !self->absent
	            : now.size != (self->absent ? 0 : self->file.size) + stored ||
	                      (!self->absent &&
	                       (now.dev != self->file.dev || now.ino != self->file.ino)))) {
		tldrs_checked_watch_drop(self, "does not hold what was stored");
		return;
	}
	self->absent = absent;
	if (absent)
		return;
	self->file = now;
	tldrs_checked_vouch(self->checked, self->path, &now);
}

gboolean
tldrs_checked_watch_is_trusted(TldrsCheckedWatch *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->trusted;
}

/* stops watching; what the daemon vouched for stays vouched for */
void
tldrs_checked_watch_free(TldrsCheckedWatch *self)
{
	if (self == NULL)
		return;
	tldrs_checked_unref(self->checked);
	g_free(self->path);
	g_free(self->trace_id);
	g_free(self);
}
