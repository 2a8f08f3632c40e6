/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tldrs-read-threads.h"

/* Client connections are read on a few threads, so that the receives (for a client that
 * writes one event at a time, mostly the kernel's work per write) and the check of whole
 * lines use every CPU, not only the main loop's. Each thread has an epoll set; a connection
 * belongs to one thread (by id). The thread receives what a readable connection has, checks
 * the whole lines of it that it can (from the start of a line on: those after the first
 * '\n', or all of them when the last read ended a line), and queues the read for the main
 * loop, which takes the reads in order. A connection is read by one thread only, so its bytes
 * reach the main loop in their order; nothing here touches a GObject. What is queued is
 * bounded: a receive reserves its size in the counts of queued bytes when it claims its
 * connection, and gives back what it did not fill when it queues the read; a connection
 * with its share of the queue (TLDRS_READ_THREADS_SLOT_QUEUED_MIN to _MAX bytes) queued or
 * claimed is not read until the main loop
 * has taken them, and the threads wait while TLDRS_READ_THREADS_QUEUED bytes are queued or
 * claimed. The incomplete lines' budget (MaxIncompleteLinesBytes) counts, besides the main
 * loop's incomplete lines, what the queued reads will add to them (the bytes after their
 * last '\n') and the size of every claimed receive: a receive that would take the total over
 * the budget is a small one (TLDRS_READ_THREADS_TIGHT_READ), and only for a connection with
 * nothing queued or claimed, as when the main loop read each connection itself. A connection
 * the main loop does not want read (paused, held) is left out of its epoll set at its next
 * readiness. A large read of a client streaming alone (or nearly) is queued unchecked and
 * checked by a checker thread while its read thread receives the next one; the main loop
 * stops at a read that is not checked yet, which keeps the order. */

/* while the queue holds this much, the threads read nothing more */
#define TLDRS_READ_THREADS_QUEUED (2 * 1024 * 1024)
/* while this much of a connection is queued, it is not read: a quarter of the queue's bound
 * shared among the connections, within these limits. A client streaming alone (or nearly) may
 * have three receives queued or claimed, so that its next receive and check overlap with the
 * main loop writing the last one; among many, each has one (a deeper queue per connection
 * made sixteen streaming clients slower) */
#define TLDRS_READ_THREADS_SLOT_QUEUED_MIN (128 * 1024)
#define TLDRS_READ_THREADS_SLOT_QUEUED_MAX (384 * 1024)
/* the most one receive takes */
#define TLDRS_READ_THREADS_READ_SIZE (128 * 1024)
/* a receive at least this large suggests the client has more queued */
#define TLDRS_READ_THREADS_STREAM_READ (32 * 1024)
/* the most a connection reads at once while tight (the incomplete lines are over their
 * budget), unless it is armed "full" */
#define TLDRS_READ_THREADS_TIGHT_READ 2048
/* a read at least this large is checked by a checker thread, while its read thread goes on
 * receiving: receive, check and the main loop's write of a streaming client's reads then
 * overlap. A smaller one is checked by its read thread (a hand-off would cost more) */
#define TLDRS_READ_THREADS_CHECKER_READ (32 * 1024)
/* the most checker threads */
#define TLDRS_READ_THREADS_MAX_CHECKERS 4
/* the most reads the main loop takes in one go before it looks at its other sources */
#define TLDRS_READ_THREADS_DISPATCH_MAX 256
/* the epoll data of a thread's wakeup eventfd */
#define TLDRS_READ_THREADS_WAKE_ID G_MAXUINT64

typedef struct _TldrsReadThread TldrsReadThread;

typedef struct {
	guint64 id;
	int fd;
	TldrsReadThread *thread;
	gboolean wanted;        /* the main loop wants it read */
	gboolean full;          /* read a whole buffer even when tight */
	gboolean armed;         /* EPOLLIN in its thread's epoll set */
	gboolean reading;       /* its thread is receiving */
	gboolean ended;         /* its end was read: nothing more comes */
	gboolean at_line_start; /* its last read ended a line */
	gsize queued;           /* bytes of its reads in the queue, and its receive's reservation */
	guint n_reads;          /* its reads in the queue (an end alone has no bytes) */
	guint checking;         /* its reads waiting for a checker or being checked */
	gboolean streaming;     /* its last read was large (TLDRS_READ_THREADS_STREAM_READ), and it
	                         * has reads queued or in progress */
} TldrsReadSlot;

struct _TldrsReadThread {
	TldrsReadThreads *pool;
	int epoll_fd;
	int wake_fd;
	GThread *thread;
	char *buf;
};

typedef struct {
	GSource parent;
	TldrsReadThreads *pool;
} TldrsReadSource;

struct _TldrsReadThreads {
	GMutex lock;
	GCond cond; /* a slot stopped reading, the queue went down, or quit */
	/* under lock */
	GHashTable *slots;  /* id -> TldrsReadSlot */
	GQueue queue;       /* TldrsRead, in the order they were read */
	gsize queued_bytes; /* of the queued reads, and the reservations of claimed receives */
	/* the incomplete lines: the main loop's, and what the queued reads will add to them
	 * (their bytes after their last '\n') with the reservations of claimed receives */
	gsize partial_main;
	gsize partial_pending;
	gsize partial_budget; /* 0: none */
	gboolean quit;
	gboolean syncing; /* the main loop reads; the threads wait */
	guint reading;    /* slots being received from */
	GQueue to_check;  /* TldrsRead (by check_link) waiting for a checker */
	guint checking;   /* reads waiting for a checker or being checked */
	gboolean checkers_quit;
	GCond check_cond; /* a read to check, or checkers_quit */
	GThread **checkers;
	guint n_checkers;
	gint checkers_idle; /* atomic: checkers waiting for a read */
	gint n_streaming;   /* atomic, changed under lock: slots whose last read was large and
	                     * which have reads queued or in progress */
	guint n_cpus;

	gsize read_size;
	gsize max_line;
	TldrsLineCheck *line_check; /* borrowed */
	TldrsReadFunc func;
	gpointer user_data;
	int notify_fd; /* eventfd: the main loop has reads to take */
	GSource *source;
	TldrsReadThread *threads;
	guint n_threads;
};

void
tldrs_read_free(TldrsRead *read)
{
	if (read == NULL)
		return;
	/* a read thread's receive keeps its bytes in the same block (one malloc per read); said
	 * by a flag, as another allocator may well put a separate block of bytes right there */
	if (!read->bytes_inline)
		g_free(read->data);
	g_free(read);
}

static void
tldrs_read_threads_signal(int fd)
{
	guint64 one = 1;
	/* fails only when the counter is full: then it is signalled anyway */
	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* what @read adds to its connection's incomplete line: its bytes after its last '\n' (all
 * of them when it has none) */
static gsize
tldrs_read_tail(const TldrsRead *read)
{
	const char *nl;
	if (read->len == 0)
		return 0;
	nl = memrchr(read->data, '\n', read->len);
	return nl == NULL ? read->len : read->len - (gsize)(nl + 1 - read->data);
}

/* the most lines that are not plain events (OPEN, EMIT_TEF_AT_EXIT, ...) skipped at the start
 * of a read to find its events */
#define TLDRS_READ_THREADS_SKIP_LINES 4

/* the lines from the start of a line on that are plain events: the first run of them among
 * the first few lines */
static void
tldrs_read_threads_check(TldrsReadThreads *self,
                         TldrsLineCheck *line_check,
                         TldrsRead *read,
                         gboolean at_line_start)
{
	const char *data = read->data;
	const char *first = data;
	const char *last;

	if (read->len == 0)
		return;
	if (!at_line_start) {
		first = memchr(data, '\n', read->len);
		if (first == NULL)
			return;
		first++;
	}
	last = memrchr(first, '\n', read->len - (gsize)(first - data));
	if (last == NULL)
		return;
	for (guint skipped = 0; first <= last; skipped++) {
		gsize good = tldrs_line_check_prefix(line_check,
		                                     first,
		                                     (gsize)(last + 1 - first),
		                                     self->max_line,
		                                     &read->checked_events);
		if (read->checked_events > 0 || skipped == TLDRS_READ_THREADS_SKIP_LINES) {
			read->checked_from = (gsize)(first - data);
			read->checked_to = read->checked_from + good;
			return;
		}
		first = (const char *)memchr(first, '\n', (gsize)(last + 1 - first)) + 1;
	}
}

/* under the lock: in the epoll set for EPOLLIN (level-triggered) or out of it; out, it is
 * left there for EPOLLONESHOT alone, so that a hang-up is reported once, not for ever */
static void
tldrs_read_slot_set_armed(TldrsReadSlot *slot, gboolean armed)
{
	struct epoll_event ev = {.events = armed ? EPOLLIN | EPOLLRDHUP : EPOLLONESHOT,
	                         .data.u64 = slot->id};
	if (slot->armed == armed)
		return;
	slot->armed = armed;
	if (epoll_ctl(slot->thread->epoll_fd, EPOLL_CTL_MOD, slot->fd, &ev) != 0)
		g_warning("connection %" G_GUINT64_FORMAT ": cannot watch it: %s",
		          slot->id,
		          g_strerror(errno));
}

/* under the lock */
static void
tldrs_read_slot_set_streaming(TldrsReadThreads *self, TldrsReadSlot *slot, gboolean streaming)
{
	if (slot->streaming == streaming)
		return;
	slot->streaming = streaming;
	g_atomic_int_add(&self->n_streaming, streaming ? 1 : -1);
}

/* under the lock: how much of the queue one connection may hold */
static gsize
tldrs_read_slot_limit(TldrsReadThreads *self)
{
	return CLAMP(TLDRS_READ_THREADS_QUEUED / (4 * MAX(g_hash_table_size(self->slots), 1)),
	             TLDRS_READ_THREADS_SLOT_QUEUED_MIN,
	             TLDRS_READ_THREADS_SLOT_QUEUED_MAX);
}

/* under the lock: the budget of incomplete lines has room for @want more bytes (or there is
 * no budget) */
static gboolean
tldrs_read_threads_has_room(TldrsReadThreads *self, gsize want)
{
	gsize used = self->partial_main + self->partial_pending;
	return self->partial_budget == 0 ||
	       (used <= self->partial_budget && self->partial_budget - used >= want);
}

/* under the lock: how much @slot may receive now, 0 when it is not to be read: the main
 * loop wants it read and has room for it; over the budget of incomplete lines, a small
 * receive and only while nothing of it is queued or claimed (but for a "full" one) */
static gsize
tldrs_read_slot_may_read(TldrsReadThreads *self, TldrsReadSlot *slot)
{
	if (!slot->wanted || slot->ended || slot->queued >= tldrs_read_slot_limit(self))
		return 0;
	if (slot->full || tldrs_read_threads_has_room(self, self->read_size))
		return self->read_size;
	return slot->queued == 0 && !slot->reading ? TLDRS_READ_THREADS_TIGHT_READ : 0;
}

/* a readable connection of @t: claims it, reserving the receive's size (@reserved), and
 * receives what it has; NULL when it is not to be read now. @may_wait: wait while the main
 * loop syncs or the queue is full (only while @t holds no claimed read:
 * tldrs_read_threads_sync() waits for those); otherwise leave it for the next readiness
 * (level-triggered, it comes again) */
static TldrsRead *
tldrs_read_thread_receive(TldrsReadThread *t,
                          guint64 id,
                          guint32 events,
                          gboolean may_wait,
                          gboolean *at_line_start,
                          gsize *reserved)
{
	TldrsReadThreads *self = t->pool;
	TldrsReadSlot *slot;
	TldrsRead got = {.id = id};
	TldrsRead *read;
	gboolean more = TRUE;
	gsize size;
	gsize have = 0;
	int fd;

	g_mutex_lock(&self->lock);
	while (may_wait && !self->quit &&
	       (self->syncing || self->queued_bytes >= TLDRS_READ_THREADS_QUEUED))
		g_cond_wait(&self->cond, &self->lock);
	slot = g_hash_table_lookup(self->slots, &id);
	if (self->quit || self->syncing || self->queued_bytes >= TLDRS_READ_THREADS_QUEUED ||
	    slot == NULL || !slot->armed) {
		g_mutex_unlock(&self->lock);
		return NULL;
	}
	size = tldrs_read_slot_may_read(self, slot);
	if (size == 0) {
		/* the main loop arms it again when it wants more (after taking its reads) */
		tldrs_read_slot_set_armed(slot, FALSE);
		g_mutex_unlock(&self->lock);
		return NULL;
	}
	slot->reading = TRUE;
	self->reading++;
	slot->queued += size;
	self->queued_bytes += size;
	self->partial_pending += size;
	*reserved = size;
	fd = slot->fd;
	*at_line_start = slot->at_line_start;
	g_mutex_unlock(&self->lock);

	/* a client streaming large writes: read on while it fills the buffer, so the lines are
	 * checked in larger pieces */
	while (more && have < size) {
		ssize_t n = recv(fd, t->buf + have, size - have, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			got.eof = TRUE;
			got.error = n < 0 ? errno : 0;
			break;
		}
		have += (gsize)n;
		/* the peer has closed: its end too, in this read if it fits */
		more = (gsize)n >= TLDRS_READ_THREADS_STREAM_READ || (events & EPOLLRDHUP) != 0;
	}
	/* one block for the read and its bytes: the main loop frees what the read threads
	 * allocate, and every malloc and free is then one more turn of an arena's lock */
	read = g_malloc(sizeof(TldrsRead) + have);
	*read = got;
	if (have > 0) {
		read->data = (char *)(read + 1);
		read->bytes_inline = TRUE;
		memcpy(read->data, t->buf, have);
		read->len = have;
	}
	return read;
}

/* a read that tldrs_read_thread_receive() returned: check its lines, queue it, and let go of
 * its connection and of what it reserved but did not fill */
static void
tldrs_read_thread_queue(TldrsReadThread *t, TldrsRead *read, gboolean at_line_start, gsize reserved)
{
	TldrsReadThreads *self = t->pool;
	TldrsReadSlot *slot;
	gboolean notify;
	/* to a checker only when a checker waits for work and few clients stream: a client
	 * streaming alone is received, checked and written on three CPUs at once then; many
	 * keep every CPU busy with their read threads alone, and a hand-off would only cost
	 * (sixteen clients streaming, 6-12 % slower when every large read was handed off) */
	gboolean to_checker =
	        read->len >= TLDRS_READ_THREADS_CHECKER_READ &&
	        g_atomic_int_get(&self->checkers_idle) > 0 &&
	        (guint)g_atomic_int_get(&self->n_streaming) <= MAX(self->n_cpus / 2, 1);

	if (!to_checker)
		tldrs_read_threads_check(self, self->line_check, read, at_line_start);
	read->tail = tldrs_read_tail(read);
	g_mutex_lock(&self->lock);
	/* still there: tldrs_read_threads_remove() waits while it is read */
	slot = g_hash_table_lookup(self->slots, &read->id);
	self->reading--;
	slot->reading = FALSE;
	slot->queued -= reserved;
	self->queued_bytes -= reserved;
	self->partial_pending -= reserved;
	g_cond_broadcast(&self->cond);
	if (read->len == 0 && !read->eof) {
		/* woken for nothing */
		g_mutex_unlock(&self->lock);
		tldrs_read_free(read);
		return;
	}
	if (read->len > 0)
		slot->at_line_start = read->data[read->len - 1] == '\n';
	tldrs_read_slot_set_streaming(self, slot, read->len >= TLDRS_READ_THREADS_STREAM_READ);
	if (read->eof) {
		slot->ended = TRUE;
		tldrs_read_slot_set_armed(slot, FALSE);
	}
	read->link.data = read;
	g_queue_push_tail_link(&self->queue, &read->link);
	slot->n_reads++;
	slot->queued += read->len;
	self->queued_bytes += read->len;
	self->partial_pending += read->tail;
	if (to_checker) {
		read->checking = TRUE;
		read->at_line_start = at_line_start;
		read->check_link.data = read;
		slot->checking++;
		self->checking++;
		g_queue_push_tail_link(&self->to_check, &read->check_link);
		g_cond_signal(&self->check_cond);
	}
	notify = self->queue.length == 1 && !read->checking;
	g_mutex_unlock(&self->lock);
	if (notify)
		tldrs_read_threads_signal(self->notify_fd);
}

/* a checker thread: checks the large reads in the order they were queued; the main loop
 * takes a read only once it is checked, so the order of reads is kept */
static gpointer
tldrs_read_checker_main(gpointer data)
{
	TldrsReadThreads *self = data;

	g_mutex_lock(&self->lock);
	for (;;) {
		TldrsReadSlot *slot;
		TldrsRead *read;
		gboolean notify;

		g_atomic_int_inc(&self->checkers_idle);
		while (!self->checkers_quit && self->to_check.head == NULL)
			g_cond_wait(&self->check_cond, &self->lock);
		g_atomic_int_add(&self->checkers_idle, -1);
		if (self->checkers_quit)
			break;
		read = g_queue_pop_head_link(&self->to_check)->data;
		g_mutex_unlock(&self->lock);

		/* alone: the checkers themselves share the large reads out */
		tldrs_read_threads_check(self, NULL, read, read->at_line_start);

		g_mutex_lock(&self->lock);
		read->checking = FALSE;
		/* still there: tldrs_read_threads_remove() waits while its reads are checked */
		slot = g_hash_table_lookup(self->slots, &read->id);
		slot->checking--;
		self->checking--;
		/* the main loop stops at a read being checked */
		notify = self->queue.head == &read->link;
		if (slot->checking == 0)
			g_cond_broadcast(&self->cond);
		if (notify) {
			g_mutex_unlock(&self->lock);
			tldrs_read_threads_signal(self->notify_fd);
			g_mutex_lock(&self->lock);
		}
	}
	g_mutex_unlock(&self->lock);
	return NULL;
}

#define TLDRS_READ_THREADS_EVENTS 64

static gpointer
tldrs_read_thread_main(gpointer data)
{
	TldrsReadThread *t = data;
	TldrsReadThreads *self = t->pool;
	struct epoll_event events[TLDRS_READ_THREADS_EVENTS];
	TldrsRead *reads[TLDRS_READ_THREADS_EVENTS];
	gboolean at_line_start[TLDRS_READ_THREADS_EVENTS];
	gsize reserved[TLDRS_READ_THREADS_EVENTS];

	for (;;) {
		int n = epoll_wait(t->epoll_fd, events, G_N_ELEMENTS(events), -1);
		guint n_reads = 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_warning("cannot wait for connections: %s", g_strerror(errno));
			return NULL;
		}
		/* every ready connection is received from first, then the lines are checked:
		 * a client waiting for room in its socket can go on sooner */
		for (int i = 0; i < n; i++) {
			if (events[i].data.u64 == TLDRS_READ_THREADS_WAKE_ID) {
				gboolean quit;
				g_mutex_lock(&self->lock);
				quit = self->quit;
				g_mutex_unlock(&self->lock);
				if (quit) {
					for (guint k = 0; k < n_reads; k++)
						tldrs_read_thread_queue(
						        t, reads[k], at_line_start[k], reserved[k]);
					return NULL;
				}
				continue;
			}
			reads[n_reads] = tldrs_read_thread_receive(t,
			                                           events[i].data.u64,
			                                           events[i].events,
			                                           n_reads == 0,
			                                           &at_line_start[n_reads],
			                                           &reserved[n_reads]);
			if (reads[n_reads] != NULL)
				n_reads++;
		}
		for (guint k = 0; k < n_reads; k++)
			tldrs_read_thread_queue(t, reads[k], at_line_start[k], reserved[k]);
	}
}

/* the main loop's side: the next queued read (but none of @except's), handed to func; FALSE
 * when none is left. One at a time: what a read leads to may remove a connection whose read
 * is queued, and that read must then still be in the queue */
static gboolean
tldrs_read_threads_take_one(TldrsReadThreads *self, guint64 except)
{
	g_autoptr(TldrsRead) r = NULL;
	TldrsReadSlot *slot;
	GList *l;

	g_mutex_lock(&self->lock);
	for (l = self->queue.head; l != NULL; l = l->next) {
		if (((TldrsRead *)l->data)->id != except)
			break;
	}
	if (l == NULL || ((TldrsRead *)l->data)->checking) {
		/* a checker says when it has checked it */
		g_mutex_unlock(&self->lock);
		return FALSE;
	}
	r = l->data;
	g_queue_unlink(&self->queue, l);
	slot = g_hash_table_lookup(self->slots, &r->id);
	if (slot != NULL) {
		slot->queued -= r->len;
		slot->n_reads--;
		/* a client that streamed and went quiet counts no more among those streaming */
		if (slot->queued == 0 && !slot->reading)
			tldrs_read_slot_set_streaming(self, slot, FALSE);
	}
	/* its tail becomes the main loop's until func() has said how much the main loop holds
	 * (tldrs_read_threads_set_partial()): counted in neither for that while, it let every
	 * thread claim a full receive over the budget */
	self->partial_pending -= r->tail;
	self->partial_main += r->tail;
	if (self->queued_bytes >= TLDRS_READ_THREADS_QUEUED &&
	    self->queued_bytes - r->len < TLDRS_READ_THREADS_QUEUED)
		g_cond_broadcast(&self->cond);
	self->queued_bytes -= r->len;
	g_mutex_unlock(&self->lock);
	self->func(r, self->user_data);
	return TRUE;
}

static gboolean
tldrs_read_threads_dispatch(GSource *source, GSourceFunc callback, gpointer user_data)
{
	TldrsReadThreads *self = ((TldrsReadSource *)source)->pool;
	guint64 count;
	(void)callback;
	(void)user_data;

	while (read(self->notify_fd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
	for (guint i = 0; i < TLDRS_READ_THREADS_DISPATCH_MAX; i++) {
		if (!tldrs_read_threads_take_one(self, TLDRS_READ_THREADS_WAKE_ID))
			return G_SOURCE_CONTINUE;
	}
	/* more than one go's worth: come back after the other sources */
	tldrs_read_threads_signal(self->notify_fd);
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs tldrs_read_threads_source_funcs = {
        .dispatch = tldrs_read_threads_dispatch,
};

static void
tldrs_read_slot_free(gpointer data)
{
	g_free(data);
}

/**
 * tldrs_read_threads_new:
 * @n_threads: how many threads read (at least 1)
 * @max_line: MaxLineBytes, for the check of lines
 * @line_check: (nullable): the shared line check, borrowed; must outlive the threads
 * @func: called on the global default main context's loop for each read
 *
 * Returns: (transfer full) (nullable): the threads, started, or %NULL with @error set
 */
TldrsReadThreads *
tldrs_read_threads_new(guint n_threads,
                       gsize max_line,
                       TldrsLineCheck *line_check,
                       TldrsReadFunc func,
                       gpointer user_data,
                       GError **error)
{
	TldrsReadThreads *self;

	g_return_val_if_fail(n_threads > 0, NULL);
	g_return_val_if_fail(func != NULL, NULL);

	self = g_new0(TldrsReadThreads, 1);
	g_mutex_init(&self->lock);
	g_cond_init(&self->cond);
	g_cond_init(&self->check_cond);
	g_queue_init(&self->to_check);
	self->slots =
	        g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, tldrs_read_slot_free);
	g_queue_init(&self->queue);
	self->read_size = TLDRS_READ_THREADS_READ_SIZE;
	self->max_line = max_line;
	self->line_check = line_check;
	self->func = func;
	self->user_data = user_data;
	self->threads = g_new0(TldrsReadThread, n_threads);
	self->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (self->notify_fd < 0) {
		int saved = errno;
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(saved),
		            "cannot make an eventfd: %s",
		            g_strerror(saved));
		tldrs_read_threads_free(self);
		return NULL;
	}
	for (guint i = 0; i < n_threads; i++) {
		TldrsReadThread *t = &self->threads[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TLDRS_READ_THREADS_WAKE_ID};
		t->pool = self;
		t->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
		t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->epoll_fd < 0 || t->wake_fd < 0 ||
		    epoll_ctl(t->epoll_fd, EPOLL_CTL_ADD, t->wake_fd, &ev) != 0) {
			int saved = errno;
			g_set_error(error,
			            G_IO_ERROR,
			            g_io_error_from_errno(saved),
			            "cannot make an epoll set: %s",
			            g_strerror(saved));
			self->n_threads = i + 1;
			tldrs_read_threads_free(self);
			return NULL;
		}
		/* its own pages, so that they can be given back while it is idle */
		t->buf = mmap(NULL,
		              self->read_size,
		              PROT_READ | PROT_WRITE,
		              MAP_PRIVATE | MAP_ANONYMOUS,
		              -1,
		              0);
		if (t->buf == MAP_FAILED) {
			int saved = errno;
			t->buf = NULL;
			g_set_error(error,
			            G_IO_ERROR,
			            g_io_error_from_errno(saved),
			            "cannot map a receive buffer: %s",
			            g_strerror(saved));
			tldrs_read_threads_free(self);
			return NULL;
		}
		self->n_threads = i + 1;
		t->thread = g_thread_try_new("tldrs-read", tldrs_read_thread_main, t, error);
		if (t->thread == NULL) {
			tldrs_read_threads_free(self);
			return NULL;
		}
	}
	/* a checker per CPU: with the read threads going on receiving, the large reads of one
	 * client or of many are checked on every CPU */
	self->n_cpus = g_get_num_processors();
	self->checkers = g_new0(GThread *, TLDRS_READ_THREADS_MAX_CHECKERS);
	for (guint i = 0; i < MIN(self->n_cpus, TLDRS_READ_THREADS_MAX_CHECKERS); i++) {
		g_autoptr(GError) local_error = NULL;
		GThread *thread = g_thread_try_new(
		        "tldrs-check", tldrs_read_checker_main, self, &local_error);
		if (thread == NULL) {
			/* the read threads check their reads themselves */
			g_warning("cannot start a thread to check reads: %s", local_error->message);
			break;
		}
		self->checkers[self->n_checkers++] = thread;
	}
	self->source = g_source_new(&tldrs_read_threads_source_funcs, sizeof(TldrsReadSource));
	((TldrsReadSource *)self->source)->pool = self;
	g_source_set_name(self->source, "tldrs connections");
	g_source_add_unix_fd(self->source, self->notify_fd, G_IO_IN);
	g_source_attach(self->source, NULL);
	return self;
}

/* stops the threads; the reads not taken yet are dropped */
void
tldrs_read_threads_free(TldrsReadThreads *self)
{
	if (self == NULL)
		return;
	g_mutex_lock(&self->lock);
	self->quit = TRUE;
	g_cond_broadcast(&self->cond);
	g_mutex_unlock(&self->lock);
	for (guint i = 0; i < self->n_threads; i++) {
		TldrsReadThread *t = &self->threads[i];
		if (t->thread != NULL) {
			tldrs_read_threads_signal(t->wake_fd);
			g_thread_join(t->thread);
		}
		if (t->epoll_fd >= 0)
			close(t->epoll_fd);
		if (t->wake_fd >= 0)
			close(t->wake_fd);
		if (t->buf != NULL)
			munmap(t->buf, self->read_size);
	}
	/* after the read threads: none queues a read for a checker any more */
	g_mutex_lock(&self->lock);
	self->checkers_quit = TRUE;
	g_cond_broadcast(&self->check_cond);
	g_mutex_unlock(&self->lock);
	for (guint i = 0; i < self->n_checkers; i++)
		g_thread_join(self->checkers[i]);
	g_free(self->checkers);
	if (self->source != NULL) {
		g_source_destroy(self->source);
		g_source_unref(self->source);
	}
	if (self->notify_fd >= 0)
		close(self->notify_fd);
	while (self->queue.head != NULL) {
		GList *l = self->queue.head;
		g_queue_unlink(&self->queue, l);
		tldrs_read_free(l->data);
	}
	g_hash_table_unref(self->slots);
	g_free(self->threads);
	g_cond_clear(&self->check_cond);
	g_cond_clear(&self->cond);
	g_mutex_clear(&self->lock);
	g_free(self);
}

/* @fd (a connection's socket, open until tldrs_read_threads_remove()) joins the thread
 * of @id; not read until armed */
gboolean
tldrs_read_threads_add(TldrsReadThreads *self, int fd, guint64 id, GError **error)
{
	TldrsReadSlot *slot;
	TldrsReadThread *t;
	struct epoll_event ev = {.events = EPOLLONESHOT, .data.u64 = id};

	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(id != TLDRS_READ_THREADS_WAKE_ID, FALSE);
	t = &self->threads[id % self->n_threads];
	slot = g_new0(TldrsReadSlot, 1);
	slot->id = id;
	slot->fd = fd;
	slot->thread = t;
	slot->at_line_start = TRUE;
	g_mutex_lock(&self->lock);
	if (g_hash_table_contains(self->slots, &id) ||
	    epoll_ctl(t->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
		int saved = g_hash_table_contains(self->slots, &id) ? EEXIST : errno;
		g_mutex_unlock(&self->lock);
		g_free(slot);
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(saved),
		            "cannot watch connection %" G_GUINT64_FORMAT ": %s",
		            id,
		            g_strerror(saved));
		return FALSE;
	}
	g_hash_table_insert(self->slots, &slot->id, slot);
	g_mutex_unlock(&self->lock);
	return TRUE;
}

/* read @id whenever it is readable, until disarmed; @full: a whole buffer even while
 * tight */
void
tldrs_read_threads_arm(TldrsReadThreads *self, guint64 id, gboolean full)
{
	TldrsReadSlot *slot;

	g_return_if_fail(self != NULL);
	g_mutex_lock(&self->lock);
	slot = g_hash_table_lookup(self->slots, &id);
	if (slot != NULL) {
		slot->full = full;
		slot->wanted = TRUE;
		if (tldrs_read_slot_may_read(self, slot) > 0)
			tldrs_read_slot_set_armed(slot, TRUE);
	}
	g_mutex_unlock(&self->lock);
}

/* TRUE while a read of @id is being received or waits in the queue: bytes it sent that the
 * main loop has not seen yet, although its socket may look empty */
gboolean
tldrs_read_threads_has_pending(TldrsReadThreads *self, guint64 id)
{
	TldrsReadSlot *slot;
	gboolean pending;

	g_return_val_if_fail(self != NULL, FALSE);
	g_mutex_lock(&self->lock);
	slot = g_hash_table_lookup(self->slots, &id);
	pending = slot != NULL && (slot->queued > 0 || slot->reading);
	g_mutex_unlock(&self->lock);
	return pending;
}

/* not read any more (a read on its way is still queued) */
void
tldrs_read_threads_disarm(TldrsReadThreads *self, guint64 id)
{
	TldrsReadSlot *slot;

	g_return_if_fail(self != NULL);
	g_mutex_lock(&self->lock);
	slot = g_hash_table_lookup(self->slots, &id);
	if (slot != NULL)
		slot->wanted = FALSE;
	g_mutex_unlock(&self->lock);
}

/**
 * tldrs_read_threads_remove:
 *
 * @id is read no more: waits while its thread is receiving, and takes back its reads that
 * the main loop has not taken yet. Its socket may be closed after this.
 *
 * Returns: (transfer full) (nullable): those reads in one, which the caller handles before
 *   any other bytes of the connection, or %NULL
 */
TldrsRead *
tldrs_read_threads_remove(TldrsReadThreads *self, guint64 id)
{
	TldrsReadSlot *slot;
	TldrsRead *read = NULL;

	g_return_val_if_fail(self != NULL, NULL);
	g_mutex_lock(&self->lock);
	slot = g_hash_table_lookup(self->slots, &id);
	while (slot != NULL && (slot->reading || slot->checking > 0)) {
		g_cond_wait(&self->cond, &self->lock);
		slot = g_hash_table_lookup(self->slots, &id);
	}
	if (slot == NULL) {
		g_mutex_unlock(&self->lock);
		return NULL;
	}
	/* (a connection's end is mostly taken by the main loop before it removes it: no search
	 * of a queue of a thousand clients' reads then) */
	if (slot->n_reads > 0) {
		g_autoptr(GByteArray) bytes = g_byte_array_new();
		GList *l = self->queue.head;
		while (l != NULL && slot->n_reads > 0) {
			GList *next = l->next;
			TldrsRead *r = l->data;
			if (r->id == id) {
				if (read == NULL) {
					read = g_new0(TldrsRead, 1);
					read->id = id;
				}
				g_byte_array_append(bytes, (const guint8 *)r->data, (guint)r->len);
				self->partial_pending -= r->tail;
				read->eof = read->eof || r->eof;
				read->error = r->error != 0 ? r->error : read->error;
				g_queue_unlink(&self->queue, l);
				tldrs_read_free(r);
				slot->n_reads--;
			}
			l = next;
		}
		if (self->queued_bytes >= TLDRS_READ_THREADS_QUEUED &&
		    self->queued_bytes - slot->queued < TLDRS_READ_THREADS_QUEUED)
			g_cond_broadcast(&self->cond);
		self->queued_bytes -= slot->queued;
		if (read != NULL) {
			read->len = bytes->len;
			read->data = (char *)g_byte_array_free(g_steal_pointer(&bytes), FALSE);
		}
	}
	epoll_ctl(slot->thread->epoll_fd, EPOLL_CTL_DEL, slot->fd, NULL);
	tldrs_read_slot_set_streaming(self, slot, FALSE);
	g_hash_table_remove(self->slots, &id);
	g_mutex_unlock(&self->lock);
	return read;
}

/* the threads' receive buffers give their pages back (they are mapped again, zeroed, when
 * next used); only while no receive is in progress, as a receive starts under the lock */
void
tldrs_read_threads_trim(TldrsReadThreads *self)
{
	g_return_if_fail(self != NULL);
	g_mutex_lock(&self->lock);
	if (self->reading == 0) {
		for (guint i = 0; i < self->n_threads; i++) {
			if (self->threads[i].buf != NULL)
				madvise(self->threads[i].buf, self->read_size, MADV_DONTNEED);
		}
	}
	g_mutex_unlock(&self->lock);
}

/* the main loop's incomplete lines now (@total) and their budget (@budget, 0: none) */
void
tldrs_read_threads_set_partial(TldrsReadThreads *self, gsize total, gsize budget)
{
	g_return_if_fail(self != NULL);
	g_mutex_lock(&self->lock);
	self->partial_main = total;
	self->partial_budget = budget;
	g_mutex_unlock(&self->lock);
}

/* a receive on the main loop (a new connection's first): reserves its size in the budget of
 * incomplete lines as a thread's receive does, @want when the budget has room for it, else
 * a tight receive's; given back with tldrs_read_threads_release_partial() once the main loop has
 * counted what it kept (tldrs_read_threads_set_partial()) */
gsize
tldrs_read_threads_reserve_partial(TldrsReadThreads *self, gsize want)
{
	gsize size;

	g_return_val_if_fail(self != NULL, 0);
	g_mutex_lock(&self->lock);
	size = tldrs_read_threads_has_room(self, want) ? want : TLDRS_READ_THREADS_TIGHT_READ;
	self->partial_pending += size;
	g_mutex_unlock(&self->lock);
	return size;
}

void
tldrs_read_threads_release_partial(TldrsReadThreads *self, gsize reserved)
{
	g_return_if_fail(self != NULL);
	g_mutex_lock(&self->lock);
	self->partial_pending -= reserved;
	g_mutex_unlock(&self->lock);
}

/* tldrs_read_threads_sync(): @id's waiting bytes, received here: at most @limit (what it had
 * when the sync began), in receives as large as a read thread's would be, while it may be
 * read */
static void
tldrs_read_threads_sync_one(TldrsReadThreads *self, guint64 id, char *buf, gsize limit)
{
	while (limit > 0) {
		g_autoptr(TldrsRead) r = NULL;
		TldrsReadSlot *slot;
		gssize n;
		gsize size;
		int fd;

		g_mutex_lock(&self->lock);
		slot = g_hash_table_lookup(self->slots, &id);
		size = slot != NULL ? tldrs_read_slot_may_read(self, slot) : 0;
		if (size == 0) {
			g_mutex_unlock(&self->lock);
			return;
		}
		fd = slot->fd;
		g_mutex_unlock(&self->lock);
		n = recv(fd, buf, MIN(size, limit), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		r = g_new0(TldrsRead, 1);
		r->id = id;
		g_mutex_lock(&self->lock);
		if (n <= 0) {
			r->eof = TRUE;
			r->error = n < 0 ? errno : 0;
			slot->ended = TRUE;
			tldrs_read_slot_set_armed(slot, FALSE);
		} else {
			r->data = g_memdup2(buf, (gsize)n);
			r->len = (gsize)n;
			slot->at_line_start = buf[n - 1] == '\n';
			limit -= (gsize)n;
		}
		g_mutex_unlock(&self->lock);
		self->func(r, self->user_data);
		if (n <= 0)
			return;
	}
}

typedef struct {
	guint64 id;
	gsize limit;
} TldrsSyncEntry;

/**
 * tldrs_read_threads_sync:
 *
 * @caller: the connection whose command it is: its own reads stay queued, in its order
 *
 * On the main loop, before a command that looks at what other connections sent (EMIT_TEF,
 * AWAIT_TEF, DIE): what the other connections being read had sent by now is handed to func
 * first, as one thread reading them all would have. The threads pause; the reads they
 * queued are taken (at most TLDRS_READ_THREADS_QUEUED bytes), then each connection that its
 * thread's epoll set says is readable is received from here, but only what it had when
 * the sync began (FIONREAD), so that a client that keeps writing cannot keep it going.
 */
void
tldrs_read_threads_sync(TldrsReadThreads *self, guint64 caller)
{
	g_autoptr(GHashTable) seen = NULL;
	g_autoptr(GArray) ready = NULL;
	g_autofree char *buf = NULL;
	gboolean nested;

	g_return_if_fail(self != NULL);
	g_mutex_lock(&self->lock);
	nested = self->syncing;
	self->syncing = TRUE;
	while (self->reading > 0 || self->checking > 0)
		g_cond_wait(&self->cond, &self->lock);
	g_mutex_unlock(&self->lock);
	if (nested)
		return;

	/* what was read already */
	while (tldrs_read_threads_take_one(self, caller))
		;
	/* what the connections have waiting: those the threads' epoll sets say are readable
	 * (level-triggered: asked until none is new), with how much each has now */
	seen = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	ready = g_array_new(FALSE, FALSE, sizeof(TldrsSyncEntry));
	for (guint k = 0; k < self->n_threads; k++) {
		gboolean fresh = TRUE;
		while (fresh) {
			struct epoll_event events[TLDRS_READ_THREADS_EVENTS];
			int n = epoll_wait(
			        self->threads[k].epoll_fd, events, G_N_ELEMENTS(events), 0);
			fresh = FALSE;
			for (int i = 0; i < n; i++) {
				TldrsSyncEntry entry = {events[i].data.u64, 0};
				TldrsReadSlot *slot;
				int avail = 0;
				if (entry.id == TLDRS_READ_THREADS_WAKE_ID || entry.id == caller ||
				    g_hash_table_contains(seen, &entry.id))
					continue;
				g_hash_table_add(seen, g_memdup2(&entry.id, sizeof(entry.id)));
				fresh = TRUE;
				g_mutex_lock(&self->lock);
				slot = g_hash_table_lookup(self->slots, &entry.id);
				if (slot != NULL && ioctl(slot->fd, FIONREAD, &avail) == 0 &&
				    avail > 0)
					entry.limit = (gsize)avail;
				g_mutex_unlock(&self->lock);
				if (entry.limit > 0)
					g_array_append_val(ready, entry);
			}
		}
	}
	buf = g_malloc(self->read_size);
	for (guint i = 0; i < ready->len; i++) {
		const TldrsSyncEntry *entry = &g_array_index(ready, TldrsSyncEntry, i);
		tldrs_read_threads_sync_one(self, entry->id, buf, entry->limit);
	}
	g_mutex_lock(&self->lock);
	self->syncing = FALSE;
	g_cond_broadcast(&self->cond);
	g_mutex_unlock(&self->lock);
}
