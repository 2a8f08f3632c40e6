/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>
#include <glib/gstdio.h>

G_BEGIN_DECLS

/* The identity of a stored file: while it is the same, the file holds the same bytes.
 * ctime cannot be set by a user, so any change to the file changes it. */
typedef struct {
	guint64 size;
	guint64 dev;
	guint64 ino;
	gint64 mtime_ns;
	gint64 ctime_ns;
} TldrsCheckedFile;

void
tldrs_checked_file_from_stat(TldrsCheckedFile *self, const GStatBuf *st);
gboolean
tldrs_checked_file_equal(const TldrsCheckedFile *a, const TldrsCheckedFile *b);
gboolean
tldrs_checked_file_settled(const TldrsCheckedFile *file);

typedef struct _TldrsChecked TldrsChecked;

TldrsChecked *
tldrs_checked_new(void);
TldrsChecked *
tldrs_checked_ref(TldrsChecked *self);
void
tldrs_checked_unref(TldrsChecked *self);
void
tldrs_checked_vouch(TldrsChecked *self, const char *path, const TldrsCheckedFile *file);
gboolean
tldrs_checked_get(TldrsChecked *self, const char *path, TldrsCheckedFile *file);
guint64
tldrs_checked_get_generation(TldrsChecked *self);
gboolean
tldrs_checked_lookup(TldrsChecked *self,
                     const char *path,
                     const GStatBuf *st,
                     guint64 *checked_size);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsChecked, tldrs_checked_unref)

/* one file a sink appends verbatim to, watched around the daemon's writes */
typedef struct _TldrsCheckedWatch TldrsCheckedWatch;

TldrsCheckedWatch *
tldrs_checked_watch_new(TldrsChecked *checked, const char *path, const char *trace_id);
gboolean
tldrs_checked_watch_begin(TldrsCheckedWatch *self);
void
tldrs_checked_watch_end(TldrsCheckedWatch *self,
                        gsize handed,
                        gsize backlog_before,
                        gsize backlog_after);
gboolean
tldrs_checked_watch_is_trusted(TldrsCheckedWatch *self);
void
tldrs_checked_watch_free(TldrsCheckedWatch *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsCheckedWatch, tldrs_checked_watch_free)

G_END_DECLS
