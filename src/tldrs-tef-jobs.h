/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>

#include "tldrs-tef.h"

G_BEGIN_DECLS

#define TLDRS_TYPE_TEF_JOBS (tldrs_tef_jobs_get_type())
G_DECLARE_FINAL_TYPE(TldrsTefJobs, tldrs_tef_jobs, TLDRS, TEF_JOBS, GObject)

/**
 * TldrsTefJobDoneFunc:
 * @trace_id: the trace the file was written from
 * @path: the TEF file
 * @events: the events it holds (0 on error)
 * @error: (nullable): why it could not be written, or %NULL
 *
 * Called on the main thread once a TEF file is complete or has failed.
 */
typedef void (*TldrsTefJobDoneFunc)(const char *trace_id,
                                    const char *path,
                                    guint64 events,
                                    const GError *error,
                                    gpointer user_data);

TldrsTefJobs *
tldrs_tef_jobs_new(TldrsChecked *checked);
void
tldrs_tef_jobs_start(TldrsTefJobs *self,
                     const char *source,
                     const char *dest,
                     const char *trace_id,
                     TldrsTefFormat format,
                     TldrsTefJobDoneFunc done,
                     gpointer done_data);
void
tldrs_tef_jobs_start_target(TldrsTefJobs *self,
                            const char *source,
                            TldrsOutputTarget *target,
                            const char *trace_id,
                            TldrsTefFormat format,
                            TldrsTefJobDoneFunc done,
                            gpointer done_data);
void
tldrs_tef_jobs_start_nats(TldrsTefJobs *self,
                          const char *url,
                          const char *stream,
                          TldrsOutputTarget *target,
                          const char *trace_id,
                          TldrsTefFormat format,
                          TldrsTefJobDoneFunc done,
                          gpointer done_data);
guint
tldrs_tef_jobs_get_pending(TldrsTefJobs *self);
gboolean
tldrs_tef_jobs_is_reading(TldrsTefJobs *self, const char *trace_id);

G_END_DECLS
