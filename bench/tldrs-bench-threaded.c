/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs-bench"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tldrs-bench.h"

/* The thread-per-connection reference server, `tldrs-bench --internal-threaded SOCKET DIR`:
 * shaped like the Rust original that tldrs replaces (its src/serve.rs). One thread accepts;
 * each connection gets a thread of its own (2 MiB stack, Rust's default) that reads lines
 * through an 8 KiB buffer (BufReader::read_line: a read(2) when the buffer is empty, the
 * line copied out, checked to be UTF-8), trims each, and keeps a line that starts with '{'
 * and ends with '}' (nothing else is checked), appending it with "\n" to its trace's writer:
 * one DIR/<trace-id>.jsonl per trace id, opened in append mode, behind a mutex, with an
 * 8 KiB buffer (BufWriter) written out when full. A cleaner thread flushes every writer every
 * 2 s; a connection flushes its trace's writer when it ends, and the last one closes the
 * file. OPEN switches the trace; the other commands are read and ignored. SIGTERM ends it. */

#define BENCH_TH_READ_BUF  8192
#define BENCH_TH_WRITE_BUF 8192
#define BENCH_TH_STACK     (2 * 1024 * 1024)

typedef struct {
	char *id;
	int fd;
	char buf[BENCH_TH_WRITE_BUF];
	size_t len;
	guint users; /* connections on it, under bench_th_lock */
	pthread_mutex_t lock;
} BenchThTrace;

static pthread_mutex_t bench_th_lock = PTHREAD_MUTEX_INITIALIZER;
static GHashTable *bench_th_traces; /* id -> BenchThTrace */
static const char *bench_th_dir;

static void
bench_th_write_fd(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("threaded reference: write");
			exit(1);
		}
		data += n;
		len -= (size_t)n;
	}
}

/* BufWriter::flush_buf */
static void
bench_th_flush(BenchThTrace *t)
{
	bench_th_write_fd(t->fd, t->buf, t->len);
	t->len = 0;
}

/* BufWriter::write_all: what does not fit goes out first; what is as large as the buffer
 * goes straight to the file */
static void
bench_th_write(BenchThTrace *t, const char *data, size_t len)
{
	if (len > sizeof(t->buf) - t->len)
		bench_th_flush(t);
	if (len >= sizeof(t->buf)) {
		bench_th_write_fd(t->fd, data, len);
		return;
	}
	memcpy(t->buf + t->len, data, len);
	t->len += len;
}

static BenchThTrace *
bench_th_acquire(const char *id, size_t len)
{
	g_autofree char *key = g_strndup(id, len);
	BenchThTrace *t;

	pthread_mutex_lock(&bench_th_lock);
	t = g_hash_table_lookup(bench_th_traces, key);
	if (t == NULL) {
		g_autofree char *name = g_strconcat(key, ".jsonl", NULL);
		g_autofree char *path = g_build_filename(bench_th_dir, name, NULL);
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0) {
			perror("threaded reference: open");
			exit(1);
		}
		t = g_new0(BenchThTrace, 1);
		t->id = g_steal_pointer(&key);
		t->fd = fd;
		pthread_mutex_init(&t->lock, NULL);
		g_hash_table_insert(bench_th_traces, t->id, t);
	}
	t->users++;
	pthread_mutex_unlock(&bench_th_lock);
	return t;
}

/* a connection leaves: flush, and the last one closes the file */
static void
bench_th_release(BenchThTrace *t)
{
	pthread_mutex_lock(&t->lock);
	bench_th_flush(t);
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_lock(&bench_th_lock);
	if (--t->users == 0) {
		g_hash_table_remove(bench_th_traces, t->id);
		close(t->fd);
		pthread_mutex_destroy(&t->lock);
		g_free(t->id);
		g_free(t);
	}
	pthread_mutex_unlock(&bench_th_lock);
}

static gpointer
bench_th_cleaner(gpointer data)
{
	(void)data;
	for (;;) {
		GHashTableIter iter;
		gpointer value;
		pthread_mutex_lock(&bench_th_lock);
		g_hash_table_iter_init(&iter, bench_th_traces);
		while (g_hash_table_iter_next(&iter, NULL, &value)) {
			BenchThTrace *t = value;
			pthread_mutex_lock(&t->lock);
			bench_th_flush(t);
			pthread_mutex_unlock(&t->lock);
		}
		pthread_mutex_unlock(&bench_th_lock);
		sleep(2);
	}
	return NULL;
}

/* str::from_utf8, as read_line does on what it appended */
static gboolean
bench_th_utf8_ok(const char *s, size_t len)
{
	size_t i = 0;
	/* eight ASCII bytes at a time, as Rust's validation does */
	for (; i + 8 <= len; i += 8) {
		guint64 w;
		memcpy(&w, s + i, 8);
		if ((w & G_GUINT64_CONSTANT(0x8080808080808080)) != 0)
			return g_utf8_validate_len(s + i, len - i, NULL);
	}
	for (; i < len; i++)
		if ((guchar)s[i] >= 0x80)
			return g_utf8_validate_len(s + i, len - i, NULL);
	return TRUE;
}

static gboolean
bench_th_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void *
bench_th_client(void *data)
{
	int fd = GPOINTER_TO_INT(data);
	char rbuf[BENCH_TH_READ_BUF];
	size_t pos = 0, filled = 0;
	GString *line = g_string_sized_new(256);
	BenchThTrace *trace = NULL;

	for (;;) {
		gboolean eof = FALSE;
		const char *s;
		size_t len;

		/* BufReader::read_line: up to and including '\n', or to the end */
		g_string_truncate(line, 0);
		for (;;) {
			const char *nl;
			size_t take;
			if (pos == filled) {
				ssize_t n = read(fd, rbuf, sizeof(rbuf));
				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0) {
					eof = TRUE;
					break;
				}
				pos = 0;
				filled = (size_t)n;
			}
			nl = memchr(rbuf + pos, '\n', filled - pos);
			take = nl != NULL ? (size_t)(nl - (rbuf + pos)) + 1 : filled - pos;
			g_string_append_len(line, rbuf + pos, (gssize)take);
			pos += take;
			if (nl != NULL)
				break;
		}
		if (line->len == 0 && eof)
			break;
		if (!bench_th_utf8_ok(line->str, line->len))
			break;
		/* msg::decode_line */
		s = line->str;
		len = line->len;
		while (len > 0 && bench_th_space(s[0])) {
			s++;
			len--;
		}
		while (len > 0 && bench_th_space(s[len - 1]))
			len--;
		if (len > 5 && memcmp(s, "OPEN ", 5) == 0) {
			const char *id = s + 5;
			size_t id_len = len - 5;
			while (id_len > 0 && bench_th_space(id[0])) {
				id++;
				id_len--;
			}
			if (trace != NULL)
				bench_th_release(trace);
			trace = bench_th_acquire(id, id_len);
		} else if (len > 0 && s[0] == '{' && s[len - 1] == '}' && trace != NULL) {
			/* writeln!(out, "{}", json) */
			pthread_mutex_lock(&trace->lock);
			bench_th_write(trace, s, len);
			bench_th_write(trace, "\n", 1);
			pthread_mutex_unlock(&trace->lock);
		}
		if (eof)
			break;
	}
	if (trace != NULL)
		bench_th_release(trace);
	close(fd);
	g_string_free(line, TRUE);
	return NULL;
}

/* listen on socket_path, then run client(fd) on a detached thread of stack_size per
 * connection, forever */
static int
bench_th_serve(const char *name,
               const char *socket_path,
               size_t stack_size,
               void *(*client)(void *))
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pthread_attr_t attr;
	struct rlimit rl;

	if (lfd < 0) {
		perror(name);
		return 1;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	g_strlcpy(addr.sun_path, socket_path, sizeof(addr.sun_path));
	unlink(socket_path);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(lfd, 4096) != 0) {
		g_printerr("%s: listen: %s\n", name, g_strerror(errno));
		return 1;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, stack_size);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t thread;
		int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			g_printerr("%s: accept: %s\n", name, g_strerror(errno));
			return 1;
		}
		if (pthread_create(&thread, &attr, client, GINT_TO_POINTER(cfd)) != 0) {
			g_printerr("%s: pthread_create failed\n", name);
			close(cfd);
		}
	}
}

int
bench_threaded_reference_main(const char *socket_path, const char *dir)
{
	bench_th_dir = dir;
	bench_th_traces = g_hash_table_new(g_str_hash, g_str_equal);
	g_thread_unref(g_thread_new("cleaner", bench_th_cleaner, NULL));
	return bench_th_serve("threaded reference", socket_path, BENCH_TH_STACK, bench_th_client);
}

/* The bare server, `tldrs-bench --internal-bare SOCKET DIR`: the least a thread-per-connection
 * server can do, to show how far the threaded reference is from what any server could reach on
 * this machine with the same clients. A thread per connection reads up to 256 KiB at a time;
 * the first line must be "OPEN <trace-id>"; after it, the complete lines of each read are
 * appended to DIR/<trace-id>.jsonl with one write(2) (O_APPEND), the incomplete tail kept for
 * the next read. No line is looked at: no check, no copy per line, no buffering across reads. */

#define BENCH_BARE_READ_BUF (256 * 1024)

static void *
bench_bare_client(void *data)
{
	int fd = GPOINTER_TO_INT(data);
	size_t size = BENCH_BARE_READ_BUF;
	char *buf = g_malloc(size);
	size_t filled = 0;
	BenchThTrace *trace = NULL;

	for (;;) {
		const char *start;
		const char *last;
		ssize_t n;
		/* a line longer than the buffer: a larger one */
		if (filled == size) {
			size *= 2;
			buf = g_realloc(buf, size);
		}
		n = read(fd, buf + filled, size - filled);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		filled += (size_t)n;
		start = buf;
		if (trace == NULL) {
			const char *nl = memchr(buf, '\n', filled);
			if (nl == NULL)
				continue;
			if (nl - buf < 6 || memcmp(buf, "OPEN ", 5) != 0)
				break;
			trace = bench_th_acquire(buf + 5, (size_t)(nl - buf) - 5);
			start = nl + 1;
		}
		last = memrchr(start, '\n', filled - (size_t)(start - buf));
		if (last != NULL) {
			bench_th_write_fd(trace->fd, start, (size_t)(last + 1 - start));
			start = last + 1;
		}
		filled -= (size_t)(start - buf);
		memmove(buf, start, filled);
	}
	if (trace != NULL)
		bench_th_release(trace);
	close(fd);
	g_free(buf);
	return NULL;
}

int
bench_bare_reference_main(const char *socket_path, const char *dir)
{
	bench_th_dir = dir;
	bench_th_traces = g_hash_table_new(g_str_hash, g_str_equal);
	return bench_th_serve("bare reference", socket_path, BENCH_TH_STACK, bench_bare_client);
}

/* The get-tef of the Rust original, `tldrs-bench --internal-threaded-get-tef SRC DST`: lines
 * through an 8 KiB BufReader (read_line, UTF-8 checked), each trimmed, empty ones skipped,
 * written through an 8 KiB BufWriter as a JSON array, "[" then the events separated by ",\n",
 * then "]". */
int
bench_threaded_get_tef_main(const char *src, const char *dst)
{
	BenchThTrace out = {.fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
	int ifd = open(src, O_RDONLY | O_CLOEXEC);
	char rbuf[BENCH_TH_READ_BUF];
	size_t pos = 0, filled = 0;
	g_autoptr(GString) line = g_string_sized_new(256);
	gboolean first = TRUE;

	if (ifd < 0 || out.fd < 0) {
		perror("threaded get-tef: open");
		return 1;
	}
	bench_th_write(&out, "[", 1);
	for (;;) {
		gboolean eof = FALSE;
		const char *s;
		size_t len;
		g_string_truncate(line, 0);
		for (;;) {
			const char *nl;
			size_t take;
			if (pos == filled) {
				ssize_t n = read(ifd, rbuf, sizeof(rbuf));
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0) {
					perror("threaded get-tef: read");
					return 1;
				}
				if (n == 0) {
					eof = TRUE;
					break;
				}
				pos = 0;
				filled = (size_t)n;
			}
			nl = memchr(rbuf + pos, '\n', filled - pos);
			take = nl != NULL ? (size_t)(nl - (rbuf + pos)) + 1 : filled - pos;
			g_string_append_len(line, rbuf + pos, (gssize)take);
			pos += take;
			if (nl != NULL)
				break;
		}
		if (!bench_th_utf8_ok(line->str, line->len)) {
			g_printerr("threaded get-tef: not UTF-8\n");
			return 1;
		}
		s = line->str;
		len = line->len;
		while (len > 0 && bench_th_space(s[0])) {
			s++;
			len--;
		}
		while (len > 0 && bench_th_space(s[len - 1]))
			len--;
		if (len > 0) {
			if (!first)
				bench_th_write(&out, ",\n", 2);
			first = FALSE;
			bench_th_write(&out, s, len);
		}
		if (eof)
			break;
	}
	bench_th_write(&out, "]\n", 2);
	bench_th_flush(&out);
	close(ifd);
	if (close(out.fd) != 0) {
		perror("threaded get-tef: close");
		return 1;
	}
	return 0;
}
