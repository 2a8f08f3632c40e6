/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs-sink-count"

#include <tldrs/tldrs-sink.h>

/* The count sink: counts the event lines of each trace and logs the total when the trace
 * closes. It stores nothing, so it cannot fail. */

struct _TldrsCountSink {
	GObject parent_instance;
};

G_DECLARE_FINAL_TYPE(TldrsCountSink, tldrs_count_sink, TLDRS, COUNT_SINK, GObject)

typedef struct {
	char *trace_id;
	guint64 lines;
} TldrsCountTrace;

static void
tldrs_count_sink_iface_init(TldrsSinkInterface *iface);

G_DEFINE_TYPE_WITH_CODE(TldrsCountSink,
                        tldrs_count_sink,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(TLDRS_TYPE_SINK, tldrs_count_sink_iface_init))

static gpointer
tldrs_count_sink_open_trace(TldrsSink *sink, const char *trace_id, const char *file)
{
	TldrsCountTrace *t = g_new0(TldrsCountTrace, 1);
	(void)sink;
	(void)file;
	t->trace_id = g_strdup(trace_id);
	return t;
}

static gboolean
tldrs_count_sink_write(TldrsSink *sink,
                       gpointer trace,
                       const char *lines,
                       gsize len,
                       GError **error)
{
	TldrsCountTrace *t = trace;
	(void)sink;
	(void)error;
	/* whole lines, each ended by '\n' */
	for (gsize i = 0; i < len; i++) {
		if (lines[i] == '\n')
			t->lines++;
	}
	return TRUE;
}

static void
tldrs_count_sink_close_trace(TldrsSink *sink, gpointer trace)
{
	TldrsCountTrace *t = trace;
	(void)sink;
	g_message("trace %s: %" G_GUINT64_FORMAT " events", t->trace_id, t->lines);
	g_free(t->trace_id);
	g_free(t);
}

static void
tldrs_count_sink_iface_init(TldrsSinkInterface *iface)
{
	static const char *const keys[] = {NULL};
	static const TldrsSinkInfo info = {
	        .name = "count",
	        .flags = TLDRS_SINK_FLAG_NONE,
	        .config_keys = keys,
	};
	iface->info = &info;
	iface->open_trace = tldrs_count_sink_open_trace;
	iface->write = tldrs_count_sink_write;
	iface->close_trace = tldrs_count_sink_close_trace;
}

static void
tldrs_count_sink_class_init(TldrsCountSinkClass *klass)
{
	(void)klass;
}

static void
tldrs_count_sink_init(TldrsCountSink *self)
{
	(void)self;
}

TLDRS_SINK_PLUGIN_DEFINE(tldrs_count_sink_get_type)
