/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs-sink-tef"

#include <errno.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include <tldrs/tldrs-sink.h>

/* The TEF sink: when a trace closes (its last connection is gone) it leaves a ready-to-open
 * `<trace-id>.json` in OutputDir, written by the daemon's TEF writer from the events another
 * sink stored (jsonl or gzip) — the same file `tldrs get-tef` gives. The daemon runs the
 * writing like any of its TEF jobs: in a worker, seen by retention, finished before exit. */

struct _TldrsTefSink {
	GObject parent_instance;
	char *output_dir;
	char *format;
	void (*start_tef)(gpointer tef_writer,
	                  const char *source,
	                  const char *dest,
	                  const char *format,
	                  const char *trace_id);
	gpointer tef_writer;
};

G_DECLARE_FINAL_TYPE(TldrsTefSink, tldrs_tef_sink, TLDRS, TEF_SINK, GObject)

typedef struct {
	char *id;
} TldrsTefTrace;

static void
tldrs_tef_sink_iface_init(TldrsSinkInterface *iface);

G_DEFINE_TYPE_WITH_CODE(TldrsTefSink,
                        tldrs_tef_sink,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(TLDRS_TYPE_SINK, tldrs_tef_sink_iface_init))

static gboolean
tldrs_tef_sink_fail(GError **error,
                    const TldrsSinkSetup *setup,
                    const char *key,
                    const char *expected,
                    const char *value)
{
	g_set_error(error,
	            G_IO_ERROR,
	            G_IO_ERROR_INVALID_ARGUMENT,
	            "%s: [%s] %s: expected %s, got \"%s\"",
	            setup->config_path,
	            setup->group,
	            key,
	            expected,
	            value);
	return FALSE;
}

static gboolean
tldrs_tef_sink_setup(TldrsSink *sink, const TldrsSinkSetup *setup, GError **error)
{
	TldrsTefSink *self = TLDRS_TEF_SINK(sink);
	g_auto(GStrv) keys = NULL;

	self->output_dir = g_strdup(setup->data_dir);
	self->format = g_strdup("object");
	if (setup->config != NULL && g_key_file_has_group(setup->config, setup->group))
		keys = g_key_file_get_keys(setup->config, setup->group, NULL, NULL);
	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		g_autofree char *value =
		        g_key_file_get_value(setup->config, setup->group, keys[i], NULL);
		g_strstrip(value);
		if (g_strcmp0(keys[i], "OutputDir") == 0) {
			if (value[0] == '\0')
				continue;
			g_clear_pointer(&self->output_dir, g_free);
			if (value[0] == '~' && (value[1] == '/' || value[1] == '\0'))
				self->output_dir =
				        g_build_filename(g_get_home_dir(), value + 1, NULL);
			else if (g_path_is_absolute(value))
				self->output_dir = g_strdup(value);
			else
				return tldrs_tef_sink_fail(
				        error, setup, keys[i], "an absolute path", value);
		} else if (g_strcmp0(keys[i], "Format") == 0) {
			if (g_strcmp0(value, "object") != 0 && g_strcmp0(value, "array") != 0)
				return tldrs_tef_sink_fail(
				        error, setup, keys[i], "object or array", value);
			g_free(self->format);
			self->format = g_strdup(value);
		}
		/* the daemon refused any other key */
	}
	if (setup->start_tef == NULL) {
		g_set_error_literal(error,
		                    G_IO_ERROR,
		                    G_IO_ERROR_NOT_SUPPORTED,
		                    "the daemon offers no TEF writer");
		return FALSE;
	}
	if (g_mkdir_with_parents(self->output_dir, 0700) != 0) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_FAILED,
		            "cannot create OutputDir %s: %s",
		            self->output_dir,
		            g_strerror(errno));
		return FALSE;
	}
	self->start_tef = setup->start_tef;
	self->tef_writer = setup->tef_writer;
	return TRUE;
}

static gpointer
tldrs_tef_sink_open_trace(TldrsSink *sink, const char *trace_id, const char *file)
{
	TldrsTefTrace *t = g_new0(TldrsTefTrace, 1);
	(void)sink;
	(void)file;
	t->id = g_strdup(trace_id);
	return t;
}

static gboolean
tldrs_tef_sink_write(TldrsSink *sink, gpointer trace, const char *lines, gsize len, GError **error)
{
	/* the events are read back from the storing sink when the trace completes */
	(void)sink;
	(void)trace;
	(void)lines;
	(void)len;
	(void)error;
	return TRUE;
}

static void
tldrs_tef_sink_trace_complete(TldrsSink *sink, gpointer trace, const char *stored_file)
{
	TldrsTefSink *self = TLDRS_TEF_SINK(sink);
	TldrsTefTrace *t = trace;
	g_autofree char *base = g_strconcat(t->id, ".json", NULL);
	g_autofree char *dest = g_build_filename(self->output_dir, base, NULL);

	/* the daemon reads what @stored_file holds now: a later run of the same trace id may
	 * append meanwhile */
	self->start_tef(self->tef_writer, stored_file, dest, self->format, t->id);
}

static void
tldrs_tef_sink_close_trace(TldrsSink *sink, gpointer trace)
{
	TldrsTefTrace *t = trace;
	(void)sink;
	if (t == NULL)
		return;
	g_free(t->id);
	g_free(t);
}

static void
tldrs_tef_sink_finalize(GObject *object)
{
	TldrsTefSink *self = TLDRS_TEF_SINK(object);
	g_free(self->output_dir);
	g_free(self->format);
	G_OBJECT_CLASS(tldrs_tef_sink_parent_class)->finalize(object);
}

static void
tldrs_tef_sink_iface_init(TldrsSinkInterface *iface)
{
	static const char *const keys[] = {"OutputDir", "Format", NULL};
	static const TldrsSinkInfo info = {
	        .name = "tef",
	        .suffix = ".json",
	        .flags = TLDRS_SINK_FLAG_NEEDS_STORED_EVENTS,
	        .config_keys = keys,
	};
	iface->info = &info;
	iface->setup = tldrs_tef_sink_setup;
	iface->open_trace = tldrs_tef_sink_open_trace;
	iface->write = tldrs_tef_sink_write;
	iface->trace_complete = tldrs_tef_sink_trace_complete;
	iface->close_trace = tldrs_tef_sink_close_trace;
}

static void
tldrs_tef_sink_class_init(TldrsTefSinkClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = tldrs_tef_sink_finalize;
}

static void
tldrs_tef_sink_init(TldrsTefSink *self)
{
	(void)self;
}

TLDRS_SINK_PLUGIN_DEFINE(tldrs_tef_sink_get_type)
