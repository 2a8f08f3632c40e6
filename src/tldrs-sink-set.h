/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include "tldrs-config.h"
#include <tldrs/tldrs-sink.h>

G_BEGIN_DECLS

/* TldrsSinkSetup.start_tef */
typedef void (*TldrsSinkSetStartTefFunc)(gpointer tef_writer,
                                         const char *source,
                                         const char *dest,
                                         const char *format,
                                         const char *trace_id);

typedef struct _TldrsSinkSet TldrsSinkSet;

TldrsSinkSet *
tldrs_sink_set_new(const TldrsConfig *config,
                   TldrsSinkSetStartTefFunc start_tef,
                   gpointer tef_writer,
                   GError **error);
GPtrArray *
tldrs_sink_set_get_sinks(TldrsSinkSet *self);
const char *const *
tldrs_sink_set_get_own_suffixes(TldrsSinkSet *self);
void
tldrs_sink_set_shutdown(TldrsSinkSet *self);
void
tldrs_sink_set_free(TldrsSinkSet *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsSinkSet, tldrs_sink_set_free)

G_END_DECLS
