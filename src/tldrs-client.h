/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>

#include "tldrs-linecheck.h"
#include "tldrs-log-limit.h"
#include "tldrs-trace.h"

G_BEGIN_DECLS

#define TLDRS_TYPE_CLIENT (tldrs_client_get_type())
G_DECLARE_FINAL_TYPE(TldrsClient, tldrs_client, TLDRS, CLIENT, GObject)

/* the size of one read from a client */
#define TLDRS_CLIENT_READ_SIZE (256 * 1024)

/**
 * TldrsClientHooks:
 * @acquire_trace: the trace @id with one more client, or %NULL when no more traces may be
 *   open (the line is refused)
 * @release_trace: the connection leaves @trace (a client reference from acquire_trace)
 * @trace_dirty: @trace holds lines not handed to its sinks yet
 * @emit_tef: EMIT_TEF (@at_exit %FALSE) or EMIT_TEF_AT_EXIT; an error refuses the line
 * @await_tef: AWAIT_TEF: register @path as EMIT_TEF_AT_EXIT and answer @client when it is
 *   written (tldrs_client_reply()); an error refuses the line. The client leaves @trace
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
	gboolean (*await_tef)(TldrsClient *client,
	                      TldrsTrace *trace,
	                      const char *path,
	                      gpointer user_data,
	                      GError **error);
	void (*die)(gboolean when_idle, gpointer user_data);
	void (*closed)(TldrsClient *client, gpointer user_data);
} TldrsClientHooks;

/**
 * TldrsClientContext:
 * @hooks: what connections ask of their owner
 * @hooks_data: passed to every hook
 * @read_buf: TLDRS_CLIENT_READ_SIZE bytes every connection reads into, in turn
 * @max_line: MaxLineBytes
 * @line_check: the line check shared by every connection; started at the first read
 *   worth sharing out (see tldrs_client_context_get_line_check())
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
 * @epoll_fd: the connections being read, or -1 until the first one
 * @epoll_failed: no epoll set could be made: a source per connection
 * @poll_source: the main loop's source for @epoll_fd
 * @polled: connection id -> the TldrsClient in @epoll_fd (borrowed)
 *
 * What every connection of a daemon shares. Owned by the daemon, outlives its connections.
 */
typedef struct {
	const TldrsClientHooks *hooks;
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
	TldrsClient *finisher;
	guint budget_retry_id;
	gboolean over_budget;
	int epoll_fd;
	gboolean epoll_failed;
	GSource *poll_source;
	GHashTable *polled;
} TldrsClientContext;

TldrsClientContext *
tldrs_client_context_new(const TldrsClientHooks *hooks,
                         gpointer hooks_data,
                         gsize max_line,
                         gsize partial_budget,
                         TldrsLogLimit *log_limit);
TldrsLineCheck *
tldrs_client_context_get_line_check(TldrsClientContext *context);
void
tldrs_client_context_free(TldrsClientContext *context);

TldrsClient *
tldrs_client_new(TldrsClientContext *context, GSocketConnection *connection, guint64 id, gint pid);
void
tldrs_client_start(TldrsClient *self);
void
tldrs_client_set_paused(TldrsClient *self, gboolean paused);
void
tldrs_client_drain_and_close(TldrsClient *self);
void
tldrs_client_close(TldrsClient *self);
void
tldrs_client_reply(TldrsClient *self, const char *line);
guint64
tldrs_client_get_id(TldrsClient *self);
void
tldrs_client_set_trace(TldrsClient *self, TldrsTrace *trace);

G_END_DECLS
