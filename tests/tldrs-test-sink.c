/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#include <gio/gio.h>

#include "tldrs-test-sink.h"

struct _TldrsTestSink {
	GObject parent_instance;
	char *stored_dir;   /* stored_file() is "<dir>/<id>.test", or NULL for none */
	GHashTable *traces; /* id -> TldrsTestSinkTrace, kept after close for the test */
	gboolean failing;   /* write() and flush() fail */
	gsize backlog;
};

static void
tldrs_test_sink_iface_init(TldrsSinkInterface *iface);

G_DEFINE_TYPE_WITH_CODE(TldrsTestSink,
                        tldrs_test_sink,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(TLDRS_TYPE_SINK, tldrs_test_sink_iface_init))

static void
tldrs_test_sink_trace_free(TldrsTestSinkTrace *t)
{
	g_free(t->id);
	g_string_free(t->data, TRUE);
	g_free(t->completed);
	g_free(t);
}

static gpointer
tldrs_test_sink_open_trace(TldrsSink *sink, const char *trace_id, const char *file)
{
	TldrsTestSink *self = TLDRS_TEST_SINK(sink);
	TldrsTestSinkTrace *t = g_new0(TldrsTestSinkTrace, 1);
	(void)file;
	t->id = g_strdup(trace_id);
	t->data = g_string_new(NULL);
	g_hash_table_replace(self->traces, t->id, t);
	return t;
}

static gboolean
tldrs_test_sink_write(TldrsSink *sink, gpointer trace, const char *lines, gsize len, GError **error)
{
	TldrsTestSink *self = TLDRS_TEST_SINK(sink);
	TldrsTestSinkTrace *t = trace;
	if (self->failing) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "test sink is full");
		return FALSE;
	}
	t->writes++;
	g_string_append_len(t->data, lines, (gssize)len);
	return TRUE;
}

static gboolean
tldrs_test_sink_flush(TldrsSink *sink, gpointer trace, GError **error)
{
	TldrsTestSink *self = TLDRS_TEST_SINK(sink);
	TldrsTestSinkTrace *t = trace;
	if (self->failing) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "test sink is full");
		return FALSE;
	}
	t->flushes++;
	return TRUE;
}

static char *
tldrs_test_sink_stored_file(TldrsSink *sink, gpointer trace)
{
	TldrsTestSink *self = TLDRS_TEST_SINK(sink);
	TldrsTestSinkTrace *t = trace;
	g_autofree char *base = NULL;
	if (self->stored_dir == NULL)
		return NULL;
	base = g_strconcat(t->id, ".test", NULL);
	return g_build_filename(self->stored_dir, base, NULL);
}

static void
tldrs_test_sink_trace_complete(TldrsSink *sink, gpointer trace, const char *stored_file)
{
	TldrsTestSinkTrace *t = trace;
	(void)sink;
	g_free(t->completed);
	t->completed = g_strdup(stored_file != NULL ? stored_file : "");
}

static void
tldrs_test_sink_close_trace(TldrsSink *sink, gpointer trace)
{
	TldrsTestSinkTrace *t = trace;
	(void)sink;
	t->closed = TRUE;
}

static gsize
tldrs_test_sink_backlog(TldrsSink *sink)
{
	return TLDRS_TEST_SINK(sink)->backlog;
}

static void
tldrs_test_sink_iface_init(TldrsSinkInterface *iface)
{
	static const char *const keys[] = {NULL};
	static const TldrsSinkInfo info = {
	        .name = "test",
	        .suffix = ".test",
	        .flags = TLDRS_SINK_FLAG_STORES_EVENTS,
	        .config_keys = keys,
	};
	iface->info = &info;
	iface->open_trace = tldrs_test_sink_open_trace;
	iface->write = tldrs_test_sink_write;
	iface->flush = tldrs_test_sink_flush;
	iface->stored_file = tldrs_test_sink_stored_file;
	iface->trace_complete = tldrs_test_sink_trace_complete;
	iface->close_trace = tldrs_test_sink_close_trace;
	iface->backlog = tldrs_test_sink_backlog;
}

static void
tldrs_test_sink_finalize(GObject *object)
{
	TldrsTestSink *self = TLDRS_TEST_SINK(object);
	g_hash_table_unref(self->traces);
	g_free(self->stored_dir);
	G_OBJECT_CLASS(tldrs_test_sink_parent_class)->finalize(object);
}

static void
tldrs_test_sink_class_init(TldrsTestSinkClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = tldrs_test_sink_finalize;
}

static void
tldrs_test_sink_init(TldrsTestSink *self)
{
	self->traces = g_hash_table_new_full(
	        g_str_hash, g_str_equal, NULL, (GDestroyNotify)tldrs_test_sink_trace_free);
}

/* @stored_dir: where stored_file() says the events are, or NULL for no stored file */
TldrsTestSink *
tldrs_test_sink_new(const char *stored_dir)
{
	TldrsTestSink *self = g_object_new(TLDRS_TYPE_TEST_SINK, NULL);
	self->stored_dir = g_strdup(stored_dir);
	return self;
}

TldrsTestSinkTrace *
tldrs_test_sink_lookup(TldrsTestSink *self, const char *id)
{
	return g_hash_table_lookup(self->traces, id);
}

void
tldrs_test_sink_set_failing(TldrsTestSink *self, gboolean failing)
{
	self->failing = failing;
}

void
tldrs_test_sink_set_backlog(TldrsTestSink *self, gsize backlog)
{
	self->backlog = backlog;
}
