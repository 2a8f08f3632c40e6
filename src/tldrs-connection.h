/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>

#include "tldrs-linecheck.h"
#include "tldrs-log-limit.h"
#include "tldrs-read-threads.h"
#include "tldrs-trace.h"

G_BEGIN_DECLS

#define TLDRS_TYPE_CONNECTION (tldrs_connection_get_type())
G_DECLARE_FINAL_TYPE(TldrsConnection, tldrs_connection, TLDRS, CONNECTION, GObject)

/* the size of one read from a client */
#define TLDRS_CONNECTION_READ_SIZE (256 * 1024)

/**
 * TldrsConnectionHooks:
 * @acquire_trace: the trace @id with one more client, or %NULL when no more traces may be
 *   open (the line is refused)
 * @release_trace: the connection leaves @trace (a client reference from acquire_trace)
 * @trace_dirty: @trace holds lines not handed to its sinks yet
 * @emit_tef: EMIT_TEF (@at_exit %FALSE) or EMIT_TEF_AT_EXIT; an error refuses the line
 * @await_tef: AWAIT_TEF: register @path as EMIT_TEF_AT_EXIT and answer @client when it is
 *   written (tldrs_connection_reply()); an error refuses the line. The client leaves @trace
 *   afterwards (release_trace)
 * @die: DIE (@when_idle %FALSE) or DIE_WHEN_IDLE
 * @closed: the connection is closed; whoever holds it drops it now
 *
 * What a connection asks of whoever accepted it. All are called on the main thread with
 * the context's @hooks_data.
 */
typedef struct {
	TldrsTrace *(*acquire_trace)(const char *id, gpointer user_data);
	void (*release_trace)(TldrsTrace *trace, gpointer user_data);
	void (*trace_dirty)(TldrsTrace *trace, gpointer user_data);
	gboolean (*emit_tef)(TldrsTrace *trace,
	                     const char *path,
	                     gboolean at_exit,
	                     gpointer user_data,
	                     GError **error);
	gboolean (*await_tef)(TldrsConnection *client,
	                      TldrsTrace *trace,
	                      const char *path,
	                      gpointer user_data,
	                      GError **error);
	void (*die)(gboolean when_idle, gpointer user_data);
	void (*closed)(TldrsConnection *client, gpointer user_data);
} TldrsConnectionHooks;

/**
 * TldrsConnectionContext:
 * @hooks: what connections ask of their owner
 * @hooks_data: passed to every hook
 * @read_buf: TLDRS_CONNECTION_READ_SIZE bytes every connection reads into, in turn
 * @max_line: MaxLineBytes
 * @line_check: the line check shared by every connection; started at the first read
 *   worth sharing out (see tldrs_connection_context_get_line_check())
 * @log_limit: the limit on warnings about clients
 * @events_received: every event accepted from any connection
 * @lines_refused: every line refused from any connection
 * @partial_budget: MaxIncompleteLinesBytes, for the incomplete lines of all connections
 * @partial_total: the bytes of every connection's incomplete line
 * @partial_held: of which the connections held (not read) for the budget hold
 * @partial_peak: the most @partial_total since the budget was last reached
 * @holders: the connections with an incomplete line (borrowed)
 * @n_held: connections held for the budget
 * @finisher: the held connection that may finish its line beyond the budget, or %NULL
 * @budget_retry_id: looks again for a finisher while none has data waiting
 * @over_budget: the budget was reached and not yet relieved (for the log)
 * @readers: the threads that read the connections, or %NULL until the first one
 * @readers_failed: they could not start: a main-loop source per connection
 * @polled: connection id -> the TldrsConnection in @readers (borrowed)
 *
 * What every connection of a daemon shares. Owned by the daemon, outlives its connections.
 */
typedef struct {
	const TldrsConnectionHooks *hooks;
	gpointer hooks_data;
	char *read_buf;
	gsize max_line;
	TldrsLineCheck *line_check;
	TldrsLogLimit *log_limit;
	guint64 events_received;
	guint64 lines_refused;
	gsize partial_budget;
	gsize partial_total;
	gsize partial_held;
	gsize partial_peak;
	GHashTable *holders;
	guint n_held;
	TldrsConnection *finisher;
	guint budget_retry_id;
	gboolean over_budget;
	TldrsReadThreads *readers;
	gboolean readers_failed;
	GHashTable *polled;
	guint trim_id; /* gives back freed memory once no connection is read */
} TldrsConnectionContext;

TldrsConnectionContext *
tldrs_connection_context_new(const TldrsConnectionHooks *hooks,
                             gpointer hooks_data,
                             gsize max_line,
                             gsize partial_budget,
                             TldrsLogLimit *log_limit);
TldrsLineCheck *
tldrs_connection_context_get_line_check(TldrsConnectionContext *context);
void
tldrs_connection_context_free(TldrsConnectionContext *context);

TldrsConnection *
tldrs_connection_new(TldrsConnectionContext *context,
                     GSocketConnection *connection,
                     guint64 id,
                     gint pid);
void
tldrs_connection_start(TldrsConnection *self);
void
tldrs_connection_set_paused(TldrsConnection *self, gboolean paused);
void
tldrs_connection_drain_and_close(TldrsConnection *self);
void
tldrs_connection_close(TldrsConnection *self);
void
tldrs_connection_reply(TldrsConnection *self, const char *line);
guint64
tldrs_connection_get_id(TldrsConnection *self);
void
tldrs_connection_set_trace(TldrsConnection *self, TldrsTrace *trace);

G_END_DECLS
