/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs-sink-gzip"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "tldrs-sink.h"

/* The gzip sink: `<trace-id>.jsonl.gz` in the data directory.
 *
 * Compression runs in one worker thread, so it never stalls reading from sockets; the main
 * thread hands it copies of the batches. Each time a trace is opened its file gets a new gzip
 * member appended (concatenated members are valid gzip), so old data is never rewritten. At
 * every flush the stream is sync-flushed: the file is readable up to there while it is being
 * written and after a crash. A trace idle for a whole flush interval finishes its member and
 * frees its compressor, so idle traces cost no zlib memory. */

/* bytes handed to the worker and not compressed yet, before the daemon is asked to wait */
#define TLDRS_GZIP_OUT_CHUNK (256 * 1024)

typedef enum {
	TLDRS_GZIP_JOB_DATA,
	TLDRS_GZIP_JOB_SYNC,
	TLDRS_GZIP_JOB_SYNC_ASYNC, /* the same, nobody waits: the worker frees the job */
	TLDRS_GZIP_JOB_CLOSE,
	TLDRS_GZIP_JOB_QUIT,
} TldrsGzipJobKind;

typedef struct _TldrsGzipSink TldrsGzipSink;

typedef struct {
	TldrsGzipSink *sink;
	char *path;
	int fd;
	z_stream zs;
	gboolean zs_live;
	gboolean dirty;   /* data since the last sync */
	GByteArray *out;  /* compressed bytes not written yet (kept across errors) */
	char *error;      /* the last error, for the main thread; under sink->lock */
	gboolean failing; /* worker only */
} TldrsGzipTrace;

typedef struct {
	TldrsGzipJobKind kind;
	TldrsGzipTrace *trace;
	GBytes *data;
	/* SYNC: the main thread waits for this */
	gboolean done;
} TldrsGzipJob;

struct _TldrsGzipSink {
	GObject parent_instance;
	char *data_dir;
	int level;
	GThread *thread;
	GAsyncQueue *jobs;
	GMutex lock;
	GCond cond;
	gsize backlog; /* under lock */
};

G_DECLARE_FINAL_TYPE(TldrsGzipSink, tldrs_gzip_sink, TLDRS, GZIP_SINK, GObject)

static void
tldrs_gzip_sink_iface_init(TldrsSinkInterface *iface);

G_DEFINE_TYPE_WITH_CODE(TldrsGzipSink,
                        tldrs_gzip_sink,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(TLDRS_TYPE_SINK, tldrs_gzip_sink_iface_init))

/* ---- worker thread ---- */

static void
tldrs_gzip_trace_set_error(TldrsGzipTrace *t, const char *what, int errsv)
{
	TldrsGzipSink *self = t->sink;
	g_mutex_lock(&self->lock);
	g_free(t->error);
	t->error = g_strdup_printf("cannot %s %s: %s", what, t->path, g_strerror(errsv));
	g_mutex_unlock(&self->lock);
	t->failing = TRUE;
}

/* the file was deleted under us: what the compressor holds belongs to a member whose start
 * is gone; drop it, so that new data starts a new member in a new file */
static void
tldrs_gzip_trace_check_deleted(TldrsGzipTrace *t)
{
	struct stat st;
	if (t->fd < 0 || fstat(t->fd, &st) != 0 || st.st_nlink > 0)
		return;
	close(t->fd);
	t->fd = -1;
	if (t->zs_live) {
		deflateEnd(&t->zs);
		t->zs_live = FALSE;
	}
	if (t->out->len > 0) {
		g_warning("%s was deleted while being written: %u compressed bytes lost",
		          t->path,
		          t->out->len);
		g_byte_array_set_size(t->out, 0);
	}
}

static gboolean
tldrs_gzip_trace_ensure_open(TldrsGzipTrace *t)
{
	struct stat st;
	if (t->fd >= 0 && fstat(t->fd, &st) == 0 && st.st_nlink > 0)
		return TRUE;
	tldrs_gzip_trace_check_deleted(t);
	t->fd = g_open(t->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (t->fd < 0) {
		g_autofree char *dir = g_path_get_dirname(t->path);
		if (errno == ENOENT && g_mkdir_with_parents(dir, 0700) == 0)
			t->fd = g_open(t->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	}
	if (t->fd < 0) {
		tldrs_gzip_trace_set_error(t, "open", errno);
		return FALSE;
	}
	if (flock(t->fd, LOCK_SH) != 0)
		g_debug("cannot lock %s: %s", t->path, g_strerror(errno));
	return TRUE;
}

/* write the compressed bytes; what fails stays in t->out for the next try */
static void
tldrs_gzip_trace_write_out(TldrsGzipTrace *t)
{
	gsize off = 0;
	if (t->out->len == 0 || !tldrs_gzip_trace_ensure_open(t))
		return;
	while (off < t->out->len) {
		ssize_t n = write(t->fd, t->out->data + off, t->out->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			tldrs_gzip_trace_set_error(t, "write", errno);
			break;
		}
		off += (gsize)n;
	}
	g_byte_array_remove_range(t->out, 0, (guint)off);
	if (t->out->len == 0 && t->failing) {
		t->failing = FALSE;
		g_message("%s: writing again", t->path);
	}
}

static void
tldrs_gzip_trace_deflate(TldrsGzipTrace *t, const guint8 *data, gsize len, int flush)
{
	TldrsGzipSink *self = t->sink;
	if (len > 0)
		tldrs_gzip_trace_check_deleted(t);
	if (!t->zs_live) {
		if (len == 0 && flush != Z_NO_FLUSH)
			return;
		memset(&t->zs, 0, sizeof(t->zs));
		/* 15 + 16: a gzip member, header and trailer included */
		if (deflateInit2(&t->zs, self->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
		    Z_OK) {
			tldrs_gzip_trace_set_error(t, "compress for", ENOMEM);
			return;
		}
		t->zs_live = TRUE;
	}
	t->zs.next_in = (Bytef *)data;
	t->zs.avail_in = (uInt)len;
	do {
		guint before = t->out->len;
		int rc;
		g_byte_array_set_size(t->out, before + TLDRS_GZIP_OUT_CHUNK);
		t->zs.next_out = t->out->data + before;
		t->zs.avail_out = TLDRS_GZIP_OUT_CHUNK;
		rc = deflate(&t->zs, flush);
		g_byte_array_set_size(t->out, before + TLDRS_GZIP_OUT_CHUNK - t->zs.avail_out);
		if (rc == Z_STREAM_END)
			break;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			break;
	} while (t->zs.avail_out == 0 || t->zs.avail_in > 0);
	if (flush == Z_FINISH) {
		deflateEnd(&t->zs);
		t->zs_live = FALSE;
	}
	/* do not hold much compressed output in memory */
	if (t->out->len >= TLDRS_GZIP_OUT_CHUNK || flush != Z_NO_FLUSH)
		tldrs_gzip_trace_write_out(t);
}

static void
tldrs_gzip_trace_free(TldrsGzipTrace *t)
{
	if (t->zs_live)
		deflateEnd(&t->zs);
	if (t->fd >= 0)
		close(t->fd);
	if (t->out->len > 0)
		g_warning("%s: %u compressed bytes could not be written", t->path, t->out->len);
	g_byte_array_unref(t->out);
	g_free(t->error);
	g_free(t->path);
	g_free(t);
}

static gpointer
tldrs_gzip_sink_worker(gpointer data)
{
	TldrsGzipSink *self = data;
	for (;;) {
		TldrsGzipJob *job = g_async_queue_pop(self->jobs);
		TldrsGzipTrace *t = job->trace;
		switch (job->kind) {
		case TLDRS_GZIP_JOB_DATA: {
			gsize len = 0;
			const guint8 *d = g_bytes_get_data(job->data, &len);
			tldrs_gzip_trace_deflate(t, d, len, Z_NO_FLUSH);
			t->dirty = TRUE;
			g_mutex_lock(&self->lock);
			self->backlog -= len;
			g_mutex_unlock(&self->lock);
			g_bytes_unref(job->data);
			g_free(job);
			break;
		}
		case TLDRS_GZIP_JOB_SYNC_ASYNC:
		case TLDRS_GZIP_JOB_SYNC:
			/* readable up to here; an idle trace ends its member and frees zlib */
			if (t->dirty)
				tldrs_gzip_trace_deflate(t, NULL, 0, Z_SYNC_FLUSH);
			else if (t->zs_live)
				tldrs_gzip_trace_deflate(t, NULL, 0, Z_FINISH);
			else
				tldrs_gzip_trace_write_out(t);
			t->dirty = FALSE;
			if (job->kind == TLDRS_GZIP_JOB_SYNC_ASYNC) {
				g_free(job);
				break;
			}
			g_mutex_lock(&self->lock);
			job->done = TRUE;
			g_cond_broadcast(&self->cond);
			g_mutex_unlock(&self->lock);
			break;
		case TLDRS_GZIP_JOB_CLOSE:
			tldrs_gzip_trace_deflate(t, NULL, 0, Z_FINISH);
			tldrs_gzip_trace_write_out(t);
			tldrs_gzip_trace_free(t);
			g_free(job);
			break;
		case TLDRS_GZIP_JOB_QUIT:
		default:
			g_free(job);
			return NULL;
		}
	}
}

/* ---- main thread ---- */

static void
tldrs_gzip_sink_push(TldrsGzipSink *self, TldrsGzipJobKind kind, TldrsGzipTrace *t, GBytes *data)
{
	TldrsGzipJob *job = g_new0(TldrsGzipJob, 1);
	job->kind = kind;
	job->trace = t;
	job->data = data;
	if (self->thread == NULL)
		self->thread = g_thread_new("tldrs-gzip", tldrs_gzip_sink_worker, self);
	g_async_queue_push(self->jobs, job);
}

static gboolean
tldrs_gzip_sink_setup(TldrsSink *sink, const TldrsSinkSetup *setup, GError **error)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(sink);
	g_auto(GStrv) keys = NULL;

	if (setup->config != NULL && g_key_file_has_group(setup->config, setup->group))
		keys = g_key_file_get_keys(setup->config, setup->group, NULL, NULL);
	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		g_autofree char *value =
		        g_key_file_get_value(setup->config, setup->group, keys[i], NULL);
		guint64 level = 0;
		if (g_strcmp0(keys[i], "Level") != 0) {
			g_set_error(error,
			            G_IO_ERROR,
			            G_IO_ERROR_INVALID_ARGUMENT,
			            "%s: [%s] %s: unknown key",
			            setup->config_path,
			            setup->group,
			            keys[i]);
			return FALSE;
		}
		g_strstrip(value);
		if (!g_ascii_string_to_unsigned(value, 10, 1, 9, &level, NULL)) {
			g_set_error(error,
			            G_IO_ERROR,
			            G_IO_ERROR_INVALID_ARGUMENT,
			            "%s: [%s] %s: expected a whole number from 1 to 9, got \"%s\"",
			            setup->config_path,
			            setup->group,
			            keys[i],
			            value);
			return FALSE;
		}
		self->level = (int)level;
	}
	self->data_dir = g_strdup(setup->data_dir);
	return TRUE;
}

static gpointer
tldrs_gzip_sink_open_trace(TldrsSink *sink, const char *trace_id, const char *file)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(sink);
	TldrsGzipTrace *t = g_new0(TldrsGzipTrace, 1);
	t->sink = self;
	t->fd = -1;
	t->out = g_byte_array_new();
	if (file != NULL) {
		t->path = g_strconcat(file, ".gz", NULL);
	} else {
		g_autofree char *base = g_strconcat(trace_id, ".jsonl.gz", NULL);
		t->path = g_build_filename(self->data_dir, base, NULL);
	}
	return t;
}

/* the last error the worker met for @t, if any, handed over once */
static gboolean
tldrs_gzip_sink_take_error(TldrsGzipSink *self, TldrsGzipTrace *t, GError **error)
{
	g_autofree char *msg = NULL;
	g_mutex_lock(&self->lock);
	msg = g_steal_pointer(&t->error);
	g_mutex_unlock(&self->lock);
	if (msg == NULL)
		return TRUE;
	g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, msg);
	return FALSE;
}

static gboolean
tldrs_gzip_sink_write(TldrsSink *sink, gpointer trace, const char *lines, gsize len, GError **error)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(sink);
	TldrsGzipTrace *t = trace;
	g_mutex_lock(&self->lock);
	self->backlog += len;
	g_mutex_unlock(&self->lock);
	tldrs_gzip_sink_push(self, TLDRS_GZIP_JOB_DATA, t, g_bytes_new(lines, len));
	return tldrs_gzip_sink_take_error(self, t, error);
}

static gboolean
tldrs_gzip_sink_flush(TldrsSink *sink, gpointer trace, GError **error)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(sink);
	TldrsGzipTrace *t = trace;
	TldrsGzipJob *job = g_new0(TldrsGzipJob, 1);

	/* wait until the file holds everything accepted so far */
	job->kind = TLDRS_GZIP_JOB_SYNC;
	job->trace = t;
	if (self->thread == NULL)
		self->thread = g_thread_new("tldrs-gzip", tldrs_gzip_sink_worker, self);
	g_async_queue_push(self->jobs, job);
	g_mutex_lock(&self->lock);
	while (!job->done)
		g_cond_wait(&self->cond, &self->lock);
	g_mutex_unlock(&self->lock);
	g_free(job);
	return tldrs_gzip_sink_take_error(self, t, error);
}

/* the periodic flush: queue the sync flush, do not wait for the compressor */
static gboolean
tldrs_gzip_sink_flush_async(TldrsSink *sink, gpointer trace, GError **error)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(sink);
	TldrsGzipTrace *t = trace;
	tldrs_gzip_sink_push(self, TLDRS_GZIP_JOB_SYNC_ASYNC, t, NULL);
	return tldrs_gzip_sink_take_error(self, t, error);
}

static void
tldrs_gzip_sink_close_trace(TldrsSink *sink, gpointer trace)
{
	if (trace == NULL)
		return;
	/* the worker finishes the member and frees the state */
	tldrs_gzip_sink_push(TLDRS_GZIP_SINK(sink), TLDRS_GZIP_JOB_CLOSE, trace, NULL);
}

static char *
tldrs_gzip_sink_stored_file(TldrsSink *sink, gpointer trace)
{
	TldrsGzipTrace *t = trace;
	(void)sink;
	return t != NULL ? g_strdup(t->path) : NULL;
}

static gsize
tldrs_gzip_sink_backlog(TldrsSink *sink)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(sink);
	gsize backlog;
	g_mutex_lock(&self->lock);
	backlog = self->backlog;
	g_mutex_unlock(&self->lock);
	return backlog;
}

static void
tldrs_gzip_sink_shutdown(TldrsSink *sink)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(sink);
	if (self->thread == NULL)
		return;
	tldrs_gzip_sink_push(self, TLDRS_GZIP_JOB_QUIT, NULL, NULL);
	g_thread_join(g_steal_pointer(&self->thread));
}

static void
tldrs_gzip_sink_finalize(GObject *object)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(object);
	tldrs_gzip_sink_shutdown(TLDRS_SINK(self));
	g_async_queue_unref(self->jobs);
	g_mutex_clear(&self->lock);
	g_cond_clear(&self->cond);
	g_free(self->data_dir);
	G_OBJECT_CLASS(tldrs_gzip_sink_parent_class)->finalize(object);
}

static void
tldrs_gzip_sink_iface_init(TldrsSinkInterface *iface)
{
	iface->setup = tldrs_gzip_sink_setup;
	iface->open_trace = tldrs_gzip_sink_open_trace;
	iface->write = tldrs_gzip_sink_write;
	iface->flush = tldrs_gzip_sink_flush;
	iface->flush_async = tldrs_gzip_sink_flush_async;
	iface->close_trace = tldrs_gzip_sink_close_trace;
	iface->stored_file = tldrs_gzip_sink_stored_file;
	iface->backlog = tldrs_gzip_sink_backlog;
	iface->shutdown = tldrs_gzip_sink_shutdown;
}

static void
tldrs_gzip_sink_class_init(TldrsGzipSinkClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = tldrs_gzip_sink_finalize;
}

static void
tldrs_gzip_sink_init(TldrsGzipSink *self)
{
	self->level = 1;
	self->jobs = g_async_queue_new();
	g_mutex_init(&self->lock);
	g_cond_init(&self->cond);
}

TLDRS_SINK_PLUGIN_DEFINE(tldrs_gzip_sink_get_type)
