/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <tldrs/tldrs-sink.h>

G_BEGIN_DECLS

/* An in-process sink for unit tests: keeps what it is given, and does what the test sets. */

#define TLDRS_TYPE_TEST_SINK (tldrs_test_sink_get_type())
G_DECLARE_FINAL_TYPE(TldrsTestSink, tldrs_test_sink, TLDRS, TEST_SINK, GObject)

/* one trace as the sink saw it */
typedef struct {
	char *id;
	GString *data;   /* everything write() got, in order */
	guint writes;    /* write() calls */
	guint flushes;   /* flush() and flush_async() calls */
	char *completed; /* trace_complete()'s stored file, or "" for NULL */
	gboolean closed;
} TldrsTestSinkTrace;

TldrsTestSink *
tldrs_test_sink_new(const char *stored_dir);
TldrsTestSinkTrace *
tldrs_test_sink_lookup(TldrsTestSink *self, const char *id);
void
tldrs_test_sink_set_failing(TldrsTestSink *self, gboolean failing);
void
tldrs_test_sink_set_backlog(TldrsTestSink *self, gsize backlog);

G_END_DECLS
