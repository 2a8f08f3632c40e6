/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

#include "tldrs-checked.h"

G_BEGIN_DECLS

/* The stored traces of a data directory, as the CLI sees them: one entry per trace id,
 * whatever forms it is stored in (`.jsonl`, `.jsonl.gz`, `.json`). */

typedef struct {
	char *id;
	char *source;     /* the file to read events from: .jsonl, else .jsonl.gz, else NULL */
	char *tef;        /* a ready TEF file (.json), or NULL */
	GPtrArray *files; /* every file of the trace */
	guint64 bytes;    /* of all its files */
	gint64 mtime;     /* newest modification, µs since the epoch */
} TldrsStoredTrace;

GPtrArray *
tldrs_store_list(const char *data_dir, GError **error);
TldrsStoredTrace *
tldrs_store_find(GPtrArray *traces, const char *id);
gboolean
tldrs_store_resolve(const char *data_dir,
                    const char *arg,
                    char **source,
                    char **trace_id,
                    GError **error);
gboolean
tldrs_store_clear(const char *data_dir, guint *deleted, GPtrArray *busy, GError **error);
gboolean
tldrs_store_count_events(const char *source,
                         TldrsChecked *checked,
                         guint64 *events,
                         GError **error);
void
tldrs_stored_trace_free(TldrsStoredTrace *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsStoredTrace, tldrs_stored_trace_free)

G_END_DECLS
