/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#include "tldrs-connection.h"
#include "tldrs-linecheck.h"
#include "tldrs-protocol.h"

/* One client connection: takes what the read threads received from its socket (with the
 * whole lines they checked already), or, when they could not start or the daemon drains it,
 * reads into the shared read buffer itself; cuts it into lines, checks each one not checked
 * yet (the line check) and hands runs of accepted events to the connection's trace in one
 * piece. Commands go up to the connection's owner through the
 * hooks of its TldrsConnectionContext. Only an incomplete last line is kept per connection, so
 * an idle connection costs a few hundred bytes.
 *
 * The incomplete lines of all connections together have a budget (MaxIncompleteLinesBytes).
 * Over it, the connections holding the most are held (not read) until the total is down to
 * half the budget, while the others are read on, in small reads, so that their lines
 * complete; and one held connection at a time, the one with data waiting that holds the
 * most, the finisher, is read until its line is complete, so that held lines always end. */

/* the most a connection reads when the daemon drains it on shutdown */
#define TLDRS_CONNECTION_DRAIN_MAX (256 * 1024 * 1024)

/* a receive at least this large suggests the client has more queued */
#define TLDRS_CONNECTION_STREAM_READ (32 * 1024)

/* the most a connection reads at once while the incomplete lines are over their budget */
#define TLDRS_CONNECTION_TIGHT_READ 4096

/* the most a new connection's first read takes at once while the incomplete lines are over
 * their budget, when the connections are read on the main loop (the read threads decide it
 * otherwise: as much as one of their receives then) */
#define TLDRS_CONNECTION_START_TIGHT_READ 2048

/* how often one read's lines are shared out among the CPUs */
#define TLDRS_CONNECTION_MAX_SHARES 4

/* threads that read connections: a few per CPU, as clients that write one event at a time
 * leave a socket's buffer full after about 200 events and wait for a reader, which is then
 * one runnable thread among theirs (docs/performance.md) */
#define TLDRS_CONNECTION_READERS_PER_CPU 2
#define TLDRS_CONNECTION_MAX_READERS     16

/* seconds without a connection read before freed memory is given back */
#define TLDRS_CONNECTION_TRIM_DELAY 1

struct _TldrsConnection {
	GObject parent_instance;
	TldrsConnectionContext *ctx; /* shared, outlives us */
	GSocketConnection *connection;
	GSocket *socket;
	GSource *source; /* reading on the main loop (the read threads failed), or NULL */
	gboolean polled; /* read by the context's read threads */
	TldrsTrace *trace;
	GByteArray *partial; /* an incomplete line, or NULL */
	gboolean skipping;   /* discarding the rest of an over-long line */
	gboolean closed;
	gboolean started;
	gboolean paused;     /* the sinks are behind */
	gboolean held;       /* the incomplete lines are over their budget */
	gsize partial_bytes; /* what the context counts of @partial */
	gboolean awaiting;   /* sent AWAIT_TEF: waits for the answer, sends nothing more */
	gboolean hang_up;    /* answered for the last time: close after this read */
	guint64 id;
	gint pid;
	guint64 refused;
};

G_DEFINE_TYPE(TldrsConnection, tldrs_connection, G_TYPE_OBJECT)

/**
 * tldrs_connection_context_new:
 * @hooks: (not nullable): every hook set; must outlive the context
 * @max_line: MaxLineBytes
 * @partial_budget: MaxIncompleteLinesBytes
 * @log_limit: borrowed, must outlive the context
 */
TldrsConnectionContext *
tldrs_connection_context_new(const TldrsConnectionHooks *hooks,
                             gpointer hooks_data,
                             gsize max_line,
                             gsize partial_budget,
                             TldrsLogLimit *log_limit)
{
	TldrsConnectionContext *context;
	g_return_val_if_fail(hooks != NULL, NULL);
	g_return_val_if_fail(log_limit != NULL, NULL);
	context = g_new0(TldrsConnectionContext, 1);
	context->hooks = hooks;
	context->hooks_data = hooks_data;
	context->read_buf = g_malloc(TLDRS_CONNECTION_READ_SIZE);
	context->max_line = max_line;
	context->partial_budget = partial_budget;
	context->holders = g_hash_table_new(g_direct_hash, g_direct_equal);
	context->polled = g_hash_table_new(g_int64_hash, g_int64_equal);
	context->log_limit = log_limit;
	return context;
}

/* the shared line check: a helper thread per further CPU (at most 3); started on first use,
 * not before serving, because --daemonize forks first */
TldrsLineCheck *
tldrs_connection_context_get_line_check(TldrsConnectionContext *context)
{
	if (context->line_check == NULL) {
		guint cpus = g_get_num_processors();
		context->line_check = tldrs_line_check_new(MIN(cpus, 4) - 1);
	}
	return context->line_check;
}

void
tldrs_connection_context_free(TldrsConnectionContext *context)
{
	if (context == NULL)
		return;
	g_free(context->read_buf);
	g_clear_handle_id(&context->budget_retry_id, g_source_remove);
	g_clear_handle_id(&context->trim_id, g_source_remove);
	g_clear_pointer(&context->holders, g_hash_table_unref);
	/* the read threads first: they check lines with the line check */
	g_clear_pointer(&context->readers, tldrs_read_threads_free);
	g_clear_pointer(&context->polled, g_hash_table_unref);
	g_clear_pointer(&context->line_check, tldrs_line_check_free);
	g_free(context);
}

static void
tldrs_connection_watch(TldrsConnection *self);

static void
tldrs_connection_set_held(TldrsConnection *self, gboolean held)
{
	TldrsConnectionContext *ctx = self->ctx;
	if (self->held == held)
		return;
	self->held = held;
	if (held) {
		ctx->partial_held += self->partial_bytes;
		ctx->n_held++;
	} else {
		ctx->partial_held -= self->partial_bytes;
		ctx->n_held--;
	}
	tldrs_connection_watch(self);
}

/* the context's count of incomplete lines follows @partial */
static void
tldrs_connection_account(TldrsConnection *self)
{
	TldrsConnectionContext *ctx = self->ctx;
	gsize now = self->partial != NULL ? self->partial->len : 0;

	if (now == self->partial_bytes)
		return;
	ctx->partial_total = ctx->partial_total - self->partial_bytes + now;
	if (self->held)
		ctx->partial_held = ctx->partial_held - self->partial_bytes + now;
	if (self->partial_bytes == 0)
		g_hash_table_add(ctx->holders, self);
	else if (now == 0)
		g_hash_table_remove(ctx->holders, self);
	self->partial_bytes = now;
	ctx->partial_peak = MAX(ctx->partial_peak, ctx->partial_total);
	if (ctx->readers != NULL)
		tldrs_read_threads_set_partial(
		        ctx->readers, ctx->partial_total, ctx->partial_budget);
	if (now == 0) {
		/* its line is complete: it holds nothing that could grow */
		if (ctx->finisher == self)
			ctx->finisher = NULL;
		tldrs_connection_set_held(self, FALSE);
	}
}

static gint
tldrs_connection_cmp_partial(gconstpointer a, gconstpointer b)
{
	const TldrsConnection *ca = *(TldrsConnection *const *)a;
	const TldrsConnection *cb = *(TldrsConnection *const *)b;
	if (ca->partial_bytes != cb->partial_bytes)
		return ca->partial_bytes > cb->partial_bytes ? -1 : 1;
	return ca->id < cb->id ? -1 : ca->id > cb->id;
}

static void
tldrs_connection_budget_balance(TldrsConnectionContext *ctx);

static gboolean
tldrs_connection_budget_retry_cb(gpointer user_data)
{
	TldrsConnectionContext *ctx = user_data;
	ctx->budget_retry_id = 0;
	tldrs_connection_budget_balance(ctx);
	return G_SOURCE_REMOVE;
}

/* data waiting: in its socket, or read by the read threads and not yet fed to us (until it
 * is, its socket may look empty while what it read is not in our count of incomplete lines
 * yet: the finisher would make way for another at every read, each then reading all it has) */
static gboolean
tldrs_connection_has_data(TldrsConnection *self)
{
	if (self->polled && self->ctx->readers != NULL &&
	    tldrs_read_threads_has_pending(self->ctx->readers, self->id))
		return TRUE;
	return g_socket_condition_check(self->socket, G_IO_IN | G_IO_HUP | G_IO_ERR) != 0;
}

/* a held connection is read again until its line is complete: the one holding the most of
 * those with data waiting (whose line can go on now). A finisher with nothing waiting makes
 * way for one that has, as long as the incomplete lines are within the budget plus one
 * MaxLineBytes: a connection that stops in the middle of its line holds up the others only
 * then */
static void
tldrs_connection_budget_pick_finisher(TldrsConnectionContext *ctx)
{
	GHashTableIter iter;
	gpointer key;
	TldrsConnection *best = NULL;

	if (ctx->finisher != NULL && (tldrs_connection_has_data(ctx->finisher) ||
	                              ctx->partial_total >= ctx->partial_budget + ctx->max_line))
		return;

	g_hash_table_iter_init(&iter, ctx->holders);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		TldrsConnection *c = key;
		if (!c->held || (best != NULL && tldrs_connection_cmp_partial(&c, &best) > 0))
			continue;
		if (!tldrs_connection_has_data(c))
			continue;
		best = c;
	}
	if (best == NULL) {
		/* look again in a moment: reading the others may not call us */
		if (ctx->budget_retry_id == 0)
			ctx->budget_retry_id =
			        g_timeout_add(50, tldrs_connection_budget_retry_cb, ctx);
		return;
	}
	if (ctx->finisher != NULL)
		tldrs_connection_set_held(ctx->finisher, TRUE);
	g_debug("connection %" G_GUINT64_FORMAT ": may finish its line of %" G_GSIZE_FORMAT
	        " bytes",
	        best->id,
	        best->partial_bytes);
	ctx->finisher = best;
	tldrs_connection_set_held(best, FALSE);
}

/* MaxIncompleteLinesBytes: over it, hold the connections holding the most until the others
 * hold at most a quarter of it (and all of them once the held ones alone are over it);
 * down to half of it, read every connection again */
static void
tldrs_connection_budget_balance(TldrsConnectionContext *ctx)
{
	gsize budget = ctx->partial_budget;
	gsize finishing = ctx->finisher != NULL ? ctx->finisher->partial_bytes : 0;
	gsize free_bytes = ctx->partial_total - ctx->partial_held - finishing;

	if (budget == 0)
		return;
	if (ctx->partial_total <= budget / 2) {
		if (ctx->n_held > 0) {
			GHashTableIter iter;
			gpointer key;
			g_autoptr(GPtrArray) held = g_ptr_array_new();
			g_hash_table_iter_init(&iter, ctx->holders);
			while (g_hash_table_iter_next(&iter, &key, NULL))
				g_ptr_array_add(held, key);
			ctx->finisher = NULL;
			for (guint i = 0; i < held->len; i++)
				tldrs_connection_set_held(g_ptr_array_index(held, i), FALSE);
		}
		if (ctx->over_budget && tldrs_log_limit_may_log(ctx->log_limit)) {
			g_message("incomplete lines down to %" G_GSIZE_FORMAT
			          " bytes (at most %" G_GSIZE_FORMAT
			          "): reading every connection again",
			          ctx->partial_total,
			          ctx->partial_peak);
		}
		ctx->over_budget = FALSE;
		ctx->partial_peak = ctx->partial_total;
		return;
	}
	if (ctx->partial_total > budget && free_bytes > 0 &&
	    (free_bytes > budget / 4 || ctx->partial_held > budget)) {
		GHashTableIter iter;
		gpointer key;
		g_autoptr(GPtrArray) free_holders = g_ptr_array_new();
		guint n = 0;

		g_hash_table_iter_init(&iter, ctx->holders);
		while (g_hash_table_iter_next(&iter, &key, NULL)) {
			TldrsConnection *c = key;
			if (!c->held && c != ctx->finisher && !c->closed)
				g_ptr_array_add(free_holders, c);
		}
		g_ptr_array_sort(free_holders, tldrs_connection_cmp_partial);
		for (guint i = 0; i < free_holders->len; i++) {
			TldrsConnection *c = g_ptr_array_index(free_holders, i);
			if (free_bytes <= budget / 4 && ctx->partial_held <= budget)
				break;
			free_bytes -= c->partial_bytes;
			tldrs_connection_set_held(c, TRUE);
			n++;
		}
		if (n > 0 && !ctx->over_budget && tldrs_log_limit_may_log(ctx->log_limit)) {
			g_warning("incomplete lines of %u connections take %" G_GSIZE_FORMAT
			          " bytes, over MaxIncompleteLinesBytes=%" G_GSIZE_FORMAT
			          ": not reading the %u holding the most until they are down to "
			          "%" G_GSIZE_FORMAT,
			          g_hash_table_size(ctx->holders),
			          ctx->partial_total,
			          budget,
			          ctx->n_held,
			          budget / 2);
		}
		ctx->over_budget = TRUE;
	}
	if (ctx->n_held > 0)
		tldrs_connection_budget_pick_finisher(ctx);
}

static void
tldrs_connection_refuse(TldrsConnection *self, const char *reason, const char *line, gsize len)
{
	self->refused++;
	self->ctx->lines_refused++;
	if (self->trace != NULL)
		tldrs_trace_add_refused(self->trace);
	/* the first refusal of a connection is logged, then a summary when it closes */
	if (self->refused == 1 && tldrs_log_limit_may_log(self->ctx->log_limit)) {
		g_autofree char *excerpt = tldrs_protocol_excerpt(line, len);
		g_warning("connection %" G_GUINT64_FORMAT
		          " (pid %d, trace %s): refused line: %s: %s",
		          self->id,
		          self->pid,
		          self->trace != NULL ? tldrs_trace_get_id(self->trace) : "none",
		          reason,
		          excerpt);
	}
}

static void
tldrs_connection_open(TldrsConnection *self,
                      const char *id,
                      gsize len,
                      const char *raw,
                      gsize raw_len)
{
	g_autofree char *trace_id = g_strndup(id, len);
	TldrsTrace *old = self->trace;
	TldrsTrace *trace;

	if (old != NULL && g_strcmp0(tldrs_trace_get_id(old), trace_id) == 0)
		return;
	trace = self->ctx->hooks->acquire_trace(trace_id, self->ctx->hooks_data);
	if (trace == NULL) {
		/* the connection stays on its trace */
		tldrs_connection_refuse(self, "too many traces open at once", raw, raw_len);
		return;
	}
	self->trace = trace;
	if (old != NULL)
		self->ctx->hooks->release_trace(old, self->ctx->hooks_data);
	g_debug("connection %" G_GUINT64_FORMAT ": trace %s", self->id, trace_id);
}

/* before a command that looks at what other clients sent (EMIT_TEF, AWAIT_TEF, DIE; not
 * DIE_WHEN_IDLE, which waits for every client anyway): what they sent before it comes
 * first, whichever thread read that */
static void
tldrs_connection_sync(TldrsConnection *self)
{
	if (self->ctx->readers != NULL)
		tldrs_read_threads_sync(self->ctx->readers, self->id);
}

/* everything that is not a well-formed event on the fast path */
static void
tldrs_connection_handle_line(TldrsConnection *self, const char *raw, gsize raw_len)
{
	TldrsLine line;
	g_autofree char *arg = NULL;
	g_autoptr(GError) error = NULL;

	tldrs_protocol_parse_line(raw, raw_len, &line);
	if (self->awaiting && line.kind != TLDRS_LINE_EMPTY) {
		tldrs_connection_refuse(self, "line after AWAIT_TEF", raw, raw_len);
		return;
	}
	switch (line.kind) {
	case TLDRS_LINE_EMPTY:
		return;
	case TLDRS_LINE_EVENT: {
		g_autofree char *copy = NULL;
		if (self->trace == NULL) {
			tldrs_connection_refuse(self, "event before OPEN", raw, raw_len);
			return;
		}
		copy = g_malloc(line.len + 1);
		memcpy(copy, line.data, line.len);
		copy[line.len] = '\n';
		tldrs_trace_append(self->trace, copy, line.len + 1, 1);
		self->ctx->events_received++;
		self->ctx->hooks->trace_dirty(self->trace, self->ctx->hooks_data);
		return;
	}
	case TLDRS_LINE_REFUSED:
		tldrs_connection_refuse(self, line.reason, raw, raw_len);
		return;
	case TLDRS_LINE_OPEN:
		tldrs_connection_open(self, line.data, line.len, raw, raw_len);
		return;
	case TLDRS_LINE_EMIT_TEF:
	case TLDRS_LINE_EMIT_TEF_AT_EXIT:
		if (self->trace == NULL) {
			tldrs_connection_refuse(self, "EMIT_TEF before OPEN", raw, raw_len);
			return;
		}
		if (line.kind == TLDRS_LINE_EMIT_TEF)
			tldrs_connection_sync(self);
		arg = g_strndup(line.data, line.len);
		if (!self->ctx->hooks->emit_tef(self->trace,
		                                arg,
		                                line.kind == TLDRS_LINE_EMIT_TEF_AT_EXIT,
		                                self->ctx->hooks_data,
		                                &error))
			tldrs_connection_refuse(self, error->message, raw, raw_len);
		return;
	case TLDRS_LINE_AWAIT_TEF: {
		TldrsTrace *trace = self->trace;
		if (trace == NULL) {
			tldrs_connection_refuse(self, "AWAIT_TEF before OPEN", raw, raw_len);
			return;
		}
		tldrs_connection_sync(self);
		arg = g_strndup(line.data, line.len);
		if (!self->ctx->hooks->await_tef(self, trace, arg, self->ctx->hooks_data, &error)) {
			g_autofree char *answer =
			        g_strdup_printf("TEF_FAILED %s\n", error->message);
			tldrs_connection_refuse(self, error->message, raw, raw_len);
			tldrs_connection_reply(self, answer);
			self->awaiting = TRUE;
			self->hang_up = TRUE;
			return;
		}
		/* the connection leaves its trace, so that the trace can finish */
		self->awaiting = TRUE;
		self->trace = NULL;
		self->ctx->hooks->release_trace(trace, self->ctx->hooks_data);
		return;
	}
	case TLDRS_LINE_DIE:
		tldrs_connection_sync(self);
		self->ctx->hooks->die(FALSE, self->ctx->hooks_data);
		return;
	case TLDRS_LINE_DIE_WHEN_IDLE:
		self->ctx->hooks->die(TRUE, self->ctx->hooks_data);
		return;
	default:
		g_assert_not_reached();
	}
}

static void
tldrs_connection_append_run(TldrsConnection *self, const char *run, gsize len, guint n_events)
{
	tldrs_trace_append(self->trace, run, len, n_events);
	self->ctx->events_received += n_events;
}

/* Lines already checked by a read thread: [from, to) inside the data being fed, whole lines
 * that are all plain events, @events of them */
typedef struct {
	const char *from;
	const char *to;
	guint events;
} TldrsCheckedLines;

/* the hot path: consumes the complete lines of data[0..len), returns how much it used;
 * @checked: (nullable): lines in it known to be plain events */
static gsize
tldrs_connection_process(TldrsConnection *self,
                         const char *data,
                         gsize len,
                         const TldrsCheckedLines *checked)
{
	const char *p = data;
	const char *end = data + len;
	const char *run = p; /* a run of accepted event lines, '\n' included */
	guint run_events = 0;
	gsize max_line = self->ctx->max_line;
	guint shares = 0;
	gboolean share = TRUE;

	while (p < end) {
		const char *nl;
		const char *line;
		gsize n;

		/* checked already: they extend the run */
		if (checked != NULL && p == checked->from && self->trace != NULL) {
			p = checked->to;
			run_events += checked->events;
			checked = NULL;
			continue;
		}
		/* much data: check its lines on every CPU, up to the first one that is not an
		 * event (a few times per read at most, so bad lines cannot make this costly) */
		if (share && self->trace != NULL && shares < TLDRS_CONNECTION_MAX_SHARES &&
		    (gsize)(end - p) >= TLDRS_LINE_CHECK_MIN) {
			const char *last = memrchr(p, '\n', (gsize)(end - p));
			guint n_events = 0;
			share = FALSE;
			shares++;
			if (last != NULL) {
				p += tldrs_line_check_prefix(
				        tldrs_connection_context_get_line_check(self->ctx),
				        p,
				        (gsize)(last + 1 - p),
				        max_line,
				        &n_events);
				run_events += n_events;
				continue;
			}
		}
		nl = memchr(p, '\n', (gsize)(end - p));
		line = p;
		if (nl == NULL)
			break;
		n = (gsize)(nl - p);
		p = nl + 1;
		/* a well-formed event extends the run; anything else ends it */
		if (self->trace != NULL && tldrs_line_is_plain_event(line, n, max_line)) {
			run_events++;
			continue;
		}
		share = TRUE;
		if (run_events > 0)
			tldrs_connection_append_run(self, run, (gsize)(line - run), run_events);
		run_events = 0;
		run = p;
		if (n > max_line)
			tldrs_connection_refuse(self, "line longer than MaxLineBytes", line, n);
		else
			tldrs_connection_handle_line(self, line, n);
		if (self->closed)
			return len;
	}
	if (run_events > 0)
		tldrs_connection_append_run(self, run, (gsize)(p - run), run_events);
	if (self->trace != NULL && tldrs_trace_has_pending(self->trace))
		self->ctx->hooks->trace_dirty(self->trace, self->ctx->hooks_data);
	return (gsize)(p - data);
}

/* data that is not a complete line yet */
static void
tldrs_connection_keep_partial(TldrsConnection *self, const char *data, gsize len)
{
	gsize max_line = self->ctx->max_line;
	gsize have = self->partial != NULL ? self->partial->len : 0;

	if (len == 0 || self->skipping)
		return;
	/* the '\n' that ends the line does not count towards MaxLineBytes */
	if (have + len - (data[len - 1] == '\n' ? 1 : 0) > max_line) {
		const char *head = have > 0 ? (const char *)self->partial->data : data;
		tldrs_connection_refuse(
		        self, "line longer than MaxLineBytes", head, have > 0 ? have : len);
		g_clear_pointer(&self->partial, g_byte_array_unref);
		self->skipping = TRUE;
		return;
	}
	if (self->partial == NULL)
		self->partial = g_byte_array_sized_new((guint)MAX(len, 256));
	g_byte_array_append(self->partial, (const guint8 *)data, (guint)len);
}

static void
tldrs_connection_feed_lines(TldrsConnection *self,
                            const char *data,
                            gsize len,
                            const TldrsCheckedLines *checked)
{
	gsize used;

	/* finish the line started by an earlier read */
	if (self->partial != NULL || self->skipping) {
		const char *nl = memchr(data, '\n', len);
		gsize head;
		if (nl == NULL) {
			tldrs_connection_keep_partial(self, data, len);
			return;
		}
		head = (gsize)(nl - data) + 1;
		if (self->skipping) {
			self->skipping = FALSE;
		} else {
			tldrs_connection_keep_partial(self, data, head);
			if (self->partial != NULL) {
				g_autoptr(GByteArray) line = g_steal_pointer(&self->partial);
				tldrs_connection_process(
				        self, (const char *)line->data, line->len, NULL);
			} else {
				/* it went over the limit with its last bytes */
				self->skipping = FALSE;
			}
		}
		if (self->closed)
			return;
		data += head;
		len -= head;
	}
	used = tldrs_connection_process(self, data, len, checked);
	if (!self->closed)
		tldrs_connection_keep_partial(self, data + used, len - used);
}

static void
tldrs_connection_feed(TldrsConnection *self, const char *data, gsize len)
{
	tldrs_connection_feed_lines(self, data, len, NULL);
	tldrs_connection_account(self);
}

/* what a read thread read, with the lines it checked */
static void
tldrs_connection_feed_read(TldrsConnection *self, const TldrsRead *read)
{
	TldrsCheckedLines checked;
	/* an end with nothing more has no data to point into */
	if (read->len == 0 || self->closed)
		return;
	checked = (TldrsCheckedLines){read->data + read->checked_from,
	                              read->data + read->checked_to,
	                              read->checked_events};
	tldrs_connection_feed_lines(
	        self, read->data, read->len, checked.events > 0 ? &checked : NULL);
	tldrs_connection_account(self);
}

/* the budget of incomplete lines has room for @want more bytes (or there is no budget) */
static gboolean
tldrs_connection_budget_has_room(TldrsConnectionContext *ctx, gsize want)
{
	return ctx->partial_budget == 0 || (ctx->partial_total <= ctx->partial_budget &&
	                                    ctx->partial_budget - ctx->partial_total >= want);
}

/* what the socket has, at most @size bytes; FALSE when the connection is finished.
 * @to_end: receive until the socket has nothing more (or its end), not only while the
 * receives are large */
static gboolean
tldrs_connection_read(TldrsConnection *self, gsize size, gboolean to_end)
{
	TldrsConnectionContext *ctx = self->ctx;
	char *buf = ctx->read_buf;
	gsize have = 0;
	gboolean more = TRUE;

	/* a client streaming large writes: read on while it fills the buffer, so the lines are
	 * checked in larger pieces (one receive per wakeup otherwise) */
	while (more && have < size) {
		g_autoptr(GError) error = NULL;
		gssize n = g_socket_receive(self->socket, buf + have, size - have, NULL, &error);
		if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			break;
		if (n <= 0) {
			if (n < 0)
				g_debug("connection %" G_GUINT64_FORMAT ": %s",
				        self->id,
				        error->message);
			if (have > 0)
				tldrs_connection_feed(self, buf, have);
			return FALSE;
		}
		have += (gsize)n;
		more = to_end || (gsize)n >= TLDRS_CONNECTION_STREAM_READ;
	}
	if (have > 0)
		tldrs_connection_feed(self, buf, have);
	return !self->closed && !self->hang_up;
}

static gboolean
tldrs_connection_ready_cb(GSocket *socket, GIOCondition condition, gpointer user_data)
{
	TldrsConnection *self = TLDRS_CONNECTION(user_data);
	(void)socket;
	(void)condition;
	TldrsConnectionContext *ctx = self->ctx;
	/* over the budget of incomplete lines, a read can add little to them */
	gsize size = !tldrs_connection_budget_has_room(ctx, 0) && ctx->finisher != self
	                     ? TLDRS_CONNECTION_TIGHT_READ
	                     : TLDRS_CONNECTION_READ_SIZE;
	if (tldrs_connection_read(self, size, FALSE)) {
		tldrs_connection_budget_balance(self->ctx);
		return G_SOURCE_CONTINUE;
	}
	/* the source is going away with this return */
	g_clear_pointer(&self->source, g_source_unref);
	tldrs_connection_close(self);
	return G_SOURCE_REMOVE;
}

/* a read from the read threads, on the main loop: by id, as the connection may be gone */
static void
tldrs_connection_read_cb(TldrsRead *read, gpointer user_data)
{
	TldrsConnectionContext *ctx = user_data;
	TldrsConnection *client = g_hash_table_lookup(ctx->polled, &read->id);
	g_autoptr(TldrsConnection) self = NULL;

	if (client != NULL) {
		self = g_object_ref(client);
		tldrs_connection_feed_read(self, read);
		if (read->eof || self->closed || self->hang_up) {
			if (read->error != 0)
				g_debug("connection %" G_GUINT64_FORMAT ": %s",
				        self->id,
				        g_strerror(read->error));
			tldrs_connection_close(self);
		} else {
			tldrs_connection_budget_balance(ctx);
			tldrs_connection_watch(self);
		}
	}
	/* the read threads counted the read's tail as ours when they handed it over: what we
	 * hold now, whether or not it changed */
	if (ctx->readers != NULL)
		tldrs_read_threads_set_partial(
		        ctx->readers, ctx->partial_total, ctx->partial_budget);
}

/* TRUE when @self is read by the context's read threads from now on */
static gboolean
tldrs_connection_poll_add(TldrsConnection *self)
{
	TldrsConnectionContext *ctx = self->ctx;
	g_autoptr(GError) error = NULL;

	if (ctx->readers == NULL && !ctx->readers_failed) {
		/* first use: after any fork of --daemonize */
		guint cpus = g_get_num_processors();
		ctx->readers = tldrs_read_threads_new(
		        MIN(cpus * TLDRS_CONNECTION_READERS_PER_CPU, TLDRS_CONNECTION_MAX_READERS),
		        ctx->max_line,
		        tldrs_connection_context_get_line_check(ctx),
		        tldrs_connection_read_cb,
		        ctx,
		        &error);
		if (ctx->readers != NULL)
			tldrs_read_threads_set_partial(
			        ctx->readers, ctx->partial_total, ctx->partial_budget);
		if (ctx->readers == NULL) {
			g_warning("cannot start the threads that read connections, reading them "
			          "on the main loop: %s",
			          error->message);
			ctx->readers_failed = TRUE;
			return FALSE;
		}
	}
	if (ctx->readers == NULL)
		return FALSE;
	if (!tldrs_read_threads_add(
	            ctx->readers, g_socket_get_fd(self->socket), self->id, &error)) {
		g_debug("%s", error->message);
		return FALSE;
	}
	g_hash_table_insert(ctx->polled, &self->id, self);
	self->polled = TRUE;
	return TRUE;
}

/* no connection has been read for a while: the read threads' receive buffers, and the memory
 * that their reads freed in every thread's malloc arena, go back to the system */
static gboolean
tldrs_connection_trim_cb(gpointer user_data)
{
	TldrsConnectionContext *ctx = user_data;
	ctx->trim_id = 0;
	if (g_hash_table_size(ctx->polled) == 0) {
		if (ctx->readers != NULL)
			tldrs_read_threads_trim(ctx->readers);
		malloc_trim(0);
	}
	return G_SOURCE_REMOVE;
}

/* not read any more; returns what the read threads read and the connection has not had yet */
static TldrsRead *
tldrs_connection_stop(TldrsConnection *self)
{
	TldrsRead *pending = NULL;
	if (self->polled) {
		TldrsConnectionContext *ctx = self->ctx;
		pending = tldrs_read_threads_remove(ctx->readers, self->id);
		g_hash_table_remove(ctx->polled, &self->id);
		if (g_hash_table_size(ctx->polled) == 0 && ctx->trim_id == 0)
			ctx->trim_id = g_timeout_add_seconds(
			        TLDRS_CONNECTION_TRIM_DELAY, tldrs_connection_trim_cb, ctx);
		self->polled = FALSE;
	}
	if (self->source != NULL) {
		g_source_destroy(self->source);
		g_clear_pointer(&self->source, g_source_unref);
	}
	return pending;
}

/* read while started, open, and neither paused nor held */
static void
tldrs_connection_watch(TldrsConnection *self)
{
	gboolean want = self->started && !self->closed && !self->paused && !self->held;
	if (self->polled) {
		if (want)
			tldrs_read_threads_arm(
			        self->ctx->readers, self->id, self->ctx->finisher == self);
		else
			tldrs_read_threads_disarm(self->ctx->readers, self->id);
		return;
	}
	if (!want) {
		if (self->source != NULL) {
			g_source_destroy(self->source);
			g_clear_pointer(&self->source, g_source_unref);
		}
		return;
	}
	if (self->source != NULL)
		return;
	if (tldrs_connection_poll_add(self)) {
		tldrs_read_threads_arm(self->ctx->readers, self->id, self->ctx->finisher == self);
		return;
	}
	self->source = g_socket_create_source(self->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
	g_source_set_callback(self->source, G_SOURCE_FUNC(tldrs_connection_ready_cb), self, NULL);
	g_source_attach(self->source, NULL);
}

/**
 * tldrs_connection_start:
 *
 * Reads the connection from now on. What the client has sent already is read here, on the
 * main loop, at once: a client that connected, sent everything and closed before it was
 * accepted (a short-lived process, a burst of them) is handled in one go, without handing
 * it to a read thread. The connection may be closed when this returns.
 */
void
tldrs_connection_start(TldrsConnection *self)
{
	g_return_if_fail(TLDRS_IS_CONNECTION(self));
	self->started = TRUE;
	if (!self->closed && !self->paused && !self->held) {
		TldrsConnectionContext *ctx = self->ctx;
		g_autoptr(TldrsConnection) keep G_GNUC_UNUSED = g_object_ref(self);
		gsize size = TLDRS_CONNECTION_READ_SIZE;
		gboolean open;
		/* the budget of incomplete lines counts what the read threads hold and will
		 * add to them, as their own receives do: a whole buffer only while it has
		 * room for one */
		if (ctx->readers != NULL)
			size = tldrs_read_threads_reserve_partial(ctx->readers, size);
		else if (!tldrs_connection_budget_has_room(ctx, size))
			size = TLDRS_CONNECTION_START_TIGHT_READ;
		open = tldrs_connection_read(self, size, TRUE);
		if (ctx->readers != NULL)
			tldrs_read_threads_release_partial(ctx->readers, size);
		if (!open) {
			tldrs_connection_close(self);
			return;
		}
		tldrs_connection_budget_balance(ctx);
	}
	tldrs_connection_watch(self);
}

/* stop reading (the kernel then blocks the client) while the sinks catch up */
void
tldrs_connection_set_paused(TldrsConnection *self, gboolean paused)
{
	g_return_if_fail(TLDRS_IS_CONNECTION(self));
	if (self->paused == paused)
		return;
	self->paused = paused;
	tldrs_connection_watch(self);
}

/* shutdown: take what the client has already sent, then close */
void
tldrs_connection_drain_and_close(TldrsConnection *self)
{
	g_autoptr(TldrsRead) pending = NULL;
	char *buf;
	gsize total = 0;

	g_return_if_fail(TLDRS_IS_CONNECTION(self));
	if (self->closed)
		return;
	pending = tldrs_connection_stop(self);
	if (pending != NULL) {
		tldrs_connection_feed_read(self, pending);
		if (pending->eof) {
			tldrs_connection_close(self);
			return;
		}
	}
	buf = self->ctx->read_buf;
	while (!self->closed && total < TLDRS_CONNECTION_DRAIN_MAX) {
		g_autoptr(GError) error = NULL;
		gssize n = g_socket_receive(
		        self->socket, buf, TLDRS_CONNECTION_READ_SIZE, NULL, &error);
		if (n <= 0) {
			g_debug("connection %" G_GUINT64_FORMAT ": drained %" G_GSIZE_FORMAT
			        " bytes%s%s",
			        self->id,
			        total,
			        error != NULL ? ": " : "",
			        error != NULL ? error->message : "");
			break;
		}
		total += (gsize)n;
		tldrs_connection_feed(self, buf, (gsize)n);
	}
	tldrs_connection_close(self);
}

void
tldrs_connection_close(TldrsConnection *self)
{
	g_autoptr(TldrsConnection) keep = NULL;
	g_autoptr(TldrsRead) pending = NULL;

	g_return_if_fail(TLDRS_IS_CONNECTION(self));
	if (self->closed)
		return;
	keep = g_object_ref(self);
	/* what was read already still counts */
	pending = tldrs_connection_stop(self);
	if (pending != NULL) {
		tldrs_connection_feed_read(self, pending);
		if (self->closed)
			return;
	}

	/* a last line without '\n' still counts */
	if (self->partial != NULL && !self->skipping) {
		g_autoptr(GByteArray) line = g_steal_pointer(&self->partial);
		g_byte_array_append(line, (const guint8 *)"\n", 1);
		tldrs_connection_process(self, (const char *)line->data, line->len, NULL);
	}
	self->closed = TRUE;
	g_clear_pointer(&self->partial, g_byte_array_unref);
	tldrs_connection_account(self);
	tldrs_connection_set_held(self, FALSE);
	if (self->ctx->finisher == self)
		self->ctx->finisher = NULL;
	tldrs_connection_budget_balance(self->ctx);
	if (self->refused > 1 && tldrs_log_limit_may_log(self->ctx->log_limit)) {
		g_message("connection %" G_GUINT64_FORMAT " (pid %d): %" G_GUINT64_FORMAT
		          " lines refused in all",
		          self->id,
		          self->pid,
		          self->refused);
	}
	g_io_stream_close(G_IO_STREAM(self->connection), NULL, NULL);
	if (self->trace != NULL) {
		TldrsTrace *trace = g_steal_pointer(&self->trace);
		self->ctx->hooks->release_trace(trace, self->ctx->hooks_data);
	}
	self->ctx->hooks->closed(self, self->ctx->hooks_data);
}

/* the only thing the daemon ever writes to a client: a line answering AWAIT_TEF */
void
tldrs_connection_reply(TldrsConnection *self, const char *line)
{
	gsize len = strlen(line);
	gsize sent = 0;

	g_return_if_fail(TLDRS_IS_CONNECTION(self));
	/* a few bytes into an empty socket buffer: a short write is not expected, and a
	 * client that does not read its answer is not waited for */
	while (!self->closed && sent < len) {
		g_autoptr(GError) error = NULL;
		gssize n = g_socket_send(self->socket, line + sent, len - sent, NULL, &error);
		if (n <= 0) {
			g_debug("connection %" G_GUINT64_FORMAT ": cannot answer: %s",
			        self->id,
			        error != NULL ? error->message : "nothing sent");
			return;
		}
		sent += (gsize)n;
	}
}

guint64
tldrs_connection_get_id(TldrsConnection *self)
{
	g_return_val_if_fail(TLDRS_IS_CONNECTION(self), 0);
	return self->id;
}

/* takes a client reference on @trace that the daemon already counted */
void
tldrs_connection_set_trace(TldrsConnection *self, TldrsTrace *trace)
{
	g_return_if_fail(TLDRS_IS_CONNECTION(self));
	g_return_if_fail(self->trace == NULL);
	self->trace = trace;
}

static void
tldrs_connection_finalize(GObject *object)
{
	TldrsConnection *self = TLDRS_CONNECTION(object);
	tldrs_read_free(tldrs_connection_stop(self));
	g_clear_pointer(&self->partial, g_byte_array_unref);
	/* not closed: the daemon let go of it as it went away */
	self->closed = TRUE;
	if (self->ctx != NULL) {
		tldrs_connection_account(self);
		if (self->ctx->finisher == self)
			self->ctx->finisher = NULL;
	}
	g_clear_object(&self->connection);
	G_OBJECT_CLASS(tldrs_connection_parent_class)->finalize(object);
}

static void
tldrs_connection_class_init(TldrsConnectionClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = tldrs_connection_finalize;
}

static void
tldrs_connection_init(TldrsConnection *self)
{
	(void)self;
}

TldrsConnection *
tldrs_connection_new(TldrsConnectionContext *context,
                     GSocketConnection *connection,
                     guint64 id,
                     gint pid)
{
	TldrsConnection *self;
	g_return_val_if_fail(context != NULL, NULL);
	g_return_val_if_fail(G_IS_SOCKET_CONNECTION(connection), NULL);
	self = g_object_new(TLDRS_TYPE_CONNECTION, NULL);
	self->ctx = context;
	self->connection = g_object_ref(connection);
	self->socket = g_socket_connection_get_socket(connection);
	self->id = id;
	self->pid = pid;
	g_socket_set_blocking(self->socket, FALSE);
	return self;
}
