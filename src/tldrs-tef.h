/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

#include "tldrs-checked.h"
#include "tldrs-output-path.h"

G_BEGIN_DECLS

typedef enum {
	TLDRS_TEF_FORMAT_OBJECT, /* {"traceEvents":[...],"otherData":{...}} */
	TLDRS_TEF_FORMAT_ARRAY,  /* [ev, ev, ...] */
} TldrsTefFormat;

typedef struct {
	guint64 events;  /* events written */
	guint64 refused; /* stored lines that were not strict JSON objects, left out */
	guint64 bytes;   /* bytes of TEF written */
} TldrsTefStats;

/* called now and then with the bytes of the source read so far and its size */
typedef void (*TldrsTefProgressFunc)(guint64 done, guint64 total, gpointer user_data);

gboolean
tldrs_tef_format_from_string(const char *str, TldrsTefFormat *format);
const char *
tldrs_tef_format_to_string(TldrsTefFormat format);
void
tldrs_tef_append_json_string(GString *out, const char *str);

gboolean
tldrs_tef_write_fd(const char *source,
                   guint64 source_limit,
                   int out_fd,
                   const char *out_name,
                   TldrsTefFormat format,
                   const char *trace_id,
                   TldrsChecked *checked,
                   TldrsTefProgressFunc progress,
                   gpointer progress_data,
                   TldrsTefStats *stats,
                   GError **error);
gboolean
tldrs_tef_write_file(const char *source,
                     guint64 source_limit,
                     const char *dest,
                     TldrsTefFormat format,
                     const char *trace_id,
                     TldrsTefStats *stats,
                     GError **error);

gboolean
tldrs_tef_write_file_full(const char *source,
                          guint64 source_limit,
                          const char *dest,
                          TldrsTefFormat format,
                          const char *trace_id,
                          TldrsChecked *checked,
                          TldrsTefProgressFunc progress,
                          gpointer progress_data,
                          TldrsTefStats *stats,
                          GError **error);
gboolean
tldrs_tef_write_target(const char *source,
                       guint64 source_limit,
                       const TldrsOutputTarget *target,
                       TldrsTefFormat format,
                       const char *trace_id,
                       TldrsChecked *checked,
                       TldrsTefProgressFunc progress,
                       gpointer progress_data,
                       TldrsTefStats *stats,
                       GError **error);

G_END_DECLS
