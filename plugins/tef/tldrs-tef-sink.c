/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs-sink-tef"

#include <errno.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "tldrs-sink.h"

/* The TEF sink: when a trace closes (its last connection is gone) it leaves a ready-to-open
 * `<trace-id>.json` in OutputDir, written by the daemon's one TEF writer from the events
 * another sink stored (jsonl or gzip) — the same file `tldrs get-tef` gives. Writing runs in
 * a worker thread; shutdown waits for it. */

struct _TldrsTefSink {
	GObject parent_instance;
	char *output_dir;
	char *format;
	TldrsSinkSetup setup; /* only write_tef is kept */
	GThreadPool *pool;
};

G_DECLARE_FINAL_TYPE(TldrsTefSink, tldrs_tef_sink, TLDRS, TEF_SINK, GObject)

typedef struct {
	char *id;
} TldrsTefTrace;

typedef struct {
	char *id;
	char *source;
	guint64 limit;
	char *dest;
} TldrsTefJob;

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

static void
tldrs_tef_sink_run(gpointer data, gpointer user_data)
{
	TldrsTefJob *job = data;
	TldrsTefSink *self = TLDRS_TEF_SINK(user_data);
	g_autoptr(GError) error = NULL;
	guint64 events = 0;

	if (!self->setup.write_tef(
	            job->source, job->limit, job->dest, self->format, job->id, &events, &error)) {
		g_warning("trace %s: cannot write %s: %s", job->id, job->dest, error->message);
	} else {
		g_info("trace %s: wrote %s (%" G_GUINT64_FORMAT " events)",
		       job->id,
		       job->dest,
		       events);
	}
	g_free(job->id);
	g_free(job->source);
	g_free(job->dest);
	g_free(job);
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
		} else {
			g_set_error(error,
			            G_IO_ERROR,
			            G_IO_ERROR_INVALID_ARGUMENT,
			            "%s: [%s] %s: unknown key",
			            setup->config_path,
			            setup->group,
			            keys[i]);
			return FALSE;
		}
	}
	if (setup->write_tef == NULL) {
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
	self->setup.write_tef = setup->write_tef;
	self->pool = g_thread_pool_new(tldrs_tef_sink_run, self, 1, FALSE, NULL);
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
	TldrsTefJob *job = g_new0(TldrsTefJob, 1);
	g_autofree char *base = g_strconcat(t->id, ".json", NULL);
	GStatBuf sb;

	job->id = g_strdup(t->id);
	job->source = g_strdup(stored_file);
	/* a snapshot: a later run of the same trace id may append meanwhile */
	job->limit = G_MAXUINT64;
	if (stored_file != NULL && !g_str_has_suffix(stored_file, ".gz") &&
	    g_stat(stored_file, &sb) == 0)
		job->limit = (guint64)sb.st_size;
	job->dest = g_build_filename(self->output_dir, base, NULL);
	g_thread_pool_push(self->pool, job, NULL);
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
tldrs_tef_sink_shutdown(TldrsSink *sink)
{
	TldrsTefSink *self = TLDRS_TEF_SINK(sink);
	/* finish every TEF file in the queue */
	if (self->pool != NULL)
		g_thread_pool_free(g_steal_pointer(&self->pool), FALSE, TRUE);
}

static void
tldrs_tef_sink_finalize(GObject *object)
{
	TldrsTefSink *self = TLDRS_TEF_SINK(object);
	tldrs_tef_sink_shutdown(TLDRS_SINK(self));
	g_free(self->output_dir);
	g_free(self->format);
	G_OBJECT_CLASS(tldrs_tef_sink_parent_class)->finalize(object);
}

static void
tldrs_tef_sink_iface_init(TldrsSinkInterface *iface)
{
	iface->setup = tldrs_tef_sink_setup;
	iface->open_trace = tldrs_tef_sink_open_trace;
	iface->write = tldrs_tef_sink_write;
	iface->trace_complete = tldrs_tef_sink_trace_complete;
	iface->close_trace = tldrs_tef_sink_close_trace;
	iface->shutdown = tldrs_tef_sink_shutdown;
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
