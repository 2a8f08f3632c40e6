/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>
#include <glib/gstdio.h>

G_BEGIN_DECLS

/* The daemon's account of its traces, kept in `.tldrs-state.json` in the data directory so
 * that `tldrs list -l` can show connected clients and refused lines without a bus. */

typedef struct {
	guint clients;
	guint64 events;  /* received by the daemon while it ran */
	guint64 refused; /* lines refused, over every daemon run */
	gint64 last_write;
} TldrsTraceStatus;

typedef struct _TldrsState TldrsState;

/* The identity of a stored `.jsonl` file: while it is the same, the file holds the same bytes.
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

void
tldrs_state_vouch(const char *path, const TldrsCheckedFile *file);
gboolean
tldrs_state_get_vouched(const char *path, TldrsCheckedFile *file);
gboolean
tldrs_state_lookup_checked(const char *path, const GStatBuf *st, guint64 *checked_size);

TldrsState *
tldrs_state_new(const char *data_dir, gboolean enabled);
void
tldrs_state_trace_opened(TldrsState *self, const char *id);
void
tldrs_state_trace_update(TldrsState *self,
                         const char *id,
                         guint clients,
                         guint64 events,
                         guint64 refused,
                         gint64 last_write);
void
tldrs_state_save(TldrsState *self);
const TldrsTraceStatus *
tldrs_state_lookup(TldrsState *self, const char *id);
void
tldrs_state_free(TldrsState *self);

GHashTable *
tldrs_state_load(const char *data_dir, gboolean *daemon_running);
gboolean
tldrs_state_daemon_running(const char *data_dir);

G_END_DECLS
