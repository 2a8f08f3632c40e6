/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs-sink-jsonl"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include <tldrs/tldrs-sink.h>

/* The jsonl sink: `<trace-id>.jsonl` in the data directory, one event per line, appended
 * with one write(2) per batch. Only whole lines ever stay in the file: a short write (a full
 * disk) is cut back to the last complete line and the rest is kept and retried. While a trace
 * is open its file holds a shared flock(), so `tldrs clear` leaves it alone. */

/* memory kept for retrying after write errors, per trace, before the daemon is told to wait */
#define TLDRS_JSONL_RETRY_MAX (64 * 1024 * 1024)

struct _TldrsJsonlSink {
	GObject parent_instance;
	char *data_dir;
	gsize backlog;
};

G_DECLARE_FINAL_TYPE(TldrsJsonlSink, tldrs_jsonl_sink, TLDRS, JSONL_SINK, GObject)

typedef struct {
	char *path;
	int fd;
	GByteArray *retry; /* lines not stored yet, in order */
} TldrsJsonlTrace;

static void
tldrs_jsonl_sink_iface_init(TldrsSinkInterface *iface);

G_DEFINE_TYPE_WITH_CODE(TldrsJsonlSink,
                        tldrs_jsonl_sink,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(TLDRS_TYPE_SINK, tldrs_jsonl_sink_iface_init))

static gboolean
tldrs_jsonl_sink_setup(TldrsSink *sink, const TldrsSinkSetup *setup, GError **error)
{
	TldrsJsonlSink *self = TLDRS_JSONL_SINK(sink);
	/* no keys of its own (the daemon refuses any in [Sink jsonl]) */
	self->data_dir = g_strdup(setup->data_dir);
	return TRUE;
}

static gpointer
tldrs_jsonl_sink_open_trace(TldrsSink *sink, const char *trace_id, const char *file)
{
	TldrsJsonlSink *self = TLDRS_JSONL_SINK(sink);
	TldrsJsonlTrace *t = g_new0(TldrsJsonlTrace, 1);
	if (file != NULL) {
		t->path = g_strdup(file);
	} else {
		g_autofree char *base = g_strconcat(trace_id, ".jsonl", NULL);
		t->path = g_build_filename(self->data_dir, base, NULL);
	}
	t->fd = -1;
	return t;
}

static gboolean
tldrs_jsonl_sink_set_error(GError **error, const char *what, const char *path, int errsv)
{
	g_set_error(error,
	            G_IO_ERROR,
	            g_io_error_from_errno(errsv),
	            "cannot %s %s: %s",
	            what,
	            path,
	            g_strerror(errsv));
	return FALSE;
}

static gboolean
tldrs_jsonl_sink_ensure_open(TldrsJsonlTrace *t, GError **error)
{
	/* a file removed under us (a deleted data directory): start a new one */
	if (t->fd >= 0) {
		struct stat st;
		if (fstat(t->fd, &st) == 0 && st.st_nlink > 0)
			return TRUE;
		close(t->fd);
		t->fd = -1;
	}
	for (guint attempt = 0; attempt < 3; attempt++) {
		struct stat st;
		g_autofree char *dir = g_path_get_dirname(t->path);
		int fd = g_open(t->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 && errno == ENOENT && g_mkdir_with_parents(dir, 0700) == 0)
			fd = g_open(t->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			return tldrs_jsonl_sink_set_error(error, "open", t->path, errno);
		/* `tldrs clear` holds an exclusive lock while it deletes */
		if (flock(fd, LOCK_SH) != 0) {
			int errsv = errno;
			close(fd);
			return tldrs_jsonl_sink_set_error(error, "lock", t->path, errsv);
		}
		if (fstat(fd, &st) == 0 && st.st_nlink > 0) {
			t->fd = fd;
			return TRUE;
		}
		close(fd); /* deleted between open and lock: again */
	}
	return tldrs_jsonl_sink_set_error(error, "open", t->path, ENOENT);
}

/* write all of data; on failure cut the file back to whole lines, return what stayed out */
static gsize
tldrs_jsonl_sink_write_all(TldrsJsonlTrace *t, const char *data, gsize len, GError **error)
{
	gsize off = 0;
	off_t start;

	if (!tldrs_jsonl_sink_ensure_open(t, error))
		return 0;
	start = lseek(t->fd, 0, SEEK_END);
	while (off < len) {
		ssize_t n = write(t->fd, data + off, len - off);
		if (n < 0) {
			int errsv = errno;
			const char *last_nl;
			if (errsv == EINTR)
				continue;
			/* keep whole lines only: the partial one goes back to the caller */
			last_nl = off > 0 ? g_strrstr_len(data, (gssize)off, "\n") : NULL;
			off = last_nl != NULL ? (gsize)(last_nl - data) + 1 : 0;
			if (start >= 0 && ftruncate(t->fd, start + (off_t)off) != 0)
				g_debug("cannot truncate %s: %s", t->path, g_strerror(errno));
			tldrs_jsonl_sink_set_error(error, "write", t->path, errsv);
			return off;
		}
		off += (gsize)n;
	}
	return off;
}

static gboolean
tldrs_jsonl_sink_retry(TldrsJsonlSink *self, TldrsJsonlTrace *t, GError **error)
{
	gsize done;
	if (t->retry == NULL || t->retry->len == 0)
		return TRUE;
	done = tldrs_jsonl_sink_write_all(t, (const char *)t->retry->data, t->retry->len, error);
	self->backlog -= done;
	g_byte_array_remove_range(t->retry, 0, (guint)done);
	if (t->retry->len > 0)
		return FALSE;
	g_clear_pointer(&t->retry, g_byte_array_unref);
	return TRUE;
}

static gboolean
tldrs_jsonl_sink_write(TldrsSink *sink,
                       gpointer trace,
                       const char *lines,
                       gsize len,
                       GError **error)
{
	TldrsJsonlSink *self = TLDRS_JSONL_SINK(sink);
	TldrsJsonlTrace *t = trace;
	gsize done = 0;
	gboolean ok = TRUE;

	/* earlier lines first, so the order stays */
	if (t->retry == NULL) {
		done = tldrs_jsonl_sink_write_all(t, lines, len, error);
		if (done == len)
			return TRUE;
		ok = FALSE;
		t->retry = g_byte_array_new();
	}
	g_byte_array_append(t->retry, (const guint8 *)lines + done, (guint)(len - done));
	self->backlog += len - done;
	if (ok)
		ok = tldrs_jsonl_sink_retry(self, t, error);
	if (t->retry != NULL && t->retry->len > TLDRS_JSONL_RETRY_MAX)
		g_debug("%s: %u bytes waiting to be written", t->path, t->retry->len);
	return ok;
}

static gboolean
tldrs_jsonl_sink_flush(TldrsSink *sink, gpointer trace, GError **error)
{
	return tldrs_jsonl_sink_retry(TLDRS_JSONL_SINK(sink), trace, error);
}

static void
tldrs_jsonl_sink_close_trace(TldrsSink *sink, gpointer trace)
{
	TldrsJsonlSink *self = TLDRS_JSONL_SINK(sink);
	TldrsJsonlTrace *t = trace;
	if (t == NULL)
		return;
	/* a last try for what could not be written */
	if (t->retry != NULL)
		tldrs_jsonl_sink_retry(self, t, NULL);
	if (t->retry != NULL) {
		g_warning("%s: %u bytes could not be written and are lost", t->path, t->retry->len);
		self->backlog -= t->retry->len;
		g_byte_array_unref(t->retry);
	}
	if (t->fd >= 0)
		close(t->fd);
	g_free(t->path);
	g_free(t);
}

static char *
tldrs_jsonl_sink_stored_file(TldrsSink *sink, gpointer trace)
{
	TldrsJsonlTrace *t = trace;
	(void)sink;
	return t != NULL ? g_strdup(t->path) : NULL;
}

static gsize
tldrs_jsonl_sink_backlog(TldrsSink *sink)
{
	return TLDRS_JSONL_SINK(sink)->backlog;
}

static void
tldrs_jsonl_sink_finalize(GObject *object)
{
	TldrsJsonlSink *self = TLDRS_JSONL_SINK(object);
	g_free(self->data_dir);
	G_OBJECT_CLASS(tldrs_jsonl_sink_parent_class)->finalize(object);
}

static void
tldrs_jsonl_sink_iface_init(TldrsSinkInterface *iface)
{
	static const char *const keys[] = {NULL};
	static const TldrsSinkInfo info = {
	        .name = "jsonl",
	        .suffix = ".jsonl",
	        .flags = TLDRS_SINK_FLAG_STORES_EVENTS | TLDRS_SINK_FLAG_APPENDS_VERBATIM |
	                 TLDRS_SINK_FLAG_INTO_FILE,
	        .config_keys = keys,
	};
	iface->info = &info;
	iface->setup = tldrs_jsonl_sink_setup;
	iface->open_trace = tldrs_jsonl_sink_open_trace;
	iface->write = tldrs_jsonl_sink_write;
	iface->flush = tldrs_jsonl_sink_flush;
	iface->close_trace = tldrs_jsonl_sink_close_trace;
	iface->stored_file = tldrs_jsonl_sink_stored_file;
	iface->backlog = tldrs_jsonl_sink_backlog;
}

static void
tldrs_jsonl_sink_class_init(TldrsJsonlSinkClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = tldrs_jsonl_sink_finalize;
}

static void
tldrs_jsonl_sink_init(TldrsJsonlSink *self)
{
	(void)self;
}

TLDRS_SINK_PLUGIN_DEFINE(tldrs_jsonl_sink_get_type)
