/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The read threads in-process, on socketpairs: what a connection sends reaches the main loop
 * whole and in order with its end right after its last bytes, and tldrs_read_threads_remove()
 * hands back the reads the main loop has not taken yet. Every wait is on a condition, with a
 * bound. */

#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tldrs-read-threads.h"

typedef struct {
	GByteArray *bytes;
	gboolean eof;
	TldrsReadThreads *threads;
	guint checked_events; /* the lines the threads said they checked */
} Collected;

/* what a read says its thread checked is whole lines, each a plain event, as many as it says
 */
static void
assert_checked(const TldrsRead *read)
{
	const char *p = read->data + read->checked_from;
	const char *end = read->data + read->checked_to;
	guint n = 0;

	g_assert_cmpuint(read->checked_from, <=, read->checked_to);
	g_assert_cmpuint(read->checked_to, <=, read->len);
	if (read->checked_to == read->checked_from) {
		g_assert_cmpuint(read->checked_events, ==, 0);
		return;
	}
	g_assert_true(read->checked_from == 0 || read->data[read->checked_from - 1] == '\n');
	g_assert_true(end[-1] == '\n');
	while (p < end) {
		const char *nl = memchr(p, '\n', (gsize)(end - p));
		g_assert_nonnull(nl);
		g_assert_true(tldrs_line_is_plain_event(p, (gsize)(nl - p), 65536));
		n++;
		p = nl + 1;
	}
	g_assert_cmpuint(n, ==, read->checked_events);
}

static void
collect_cb(TldrsRead *read, gpointer user_data)
{
	Collected *c = user_data;
	g_assert_false(c->eof);
	assert_checked(read);
	c->checked_events += read->checked_events;
	if (read->len > 0)
		g_byte_array_append(c->bytes, (const guint8 *)read->data, (guint)read->len);
	c->eof = read->eof;
	/* as the main loop does after each read: a connection with much queued is not read
	 * until then */
	if (!c->eof && c->threads != NULL)
		tldrs_read_threads_arm(c->threads, read->id, FALSE);
}

static GString *
make_events(guint n)
{
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < n; i++)
		g_string_append_printf(s, "{\"ph\":\"i\",\"name\":\"e\",\"ts\":%u,\"pid\":1}\n", i);
	return s;
}

typedef struct {
	int fd;
	const char *data;
	gsize len;
	gsize chunk;
} Writer;

/* writes everything, then closes: the end follows the last bytes at once */
static gpointer
writer_thread(gpointer user_data)
{
	Writer *w = user_data;
	const char *p = w->data;
	gsize left = w->len;
	while (left > 0) {
		/* odd sizes, so that reads end inside lines */
		ssize_t n = write(w->fd, p, MIN(left, w->chunk));
		g_assert_cmpint(n, >, 0);
		p += n;
		left -= (gsize)n;
	}
	close(w->fd);
	return NULL;
}

/* more than a socket holds in writes of @chunk bytes, then the end at once: all of it arrives
 * in order, the end last, and what the threads checked is right (large reads are checked
 * by the checker threads) */
static void
eof_after_data(gsize chunk)
{
	g_autoptr(GString) data = make_events(20000);
	Collected c = {g_byte_array_new(), FALSE, NULL};
	TldrsLineCheck *check = tldrs_line_check_new(0);
	TldrsReadThreads *threads;
	Writer w;
	GThread *writer;
	int sv[2];

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
	threads = tldrs_read_threads_new(2, 65536, check, collect_cb, &c, NULL);
	g_assert_nonnull(threads);
	c.threads = threads;
	g_assert_true(tldrs_read_threads_add(threads, sv[0], 7, NULL));
	tldrs_read_threads_arm(threads, 7, FALSE);
	w = (Writer){sv[1], data->str, data->len, chunk};
	writer = g_thread_new("writer", writer_thread, &w);
	for (guint i = 0; i < 1000000 && !c.eof; i++)
		g_main_context_iteration(NULL, TRUE);
	g_thread_join(writer);
	g_assert_true(c.eof);
	g_assert_cmpuint(c.bytes->len, ==, data->len);
	g_assert_cmpmem(c.bytes->data, c.bytes->len, data->str, data->len);
	/* most lines were checked by the threads (not those of reads that began inside a line
	 * and held no further line end) */
	g_assert_cmpuint(c.checked_events, >, 20000 / 2);
	/* all taken: nothing comes back */
	g_assert_null(tldrs_read_threads_remove(threads, 7));
	tldrs_read_threads_free(threads);
	tldrs_line_check_free(check);
	close(sv[0]);
	g_byte_array_unref(c.bytes);
}

static void
test_eof_after_data(void)
{
	eof_after_data(7777);
}

static void
test_eof_after_data_large(void)
{
	eof_after_data(65536 + 13);
}

/* reads queued but not taken by the main loop come back from remove(), whole, in order, also
 * while a checker thread checks them (@n_events: small reads, or some of more than 32 KiB) */
static void
remove_pending(guint n_events)
{
	g_autoptr(GString) data = make_events(n_events);
	Collected c = {g_byte_array_new(), FALSE, NULL};
	TldrsLineCheck *check = tldrs_line_check_new(0);
	TldrsReadThreads *threads;
	TldrsRead *pending;
	int sv[2];
	int avail = 1;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
	threads = tldrs_read_threads_new(1, 65536, check, collect_cb, &c, NULL);
	g_assert_nonnull(threads);
	g_assert_true(tldrs_read_threads_add(threads, sv[0], 3, NULL));
	tldrs_read_threads_arm(threads, 3, FALSE);
	/* less than a socket holds, in two writes: the second ends in the middle of a line */
	g_assert_cmpint(write(sv[1], data->str, 1000), ==, 1000);
	g_assert_cmpint(write(sv[1], data->str + 1000, data->len - 1000), ==, data->len - 1000);
	/* the main loop does not run: wait until the thread has received everything */
	for (guint i = 0; i < 10000 && avail > 0; i++) {
		g_assert_cmpint(ioctl(sv[0], FIONREAD, &avail), ==, 0);
		if (avail > 0)
			g_usleep(1000);
	}
	g_assert_cmpint(avail, ==, 0);
	/* waits for a receive in progress */
	pending = tldrs_read_threads_remove(threads, 3);
	g_assert_nonnull(pending);
	g_assert_cmpuint(pending->id, ==, 3);
	g_assert_false(pending->eof);
	g_assert_cmpmem(pending->data, pending->len, data->str, data->len);
	tldrs_read_free(pending);
	/* nothing was handed to the main loop, and nothing is after the removal */
	while (g_main_context_iteration(NULL, FALSE))
		;
	g_assert_cmpuint(c.bytes->len, ==, 0);
	/* a connection no longer there gives nothing */
	g_assert_null(tldrs_read_threads_remove(threads, 3));
	tldrs_read_threads_free(threads);
	tldrs_line_check_free(check);
	close(sv[0]);
	close(sv[1]);
	g_byte_array_unref(c.bytes);
}

static void
test_remove_pending(void)
{
	remove_pending(500);
}

static void
test_remove_pending_large(void)
{
	/* about 90 KB: less than the socket holds */
	for (guint round = 0; round < 20; round++)
		remove_pending(2000);
}

/* what a connection sent before a sync is handed to the main loop before the sync returns,
 * whether a thread had received it already (and a checker checks it) or not; the caller's own
 * reads stay queued */
static void
sync_rounds(guint n_events)
{
	g_autoptr(GString) data = make_events(n_events);
	Collected c = {g_byte_array_new(), FALSE, NULL};
	TldrsLineCheck *check = tldrs_line_check_new(0);
	TldrsReadThreads *threads;
	TldrsRead *pending;
	int a[2];
	int b[2];
	int avail = 1;

	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), ==, 0);
	g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), ==, 0);
	threads = tldrs_read_threads_new(2, 65536, check, collect_cb, &c, NULL);
	g_assert_nonnull(threads);
	c.threads = threads;
	g_assert_true(tldrs_read_threads_add(threads, a[0], 1, NULL));
	g_assert_true(tldrs_read_threads_add(threads, b[0], 2, NULL));
	tldrs_read_threads_arm(threads, 1, FALSE);
	tldrs_read_threads_arm(threads, 2, FALSE);
	/* the caller's bytes, received before the sync: they stay queued */
	g_assert_cmpint(write(b[1], "caller\n", 7), ==, 7);
	for (guint i = 0; i < 10000 && avail > 0; i++) {
		g_assert_cmpint(ioctl(b[0], FIONREAD, &avail), ==, 0);
		if (avail > 0)
			g_usleep(1000);
	}
	g_assert_cmpint(avail, ==, 0);
	for (guint round = 0; round < 50; round++) {
		gsize before = c.bytes->len;
		g_assert_cmpint(write(a[1], data->str, data->len), ==, (gssize)data->len);
		/* every other round after a thread has received it all (a large read is then
		 * with a checker, or checked); else at once: a thread may have received some of
		 * it, or none */
		avail = round % 2;
		for (guint i = 0; i < 10000 && avail > 0; i++) {
			g_assert_cmpint(ioctl(a[0], FIONREAD, &avail), ==, 0);
			if (avail > 0)
				g_usleep(100);
		}
		tldrs_read_threads_sync(threads, 2);
		g_assert_cmpuint(c.bytes->len, ==, before + data->len);
		g_assert_cmpmem(c.bytes->data + before, data->len, data->str, data->len);
	}
	pending = tldrs_read_threads_remove(threads, 2);
	g_assert_nonnull(pending);
	g_assert_cmpmem(pending->data, pending->len, "caller\n", 7);
	tldrs_read_free(pending);
	g_assert_null(tldrs_read_threads_remove(threads, 1));
	tldrs_read_threads_free(threads);
	tldrs_line_check_free(check);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	g_byte_array_unref(c.bytes);
}

static void
test_sync(void)
{
	sync_rounds(200);
}

static void
test_sync_large(void)
{
	/* about 90 KB a round */
	sync_rounds(2000);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/read-threads/eof-after-data", test_eof_after_data);
	g_test_add_func("/tldrs/read-threads/remove-pending", test_remove_pending);
	g_test_add_func("/tldrs/read-threads/sync", test_sync);
	g_test_add_func("/tldrs/read-threads/eof-after-data-large", test_eof_after_data_large);
	g_test_add_func("/tldrs/read-threads/remove-pending-large", test_remove_pending_large);
	g_test_add_func("/tldrs/read-threads/sync-large", test_sync_large);
	return g_test_run();
}
