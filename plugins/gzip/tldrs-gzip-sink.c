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

#include <tldrs/tldrs-sink.h>

/* The gzip sink: `<trace-id>.jsonl.gz` in the data directory.
 *
 * The events of a trace are cut into blocks, and a GThreadPool compresses the blocks in
 * parallel, each one on its own as raw deflate, primed with the last 32 KiB before it (so
 * the ratio is that of one stream) and ended by a sync flush (so the blocks can simply be put
 * one after the other). Whichever task finishes a block that is next in its trace writes it,
 * and every finished block after it, in order; the gzip header, the CRC-32 (put together from
 * the blocks' with crc32_combine()) and the length are added around them here.
 *
 * Compressors (a z_stream and its output buffer) and block buffers are kept for reuse while
 * there is work, and freed once the pool has had none queued or running for 2 s (a timeout
 * on the main loop), so that an idle daemon holds none of them.
 *
 * Each time a trace is opened its file gets a new gzip member appended (concatenated members
 * are valid gzip), so old data is never rewritten. Every block ends in a sync flush and a flush
 * cuts the block being filled, so the file is readable up to the last flush while it is being
 * written and after a crash. A trace idle for a whole flush interval finishes its member. */

/* a trace's events are compressed in blocks of at most this size, cut at line ends */
#define TLDRS_GZIP_BLOCK (256 * 1024)
/* the deflate window: how far back a block may refer */
#define TLDRS_GZIP_WINDOW (32 * 1024)
/* a block's buffer: room for the 32 KiB before the block, then for the block */
#define TLDRS_GZIP_BUF_SIZE (TLDRS_GZIP_WINDOW + TLDRS_GZIP_BLOCK)
/* free block buffers kept for reuse while there is work (already mapped: no page faults when
 * filled again) */
#define TLDRS_GZIP_POOL_MAX 8
/* at most this many compressing threads, however many CPUs */
#define TLDRS_GZIP_MAX_THREADS 4
/* compressors and free block buffers are freed after this long without work */
#define TLDRS_GZIP_IDLE_MS 2000

typedef enum {
	TLDRS_GZIP_ITEM_DATA,   /* a block of events */
	TLDRS_GZIP_ITEM_SYNC,   /* write out what could not be written before */
	TLDRS_GZIP_ITEM_FINISH, /* end the member */
} TldrsGzipItemKind;

typedef struct _TldrsGzipSink TldrsGzipSink;

/* Main thread: the fields up to `items`. Under sink->lock: `items` to `unwritten`.
 * The rest belongs to the thread that has set `writing` (or to the main thread once
 * `items` is empty and nobody writes). */
typedef struct {
	TldrsGzipSink *sink;
	char *path;
	guint8 *block;    /* the block being filled (a buffer), or NULL */
	gsize block_dict; /* how much of the 32 KiB before it it has */
	gsize block_len;  /* events in it */
	guint8 *window;   /* the last 32 KiB of the open member, or NULL */
	gsize window_len;
	gboolean member_open;
	gboolean dirty; /* events since the last flush */

	GQueue items;     /* of TldrsGzipItem, in order, until written */
	gboolean writing; /* a thread is writing items */
	gboolean kicked;  /* a task is queued to write it */
	char *error;      /* the last error, while writing fails */
	gsize unwritten;  /* bytes out held after the last write (counted in the backlog) */

	int fd;
	GByteArray *out; /* compressed bytes not written yet (kept across errors) */
	gboolean failing;
	gboolean in_member; /* the current file has this member's header */
	guint32 crc;        /* of the member so far */
	guint32 isize;      /* of the member so far, modulo 2^32 */
	guint64 member_in;  /* uncompressed bytes of the member in the current file */
} TldrsGzipTrace;

typedef struct {
	TldrsGzipItemKind kind;
	TldrsGzipTrace *trace;
	guint8 *buf;    /* DATA: a buffer: the dictionary ends, the events start at 32 KiB */
	gsize dict_len; /* DATA: what comes just before the events in the member */
	gsize len;      /* DATA: the events */
	guint8 *out;    /* DATA: the events compressed */
	gsize out_len;
	guint32 crc;   /* DATA: of the events */
	gboolean done; /* compressed; under sink->lock */
} TldrsGzipItem;

/* a compressor, used by one task at a time */
typedef struct {
	z_stream zs;
	gboolean live;
	guint8 *buf;
	gsize buf_size;
} TldrsGzipWorker;

/* what a pool task does: compress @item and write its trace, or write @trace (kicked) */
typedef struct {
	TldrsGzipItem *item;
	TldrsGzipTrace *trace;
} TldrsGzipJob;

struct _TldrsGzipSink {
	GObject parent_instance;
	char *data_dir;
	int level;
	guint max_threads;
	GMutex lock;
	GCond done_cond;        /* a task stopped writing a trace */
	GThreadPool *tasks;     /* TldrsGzipJob; made when first needed; under lock */
	guint running;          /* tasks being run; under lock */
	gsize backlog;          /* queued bytes not yet written, and compressed bytes kept after a
	                         * failed write; under lock */
	GPtrArray *pool;        /* free block buffers; under lock */
	GPtrArray *compressors; /* free TldrsGzipWorker; under lock */
	GMainContext *context;  /* the daemon's main loop */
	GSource *trim;          /* frees the above after TLDRS_GZIP_IDLE_MS idle; under lock */
	gint64 idle_since;      /* when the last task ended and none was left, or 0; under lock */
};

G_DECLARE_FINAL_TYPE(TldrsGzipSink, tldrs_gzip_sink, TLDRS, GZIP_SINK, GObject)

static void
tldrs_gzip_sink_iface_init(TldrsSinkInterface *iface);

G_DEFINE_TYPE_WITH_CODE(TldrsGzipSink,
                        tldrs_gzip_sink,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(TLDRS_TYPE_SINK, tldrs_gzip_sink_iface_init))

/* called with the lock held: tasks are queued or running (during shutdown, running) */
static gboolean
tldrs_gzip_sink_busy(TldrsGzipSink *self)
{
	return self->running > 0 ||
	       (self->tasks != NULL && g_thread_pool_unprocessed(self->tasks) > 0);
}

/* main thread: free what was kept for the next block, once idle long enough */
static gboolean
tldrs_gzip_sink_trim(gpointer data)
{
	TldrsGzipSink *self = data;
	gboolean again = FALSE;
	g_mutex_lock(&self->lock);
	if (self->idle_since != 0 &&
	    g_get_monotonic_time() - self->idle_since >= TLDRS_GZIP_IDLE_MS * 1000) {
		g_ptr_array_set_size(self->compressors, 0);
		g_ptr_array_set_size(self->pool, 0);
	} else if (self->idle_since != 0) {
		again = TRUE;
	}
	if (!again)
		g_clear_pointer(&self->trim, g_source_unref);
	g_mutex_unlock(&self->lock);
	/* busy again: the task that ends the work arms it anew */
	return again ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static guint8 *
tldrs_gzip_sink_buf_get(TldrsGzipSink *self)
{
	guint8 *buf = NULL;
	g_mutex_lock(&self->lock);
	if (self->pool->len > 0)
		buf = g_ptr_array_steal_index_fast(self->pool, self->pool->len - 1);
	g_mutex_unlock(&self->lock);
	return buf != NULL ? buf : g_malloc(TLDRS_GZIP_BUF_SIZE);
}

static void
tldrs_gzip_sink_buf_put(TldrsGzipSink *self, guint8 *buf)
{
	if (buf == NULL)
		return;
	g_mutex_lock(&self->lock);
	if (self->pool->len < TLDRS_GZIP_POOL_MAX) {
		g_ptr_array_add(self->pool, g_steal_pointer(&buf));
	}
	g_mutex_unlock(&self->lock);
	g_free(buf);
}

static void
tldrs_gzip_item_free(TldrsGzipSink *self, TldrsGzipItem *item)
{
	tldrs_gzip_sink_buf_put(self, item->buf);
	g_free(item->out);
	g_free(item);
}

/* ---- compressing (any thread) ---- */

static void
tldrs_gzip_worker_free(gpointer data)
{
	TldrsGzipWorker *w = data;
	if (w->live)
		deflateEnd(&w->zs);
	g_free(w->buf);
	g_free(w);
}

/* @in as stored deflate blocks, for when zlib cannot help: valid, just not smaller */
static guint8 *
tldrs_gzip_stored(const guint8 *in, gsize len, gsize *out_len)
{
	gsize n_blocks = MAX((len + 65534) / 65535, 1);
	guint8 *out = g_malloc(len + 5 * n_blocks);
	guint8 *p = out;
	gsize off = 0;
	do {
		guint16 n = (guint16)MIN(len - off, 65535);
		/* BFINAL 0, BTYPE 00, padded to the byte; LEN and NLEN little-endian */
		*p++ = 0;
		*p++ = (guint8)(n & 0xff);
		*p++ = (guint8)(n >> 8);
		*p++ = (guint8)(~n & 0xff);
		*p++ = (guint8)((guint16)~n >> 8);
		memcpy(p, in + off, n);
		p += n;
		off += n;
	} while (off < len);
	*out_len = (gsize)(p - out);
	return out;
}

/* raw deflate of @in, primed with @dict, ending in a sync flush: it continues a deflate
 * stream that already holds @dict, on a byte boundary */
static guint8 *
tldrs_gzip_worker_compress(TldrsGzipWorker *w,
                           int level,
                           const guint8 *in,
                           gsize len,
                           const guint8 *dict,
                           gsize dict_len,
                           gsize *out_len)
{
	gsize bound;
	int rc;

	if (!w->live) {
		memset(&w->zs, 0, sizeof(w->zs));
		/* -15: raw deflate, a 32 KiB window, no header or trailer */
		if (deflateInit2(&w->zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return tldrs_gzip_stored(in, len, out_len);
		w->live = TRUE;
	} else if (deflateReset(&w->zs) != Z_OK) {
		return tldrs_gzip_stored(in, len, out_len);
	}
	if (dict_len > 0 && deflateSetDictionary(&w->zs, dict, (uInt)dict_len) != Z_OK)
		return tldrs_gzip_stored(in, len, out_len);
	/* room for the worst case and the sync flush's empty stored block */
	bound = deflateBound(&w->zs, (uLong)len) + 64;
	if (w->buf_size < bound) {
		g_free(w->buf);
		w->buf = g_malloc(bound);
		w->buf_size = bound;
	}
	w->zs.next_in = (Bytef *)in;
	w->zs.avail_in = (uInt)len;
	w->zs.next_out = w->buf;
	w->zs.avail_out = (uInt)w->buf_size;
	rc = deflate(&w->zs, Z_SYNC_FLUSH);
	if (rc != Z_OK || w->zs.avail_in > 0 || w->zs.avail_out == 0)
		return tldrs_gzip_stored(in, len, out_len);
	*out_len = w->buf_size - w->zs.avail_out;
	return g_memdup2(w->buf, *out_len);
}

static void
tldrs_gzip_item_compress(TldrsGzipItem *item, TldrsGzipWorker *w, int level)
{
	const guint8 *in = item->buf + TLDRS_GZIP_WINDOW;
	item->out = tldrs_gzip_worker_compress(
	        w, level, in, item->len, in - item->dict_len, item->dict_len, &item->out_len);
	item->crc = (guint32)crc32(crc32(0, NULL, 0), in, (uInt)item->len);
}

/* ---- writing (the thread that set trace->writing) ---- */

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

/* everything is written again */
static void
tldrs_gzip_trace_clear_error(TldrsGzipTrace *t)
{
	TldrsGzipSink *self = t->sink;
	g_mutex_lock(&self->lock);
	g_clear_pointer(&t->error, g_free);
	g_mutex_unlock(&self->lock);
	t->failing = FALSE;
}

static gboolean
tldrs_gzip_trace_ensure_open(TldrsGzipTrace *t)
{
	if (t->fd >= 0)
		return TRUE;
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

/* the file was deleted under us: close it; what follows starts a new member in a new file */
static void
tldrs_gzip_trace_check_deleted(TldrsGzipTrace *t)
{
	struct stat st;
	if (t->fd < 0 || fstat(t->fd, &st) != 0 || st.st_nlink > 0)
		return;
	close(t->fd);
	t->fd = -1;
	t->in_member = FALSE;
	if (t->out->len > 0) {
		g_warning("%s was deleted while being written: %u compressed bytes lost",
		          t->path,
		          t->out->len);
		g_byte_array_set_size(t->out, 0);
	}
	if (t->failing)
		tldrs_gzip_trace_clear_error(t);
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
		g_message("%s: writing again", t->path);
		tldrs_gzip_trace_clear_error(t);
	}
}

static void
tldrs_gzip_put_le32(GByteArray *out, guint32 v)
{
	guint8 b[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
	g_byte_array_append(out, b, sizeof(b));
}

/* add one item to the file, in the trace's order */
static void
tldrs_gzip_trace_put(TldrsGzipTrace *t, TldrsGzipItem *item, TldrsGzipWorker *w)
{
	tldrs_gzip_trace_check_deleted(t);
	if (item->kind == TLDRS_GZIP_ITEM_DATA) {
		const guint8 *in = item->buf + TLDRS_GZIP_WINDOW;
		gsize len = item->len;
		if (!t->in_member) {
			/* gzip, deflate, no flags, no time; XFL 4 = fastest, 2 = best; Unix */
			int level = t->sink->level;
			guint8 header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
			header[8] = level == 1 ? 4 : level == 9 ? 2 : 0;
			g_byte_array_append(t->out, header, sizeof(header));
			t->in_member = TRUE;
			t->crc = (guint32)crc32(0, NULL, 0);
			t->isize = 0;
			t->member_in = 0;
		}
		/* a new file in the middle of a member: the block may not refer to what is
		 * not in this file */
		if (item->dict_len > t->member_in) {
			g_free(item->out);
			item->out = tldrs_gzip_worker_compress(w,
			                                       t->sink->level,
			                                       in,
			                                       len,
			                                       in - t->member_in,
			                                       (gsize)t->member_in,
			                                       &item->out_len);
		}
		g_byte_array_append(t->out, item->out, (guint)item->out_len);
		t->crc = (guint32)crc32_combine(t->crc, item->crc, (z_off_t)len);
		t->isize += (guint32)len;
		t->member_in += len;
	} else if (item->kind == TLDRS_GZIP_ITEM_FINISH && t->in_member) {
		/* an empty final block (BFINAL 1, fixed codes, end of block), then the trailer */
		static const guint8 last[2] = {0x03, 0x00};
		g_byte_array_append(t->out, last, sizeof(last));
		tldrs_gzip_put_le32(t->out, t->crc);
		tldrs_gzip_put_le32(t->out, t->isize);
		t->in_member = FALSE;
	}
	tldrs_gzip_trace_write_out(t);
}

/* called with the lock held: write @t's finished items in order, unless another thread
 * does already (it then writes these too) */
static void
tldrs_gzip_sink_write_trace(TldrsGzipSink *self, TldrsGzipTrace *t, TldrsGzipWorker *w)
{
	TldrsGzipItem *item;
	if (t->writing)
		return;
	t->writing = TRUE;
	while ((item = g_queue_peek_head(&t->items)) != NULL && item->done) {
		gsize len = item->len;
		gsize unwritten;
		g_queue_pop_head(&t->items);
		g_mutex_unlock(&self->lock);
		tldrs_gzip_trace_put(t, item, w);
		unwritten = t->out->len;
		tldrs_gzip_item_free(self, item);
		g_mutex_lock(&self->lock);
		self->backlog -= len;
		/* compressed bytes kept after a failed write count too, so that the daemon
		 * stops reading instead of letting them grow */
		self->backlog = self->backlog - t->unwritten + unwritten;
		t->unwritten = unwritten;
	}
	t->writing = FALSE;
	g_cond_broadcast(&self->done_cond);
}

static void
tldrs_gzip_sink_run(gpointer data, gpointer user_data)
{
	g_autofree TldrsGzipJob *job = data;
	TldrsGzipSink *self = user_data;
	TldrsGzipTrace *t;
	TldrsGzipWorker *w;

	g_mutex_lock(&self->lock);
	self->running++;
	self->idle_since = 0;
	w = self->compressors->len > 0
	            ? g_ptr_array_steal_index_fast(self->compressors, self->compressors->len - 1)
	            : g_new0(TldrsGzipWorker, 1);
	if (job->item != NULL) {
		t = job->item->trace;
		g_mutex_unlock(&self->lock);
		tldrs_gzip_item_compress(job->item, w, self->level);
		g_mutex_lock(&self->lock);
		job->item->done = TRUE;
	} else {
		t = job->trace;
		t->kicked = FALSE;
	}
	tldrs_gzip_sink_write_trace(self, t, w);
	g_ptr_array_add(self->compressors, w);
	/* nothing queued or running: what was kept for the next block goes unless work comes
	 * within TLDRS_GZIP_IDLE_MS */
	self->running--;
	if (!tldrs_gzip_sink_busy(self)) {
		self->idle_since = g_get_monotonic_time();
		if (self->trim == NULL) {
			self->trim = g_timeout_source_new(TLDRS_GZIP_IDLE_MS);
			g_source_set_static_name(self->trim, "tldrs gzip trim");
			g_source_set_callback(self->trim, tldrs_gzip_sink_trim, self, NULL);
			g_source_attach(self->trim, self->context);
		}
	}
	g_mutex_unlock(&self->lock);
}

/* ---- main thread ---- */

/* called with the lock held: a task compresses @item (and writes), or writes @trace */
static void
tldrs_gzip_sink_push(TldrsGzipSink *self, TldrsGzipItem *item, TldrsGzipTrace *trace)
{
	TldrsGzipJob *job = g_new(TldrsGzipJob, 1);
	job->item = item;
	job->trace = trace;
	if (self->tasks == NULL) {
		/* not exclusive: the threads are GLib's shared ones, made and ended as needed;
		 * with no GError, creating the pool cannot fail */
		self->tasks = g_thread_pool_new(
		        tldrs_gzip_sink_run, self, (int)self->max_threads, FALSE, NULL);
	}
	g_thread_pool_push(self->tasks, job, NULL);
}

/* a new block for @t, after the 32 KiB of its member before it */
static void
tldrs_gzip_trace_start_block(TldrsGzipSink *self, TldrsGzipTrace *t)
{
	t->block = tldrs_gzip_sink_buf_get(self);
	t->block_dict = t->window_len;
	t->block_len = 0;
	if (t->window_len > 0)
		memcpy(t->block + TLDRS_GZIP_WINDOW - t->window_len, t->window, t->window_len);
}

/* queue the block being filled, to be compressed after what came before it in the member */
static void
tldrs_gzip_trace_cut(TldrsGzipSink *self, TldrsGzipTrace *t)
{
	TldrsGzipItem *item;
	gsize keep;
	if (t->block_len == 0)
		return;
	item = g_new0(TldrsGzipItem, 1);
	item->kind = TLDRS_GZIP_ITEM_DATA;
	item->trace = t;
	item->buf = g_steal_pointer(&t->block);
	item->dict_len = t->block_dict;
	item->len = t->block_len;
	/* the next block's dictionary: the last 32 KiB of the member so far */
	keep = MIN(item->dict_len + item->len, TLDRS_GZIP_WINDOW);
	if (t->window == NULL)
		t->window = g_malloc(TLDRS_GZIP_WINDOW);
	memcpy(t->window, item->buf + TLDRS_GZIP_WINDOW + item->len - keep, keep);
	t->window_len = keep;
	t->block_len = 0;
	t->member_open = TRUE;

	g_mutex_lock(&self->lock);
	self->backlog += item->len;
	g_queue_push_tail(&t->items, item);
	tldrs_gzip_sink_push(self, item, NULL);
	g_mutex_unlock(&self->lock);
}

/* queue a marker after the trace's blocks */
static void
tldrs_gzip_trace_mark(TldrsGzipSink *self, TldrsGzipTrace *t, TldrsGzipItemKind kind)
{
	TldrsGzipItem *item = g_new0(TldrsGzipItem, 1);
	item->kind = kind;
	item->trace = t;
	item->done = TRUE;
	g_mutex_lock(&self->lock);
	g_queue_push_tail(&t->items, item);
	/* nobody writes this trace now and nothing before the marker is left to compress */
	if (!t->writing && !t->kicked && g_queue_peek_head(&t->items) == item) {
		t->kicked = TRUE;
		tldrs_gzip_sink_push(self, NULL, t);
	}
	g_mutex_unlock(&self->lock);
}

/* make everything so far readable: cut the block being filled; an idle trace ends its
 * member; after a failed write, try again */
static void
tldrs_gzip_trace_sync(TldrsGzipSink *self, TldrsGzipTrace *t, gboolean closing)
{
	gboolean queued = FALSE;
	gboolean unwritten;
	if (t->dirty && !closing) {
		queued = t->block_len > 0;
		tldrs_gzip_trace_cut(self, t);
	} else {
		tldrs_gzip_trace_cut(self, t);
		if (t->member_open) {
			tldrs_gzip_trace_mark(self, t, TLDRS_GZIP_ITEM_FINISH);
			g_clear_pointer(&t->window, g_free);
			t->window_len = 0;
			t->member_open = FALSE;
			queued = TRUE;
		}
	}
	t->dirty = FALSE;
	g_mutex_lock(&self->lock);
	unwritten = t->unwritten > 0;
	g_mutex_unlock(&self->lock);
	if (!queued && unwritten)
		tldrs_gzip_trace_mark(self, t, TLDRS_GZIP_ITEM_SYNC);
}

/* until every item of @t is in the file, or failed */
static void
tldrs_gzip_trace_wait(TldrsGzipSink *self, TldrsGzipTrace *t)
{
	g_mutex_lock(&self->lock);
	while (t->items.length > 0 || t->writing || t->kicked)
		g_cond_wait(&self->done_cond, &self->lock);
	g_mutex_unlock(&self->lock);
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
		/* the daemon refused any key but Level */
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
	g_queue_init(&t->items);
	if (file != NULL) {
		t->path = g_strconcat(file, ".gz", NULL);
	} else {
		g_autofree char *base = g_strconcat(trace_id, ".jsonl.gz", NULL);
		t->path = g_build_filename(self->data_dir, base, NULL);
	}
	return t;
}

/* the last error a writing thread met for @t, until everything is written again */
static gboolean
tldrs_gzip_sink_take_error(TldrsGzipSink *self, TldrsGzipTrace *t, GError **error)
{
	g_autofree char *msg = NULL;
	g_mutex_lock(&self->lock);
	msg = g_strdup(t->error);
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

	t->dirty = len > 0 || t->dirty;
	while (len > 0) {
		gsize room, n = len;
		if (t->block == NULL)
			tldrs_gzip_trace_start_block(self, t);
		room = TLDRS_GZIP_BLOCK - t->block_len;
		if (n > room) {
			/* fill the block up to a line end; a line longer than a block is cut */
			const char *nl = room > 0 ? memrchr(lines, '\n', room) : NULL;
			if (nl != NULL) {
				n = (gsize)(nl + 1 - lines);
			} else if (t->block_len > 0) {
				tldrs_gzip_trace_cut(self, t);
				continue;
			} else {
				n = room;
			}
		}
		memcpy(t->block + TLDRS_GZIP_WINDOW + t->block_len, lines, n);
		t->block_len += n;
		lines += n;
		len -= n;
		if (len > 0 || t->block_len == TLDRS_GZIP_BLOCK)
			tldrs_gzip_trace_cut(self, t);
	}
	return tldrs_gzip_sink_take_error(self, t, error);
}

static gboolean
tldrs_gzip_sink_flush(TldrsSink *sink, gpointer trace, GError **error)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(sink);
	TldrsGzipTrace *t = trace;
	/* wait until the file holds everything accepted so far */
	tldrs_gzip_trace_sync(self, t, FALSE);
	tldrs_gzip_trace_wait(self, t);
	return tldrs_gzip_sink_take_error(self, t, error);
}

/* the periodic flush: queue the cut, do not wait for the compressors */
static gboolean
tldrs_gzip_sink_flush_async(TldrsSink *sink, gpointer trace, GError **error)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(sink);
	TldrsGzipTrace *t = trace;
	tldrs_gzip_trace_sync(self, t, FALSE);
	return tldrs_gzip_sink_take_error(self, t, error);
}

static void
tldrs_gzip_sink_close_trace(TldrsSink *sink, gpointer trace)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(sink);
	TldrsGzipTrace *t = trace;
	if (t == NULL)
		return;
	/* finish the member and wait for it (the daemon flushed just before, so this is short);
	 * a trace id opened again gets new state, whose writes must come after these */
	tldrs_gzip_trace_sync(self, t, TRUE);
	tldrs_gzip_trace_wait(self, t);
	if (t->fd >= 0)
		close(t->fd);
	if (t->out->len > 0)
		g_warning("%s: %u compressed bytes could not be written", t->path, t->out->len);
	g_mutex_lock(&self->lock);
	self->backlog -= t->unwritten;
	g_mutex_unlock(&self->lock);
	g_byte_array_unref(t->out);
	tldrs_gzip_sink_buf_put(self, t->block);
	g_free(t->window);
	g_free(t->error);
	g_free(t->path);
	g_free(t);
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
	GThreadPool *tasks;
	/* every queued task is run, then the pool goes (a later block makes a new one); the
	 * tasks take the lock, so it is not held while waiting for them */
	g_mutex_lock(&self->lock);
	tasks = g_steal_pointer(&self->tasks);
	g_mutex_unlock(&self->lock);
	if (tasks != NULL)
		g_thread_pool_free(tasks, FALSE, TRUE);
}

static void
tldrs_gzip_sink_finalize(GObject *object)
{
	TldrsGzipSink *self = TLDRS_GZIP_SINK(object);
	tldrs_gzip_sink_shutdown(TLDRS_SINK(self));
	if (self->trim != NULL) {
		g_source_destroy(self->trim);
		g_source_unref(self->trim);
	}
	g_main_context_unref(self->context);
	g_ptr_array_unref(self->compressors);
	g_ptr_array_unref(self->pool);
	g_mutex_clear(&self->lock);
	g_cond_clear(&self->done_cond);
	g_free(self->data_dir);
	G_OBJECT_CLASS(tldrs_gzip_sink_parent_class)->finalize(object);
}

static void
tldrs_gzip_sink_iface_init(TldrsSinkInterface *iface)
{
	static const char *const keys[] = {"Level", NULL};
	static const TldrsSinkInfo info = {
	        .name = "gzip",
	        .suffix = ".jsonl.gz",
	        .flags = TLDRS_SINK_FLAG_STORES_EVENTS,
	        .config_keys = keys,
	};
	iface->info = &info;
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
	self->max_threads = (guint)CLAMP(g_get_num_processors(), 1, TLDRS_GZIP_MAX_THREADS);
	self->pool = g_ptr_array_new_with_free_func(g_free);
	self->compressors = g_ptr_array_new_with_free_func(tldrs_gzip_worker_free);
	/* every call comes from the daemon's main thread */
	self->context = g_main_context_ref_thread_default();
	g_mutex_init(&self->lock);
	g_cond_init(&self->done_cond);
}

TLDRS_SINK_PLUGIN_DEFINE(tldrs_gzip_sink_get_type)
