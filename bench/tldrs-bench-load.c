/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs-bench"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "tldrs-bench.h"

/* The load: realistic TEF events (X, B, E, i and C, 110 to 160 bytes, with args, some with
 * escapes and non-ASCII text), each naming its client and sequence number in
 * "args":{"cl":C,"seq":S,...} so that the stored file shows every loss, duplicate and
 * reordering. Generated before the clock starts, the same bytes for every server. */

#define BENCH_WRITE_CHUNK (64 * 1024)
#define BENCH_IO_BUF      (1024 * 1024)
#define BENCH_MAX_THREADS 16

/* xorshift64*: fast, and the same events on every run */
static guint64
bench_rng_next(guint64 *state)
{
	guint64 x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * G_GUINT64_CONSTANT(2685821657736338717);
}

guint
bench_rng_range(guint64 *state, guint n)
{
	return (guint)((bench_rng_next(state) >> 33) % n);
}

static const char *const bench_names[] = {"typing",
                                          "parsing",
                                          "codegen",
                                          "linking",
                                          "lexing",
                                          "emit_asm",
                                          "scheduling",
                                          "fetching",
                                          "unpacking",
                                          "flambda",
                                          "ppx_deriving",
                                          "dep_solve"};

static const char *const bench_files[] = {"src/core/lexer.ml",
                                          "src/lib/trace_tef.ml",
                                          "vendor/zstd/lib/compress.c",
                                          "bin/main.ml",
                                          "lib/std/list.ml",
                                          "test/unit/test_json.ml",
                                          "src/tldrs-daemon.c",
                                          "doc/caf\xc3\xa9.md"};

/* JSON string contents: plain, escaped quotes, \u escapes, backslashes, UTF-8 */
static const char *const bench_notes[] = {"ok",
                                          "cache hit",
                                          "cache miss",
                                          "retry \\\"1\\\"",
                                          "\\u00e9t\\u00e9",
                                          "C:\\\\tmp\\\\x",
                                          "\xe6\x97\xa5\xe6\x9c\xac"};

/* one event line, '\n' included; returns its length */
static int
bench_format_event(char *buf, gsize size, guint client, guint seq, guint64 *rng)
{
	guint64 ts = G_GUINT64_CONSTANT(1732550000000000) + (guint64)seq * 37 + client % 37;
	guint pid = 10000 + client;
	guint tid = 1 + (seq / 8) % 4;
	const char *name = bench_names[(seq / 8 + client) % G_N_ELEMENTS(bench_names)];

	switch (seq % 8) {
	case 1:
		return snprintf(
		        buf,
		        size,
		        "{\"ph\":\"B\",\"name\":\"%s\",\"ts\":%" G_GUINT64_FORMAT
		        ",\"pid\":%u,\"tid\":%u,\"args\":{\"cl\":%u,\"seq\":%u,\"depth\":%u,"
		        "\"note\":\"%s\"}}\n",
		        name,
		        ts,
		        pid,
		        tid,
		        client,
		        seq,
		        bench_rng_range(rng, 12),
		        bench_notes[bench_rng_range(rng, G_N_ELEMENTS(bench_notes))]);
	case 2:
		return snprintf(
		        buf,
		        size,
		        "{\"ph\":\"i\",\"name\":\"gc.minor\",\"s\":\"t\",\"ts\":"
		        "%" G_GUINT64_FORMAT
		        ",\"pid\":%u,\"tid\":%u,\"args\":{\"cl\":%u,\"seq\":%u,\"words\":%u,"
		        "\"promoted\":%u}}\n",
		        ts,
		        pid,
		        tid,
		        client,
		        seq,
		        bench_rng_range(rng, 4000000),
		        bench_rng_range(rng, 90000));
	case 4:
		return snprintf(
		        buf,
		        size,
		        "{\"ph\":\"C\",\"name\":\"memory\",\"ts\":"
		        "%" G_GUINT64_FORMAT
		        ",\"pid\":%u,\"tid\":%u,\"args\":{\"cl\":%u,\"seq\":%u,\"heap_kb\":%u,"
		        "\"live_kb\":%u}}\n",
		        ts,
		        pid,
		        tid,
		        client,
		        seq,
		        65536 + bench_rng_range(rng, 900000),
		        bench_rng_range(rng, 65536));
	case 6:
		return snprintf(
		        buf,
		        size,
		        "{\"ph\":\"E\",\"name\":\"%s\",\"ts\":%" G_GUINT64_FORMAT
		        ",\"pid\":%u,\"tid\":%u,\"args\":{\"cl\":%u,\"seq\":%u,\"status\":\"%s\","
		        "\"alloc_kb\":%u}}\n",
		        name,
		        ts + 11,
		        pid,
		        tid,
		        client,
		        seq,
		        bench_rng_range(rng, 10) == 0 ? "failed" : "ok",
		        bench_rng_range(rng, 1000000));
	default:
		return snprintf(buf,
		                size,
		                "{\"ph\":\"X\",\"name\":\"%s\",\"ts\":%" G_GUINT64_FORMAT
		                ",\"dur\":%u,\"pid\":%u,\"tid\":%u,\"args\":{\"cl\":%u,\"seq\":%u,"
		                "\"file\":\"%s\"}}\n",
		                name,
		                ts,
		                1 + bench_rng_range(rng, 2000000),
		                pid,
		                tid,
		                client,
		                seq,
		                bench_files[bench_rng_range(rng, G_N_ELEMENTS(bench_files))]);
	}
}

BenchLoad *
bench_load_new(guint n_clients, guint n_events)
{
	BenchLoad *load = g_new0(BenchLoad, 1);
	char line[512];

	load->n_clients = n_clients;
	load->n_events = n_events;
	load->streams = g_new0(char *, n_clients);
	load->lens = g_new0(gsize, n_clients);
	for (guint c = 0; c < n_clients; c++) {
		guint64 rng = G_GUINT64_CONSTANT(0x9e3779b97f4a7c15) ^ ((guint64)c << 20);
		GString *s = g_string_sized_new((gsize)n_events * 140 + 64);
		for (guint i = 0; i < n_events; i++) {
			int n = bench_format_event(line, sizeof line, c, i, &rng);
			g_string_append_len(s, line, n);
		}
		load->lens[c] = s->len;
		load->total_bytes += s->len;
		load->streams[c] = g_string_free(s, FALSE);
	}
	return load;
}

void
bench_load_free(BenchLoad *load)
{
	if (load == NULL)
		return;
	for (guint c = 0; c < load->n_clients; c++)
		g_free(load->streams[c]);
	g_free(load->streams);
	g_free(load->lens);
	g_free(load);
}

/* a big trace file for get-tef: 64 clients' events interleaved */
gboolean
bench_write_jsonl_file(const char *path, guint64 min_bytes, guint64 *n_events, GError **error)
{
	g_autofree char *buf = g_malloc(BENCH_IO_BUF);
	guint64 rng = G_GUINT64_CONSTANT(0x2545f4914f6cdd1d);
	guint64 total = 0;
	guint64 i = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		g_set_error(error,
		            G_FILE_ERROR,
		            g_file_error_from_errno(errno),
		            "%s: %s",
		            path,
		            g_strerror(errno));
		return FALSE;
	}
	while (total < min_bytes) {
		gsize used = 0;
		while (used + 512 < BENCH_IO_BUF) {
			used += (gsize)bench_format_event(
			        buf + used, 512, (guint)(i % 64), (guint)(i / 64), &rng);
			i++;
		}
		if (!bench_write_all(fd, buf, used)) {
			g_set_error(error,
			            G_FILE_ERROR,
			            g_file_error_from_errno(errno),
			            "%s: %s",
			            path,
			            g_strerror(errno));
			close(fd);
			return FALSE;
		}
		total += used;
	}
	close(fd);
	*n_events = i;
	return TRUE;
}

/* ---- verification ---- */

void
bench_verify_init(BenchVerify *v, guint n_clients)
{
	memset(v, 0, sizeof(*v));
	v->n_clients = n_clients;
	v->next = g_new0(guint, n_clients);
	v->partial = g_byte_array_new();
}

void
bench_verify_clear(BenchVerify *v)
{
	g_clear_pointer(&v->next, g_free);
	g_clear_pointer(&v->partial, g_byte_array_unref);
}

/* @line is followed by '\n' in memory */
static void
bench_verify_line(BenchVerify *v, const char *line, gsize len)
{
	static const char key[] = "\"args\":{\"cl\":";
	const char *p;
	char *end = NULL;
	guint64 client, seq;

	if (len == 0 || line[0] != '{') {
		v->other++;
		return;
	}
	p = memmem(line, len, key, sizeof(key) - 1);
	if (p == NULL) {
		v->bad++;
		return;
	}
	p += sizeof(key) - 1;
	client = g_ascii_strtoull(p, &end, 10);
	if (end == p || strncmp(end, ",\"seq\":", 7) != 0 || client >= v->n_clients) {
		v->bad++;
		return;
	}
	p = end + 7;
	seq = g_ascii_strtoull(p, &end, 10);
	if (end == p || seq > G_MAXUINT) {
		v->bad++;
		return;
	}
	v->events++;
	v->bytes += len + 1;
	if (seq == v->next[client]) {
		v->next[client]++;
	} else if (seq > v->next[client]) {
		v->lost += seq - v->next[client];
		v->next[client] = (guint)seq + 1;
	} else {
		v->out_of_order++;
	}
	if (v->func != NULL)
		v->func((guint)client, (guint)seq, v->user_data);
}

void
bench_verify_feed(BenchVerify *v, const char *data, gsize len)
{
	const char *p = data;
	const char *end = data + len;

	if (v->partial->len > 0) {
		const char *nl = memchr(p, '\n', len);
		if (nl == NULL) {
			g_byte_array_append(v->partial, (const guint8 *)p, (guint)len);
			return;
		}
		g_byte_array_append(v->partial, (const guint8 *)p, (guint)(nl - p + 1));
		bench_verify_line(v, (const char *)v->partial->data, v->partial->len - 1);
		g_byte_array_set_size(v->partial, 0);
		p = nl + 1;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (gsize)(end - p));
		if (nl == NULL) {
			g_byte_array_append(v->partial, (const guint8 *)p, (guint)(end - p));
			return;
		}
		bench_verify_line(v, p, (gsize)(nl - p));
		p = nl + 1;
	}
}

/* every client's events exactly once and in order: @expected[c], or @n_each for all */
gboolean
bench_verify_finish(BenchVerify *v, const guint *expected, guint n_each, GError **error)
{
	guint64 missing = 0;
	guint64 extra = 0;
	guint64 want = 0;

	for (guint c = 0; c < v->n_clients; c++) {
		guint e = expected != NULL ? expected[c] : n_each;
		want += e;
		if (v->next[c] < e)
			missing += e - v->next[c];
		else if (v->next[c] > e)
			extra += v->next[c] - e;
	}
	if (v->events == want && v->lost == 0 && v->out_of_order == 0 && v->bad == 0 &&
	    missing == 0 && extra == 0 && v->partial->len == 0)
		return TRUE;
	g_set_error(error,
	            G_IO_ERROR,
	            G_IO_ERROR_FAILED,
	            "verification failed: %" G_GUINT64_FORMAT " events stored of %" G_GUINT64_FORMAT
	            ", %" G_GUINT64_FORMAT " skipped, %" G_GUINT64_FORMAT
	            " duplicated or out of order, %" G_GUINT64_FORMAT
	            " missing at the end, %" G_GUINT64_FORMAT " unexpected, %" G_GUINT64_FORMAT
	            " unparsable lines, %u bytes of an unfinished line",
	            v->events,
	            want,
	            v->lost,
	            v->out_of_order,
	            missing,
	            extra,
	            v->bad,
	            v->partial->len);
	return FALSE;
}

gboolean
bench_verify_file(BenchVerify *v, const char *path, GError **error)
{
	g_autofree char *buf = g_malloc(BENCH_IO_BUF);
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		g_set_error(error,
		            G_FILE_ERROR,
		            g_file_error_from_errno(errno),
		            "%s: %s",
		            path,
		            g_strerror(errno));
		return FALSE;
	}
	for (;;) {
		ssize_t n = read(fd, buf, BENCH_IO_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(error,
			            G_FILE_ERROR,
			            g_file_error_from_errno(errno),
			            "%s: %s",
			            path,
			            g_strerror(errno));
			close(fd);
			return FALSE;
		}
		if (n == 0)
			break;
		bench_verify_feed(v, buf, (gsize)n);
	}
	close(fd);
	return TRUE;
}

/* ---- a .jsonl.gz while it is written ---- */

void
bench_gz_tail_init(BenchGzTail *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	t->path = g_strdup(path);
	t->fd = -1;
	t->in = g_malloc(BENCH_IO_BUF);
	t->out = g_malloc(BENCH_IO_BUF);
	/* 15 + 16: gzip members */
	t->zs_live = inflateInit2(&t->zs, 15 + 16) == Z_OK;
}

void
bench_gz_tail_clear(BenchGzTail *t)
{
	if (t->zs_live)
		inflateEnd(&t->zs);
	if (t->fd >= 0)
		close(t->fd);
	g_clear_pointer(&t->path, g_free);
	g_clear_pointer(&t->in, g_free);
	g_clear_pointer(&t->out, g_free);
}

/* decompress what was appended since the last call (at most max_bytes of it, 0: all) and
 * verify its lines */
gboolean
bench_gz_tail_poll(BenchGzTail *t, BenchVerify *v, guint64 max_bytes, GError **error)
{
	guint64 start = t->offset;

	if (!t->zs_live) {
		g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_FAILED, "inflateInit2 failed");
		return FALSE;
	}
	if (t->fd < 0) {
		t->fd = open(t->path, O_RDONLY | O_CLOEXEC);
		if (t->fd < 0)
			return TRUE; /* not there yet */
	}
	for (;;) {
		ssize_t n;
		if (max_bytes > 0 && t->offset - start >= max_bytes)
			return TRUE;
		n = pread(t->fd, t->in, BENCH_IO_BUF, (off_t)t->offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return TRUE;
		t->offset += (guint64)n;
		t->zs.next_in = t->in;
		t->zs.avail_in = (uInt)n;
		do {
			int rc;
			gsize produced;
			t->zs.next_out = t->out;
			t->zs.avail_out = BENCH_IO_BUF;
			rc = inflate(&t->zs, Z_NO_FLUSH);
			produced = BENCH_IO_BUF - t->zs.avail_out;
			t->raw_bytes += produced;
			bench_verify_feed(v, (const char *)t->out, produced);
			if (t->want_events > 0 && t->complete_offset == 0 &&
			    v->events >= t->want_events)
				t->complete_offset = t->offset - t->zs.avail_in;
			if (rc == Z_STREAM_END) {
				/* the next member follows */
				inflateReset(&t->zs);
				continue;
			}
			if (rc == Z_BUF_ERROR)
				break;
			if (rc != Z_OK) {
				g_set_error(error,
				            G_IO_ERROR,
				            G_IO_ERROR_INVALID_DATA,
				            "%s: corrupt gzip data before byte %" G_GUINT64_FORMAT
				            ": %s",
				            t->path,
				            t->offset,
				            t->zs.msg != NULL ? t->zs.msg : "?");
				return FALSE;
			}
		} while (t->zs.avail_in > 0 || t->zs.avail_out == 0);
	}
}

/* ---- clients ---- */

int
bench_connect(const char *socket_path, GError **error)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errno),
		            "socket: %s",
		            g_strerror(errno));
		return -1;
	}
	g_strlcpy(addr.sun_path, socket_path, sizeof(addr.sun_path));
	while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		int errsv = errno;
		if (errsv == EINTR)
			continue;
		if (errsv == EAGAIN) {
			bench_sleep(0.001);
			continue;
		}
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errsv),
		            "connect %s: %s",
		            socket_path,
		            g_strerror(errsv));
		close(fd);
		return -1;
	}
	return fd;
}

gboolean
bench_write_all(int fd, const char *data, gsize len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return FALSE;
		}
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

struct _BenchSenders {
	BenchLoad *load;
	int *fds;
	char *open_line;
	BenchWriteMode mode;
	guint n_threads;
	GThread *threads[BENCH_MAX_THREADS];
	pthread_barrier_t barrier;
	gint ready;
	gint failed;
};

typedef struct {
	BenchSenders *s;
	guint index;
} BenchSenderArg;

static gboolean
bench_send_client(BenchSenders *s, guint c)
{
	const char *data = s->load->streams[c];
	gsize len = s->load->lens[c];
	gsize open_len = strlen(s->open_line);
	int fd = s->fds[c];
	gboolean ok = TRUE;

	if (s->mode == BENCH_WRITE_PER_EVENT) {
		const char *p = data;
		const char *end = data + len;
		ok = bench_write_all(fd, s->open_line, open_len);
		while (ok && p < end) {
			const char *nl = memchr(p, '\n', (gsize)(end - p));
			ok = bench_write_all(fd, p, (gsize)(nl - p + 1));
			p = nl + 1;
		}
	} else {
		/* the first write carries OPEN and the first events, as a real client's does */
		gsize first = MIN(len, BENCH_WRITE_CHUNK - open_len);
		struct iovec iov[2] = {{s->open_line, open_len}, {(char *)data, first}};
		ssize_t n;
		gsize off;
		do
			n = writev(fd, iov, 2);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			ok = FALSE;
		} else if ((gsize)n < open_len) {
			ok = bench_write_all(fd, s->open_line + n, open_len - (gsize)n) &&
			     bench_write_all(fd, data, first);
		} else if ((gsize)n < open_len + first) {
			gsize done = (gsize)n - open_len;
			ok = bench_write_all(fd, data + done, first - done);
		}
		for (off = first; ok && off < len; off += BENCH_WRITE_CHUNK)
			ok = bench_write_all(fd, data + off, MIN(BENCH_WRITE_CHUNK, len - off));
	}
	close(fd);
	s->fds[c] = -1;
	return ok;
}

static gpointer
bench_sender_thread(gpointer data)
{
	BenchSenderArg *arg = data;
	BenchSenders *s = arg->s;

	g_atomic_int_inc(&s->ready);
	pthread_barrier_wait(&s->barrier);
	for (guint c = arg->index; c < s->load->n_clients; c += s->n_threads) {
		if (!bench_send_client(s, c))
			g_atomic_int_inc(&s->failed);
	}
	g_free(arg);
	return NULL;
}

BenchSenders *
bench_senders_new(BenchLoad *load, int *fds, const char *open_line, BenchWriteMode mode)
{
	BenchSenders *s = g_new0(BenchSenders, 1);
	s->load = load;
	s->fds = fds;
	s->open_line = g_strdup(open_line);
	s->mode = mode;
	s->n_threads = MIN(load->n_clients, BENCH_MAX_THREADS);
	pthread_barrier_init(&s->barrier, NULL, s->n_threads + 1);
	for (guint i = 0; i < s->n_threads; i++) {
		BenchSenderArg *arg = g_new0(BenchSenderArg, 1);
		arg->s = s;
		arg->index = i;
		s->threads[i] = g_thread_new("bench-client", bench_sender_thread, arg);
	}
	return s;
}

/* every sender is waiting: start them all; returns the time of the start */
gdouble
bench_senders_go(BenchSenders *s)
{
	gdouble t0;
	while ((guint)g_atomic_int_get(&s->ready) < s->n_threads)
		bench_sleep(0.0002);
	t0 = bench_now();
	pthread_barrier_wait(&s->barrier);
	return t0;
}

/* frees @s; FALSE when a write failed */
gboolean
bench_senders_join(BenchSenders *s)
{
	gboolean ok;
	for (guint i = 0; i < s->n_threads; i++)
		g_thread_join(s->threads[i]);
	ok = g_atomic_int_get(&s->failed) == 0;
	pthread_barrier_destroy(&s->barrier);
	g_free(s->open_line);
	g_free(s);
	return ok;
}
