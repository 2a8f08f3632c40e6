/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

#include "tldrs-config.h"

G_BEGIN_DECLS

/* how often retention looks at the data directory, in seconds */
#define TLDRS_RETENTION_INTERVAL_SEC 10

/* TRUE when the trace @id is in use (open, or a TEF file is written from it) */
typedef gboolean (*TldrsRetentionBusyFunc)(const char *id, gpointer user_data);

typedef struct _TldrsRetention TldrsRetention;

TldrsRetention *
tldrs_retention_new(const TldrsConfig *config, TldrsRetentionBusyFunc busy, gpointer user_data);
void
tldrs_retention_start(TldrsRetention *self);
void
tldrs_retention_apply(TldrsRetention *self);
void
tldrs_retention_free(TldrsRetention *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsRetention, tldrs_retention_free)

G_END_DECLS
