/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>
#include <glib/gstdio.h>

#include "tldrs-checked.h"

G_BEGIN_DECLS

/* The daemon's account of its traces, kept in `.tldrs-state.json` in the data directory so
 * that `tldrs list -l` can show connected clients and refused lines without a bus. */

typedef struct {
	guint clients;
	guint64 events;  /* received by the daemon while it ran */
	guint64 refused; /* lines refused, over every daemon run */
	gint64 last_write;
	guint64 dropped; /* events a sink gave up on, over every daemon run */
} TldrsTraceStatus;

typedef struct _TldrsState TldrsState;

gboolean
tldrs_state_lookup_record(const char *path, const GStatBuf *st, TldrsCheckedFile *rec);

TldrsState *
tldrs_state_new(const char *data_dir, gboolean enabled, TldrsChecked *checked);
void
tldrs_state_trace_opened(TldrsState *self, const char *id);
void
tldrs_state_trace_update(TldrsState *self,
                         const char *id,
                         guint clients,
                         guint64 events,
                         guint64 refused,
                         guint64 dropped,
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
