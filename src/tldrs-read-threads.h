/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>

#include "tldrs-linecheck.h"

G_BEGIN_DECLS

typedef struct _TldrsReadThreads TldrsReadThreads;

/**
 * TldrsRead:
 * @id: the connection it was read from
 * @data: (array length=len): what was read, owned by the read
 * @len: its bytes; 0 when the connection ended with nothing more
 * @eof: the peer closed the connection, or its socket failed (@error): nothing follows
 * @error: the errno of a failed receive, or 0
 * @checked_from: where the whole lines checked in the reading thread start
 * @checked_to: where they end: data[checked_from..checked_to) is whole lines that are
 *   all plain events (tldrs_line_is_plain_event()); equal to @checked_from when none is
 * @checked_events: how many lines that is
 *
 * One receive (or a few, for a client that streams) from one connection, handed to the main
 * loop in the order of the connection's bytes.
 */
typedef struct {
	guint64 id;
	char *data;
	gsize len;
	gboolean eof;
	int error;
	gsize checked_from;
	gsize checked_to;
	guint checked_events;

	/*< private >*/
	GList link;             /* in the queue of reads: no list node to allocate per read */
	GList check_link;       /* in the list of reads waiting for a checker */
	gboolean bytes_inline;  /* data is in the same block, just after the read */
	gboolean checking;      /* waiting for a checker, or being checked: not to be taken */
	gboolean at_line_start; /* for its checker: the read before it ended a line */
	gsize tail;             /* in the queue: its bytes after its last '\n' (all without one) */
} TldrsRead;

/* called on the main loop for each read, in order; the read is freed after it returns */
typedef void (*TldrsReadFunc)(TldrsRead *read, gpointer user_data);

TldrsReadThreads *
tldrs_read_threads_new(guint n_threads,
                       gsize max_line,
                       TldrsLineCheck *line_check,
                       TldrsReadFunc func,
                       gpointer user_data,
                       GError **error);
void
tldrs_read_threads_free(TldrsReadThreads *self);
gboolean
tldrs_read_threads_add(TldrsReadThreads *self, int fd, guint64 id, GError **error);
void
tldrs_read_threads_arm(TldrsReadThreads *self, guint64 id, gboolean full);
void
tldrs_read_threads_disarm(TldrsReadThreads *self, guint64 id);
gboolean
tldrs_read_threads_has_pending(TldrsReadThreads *self, guint64 id);
TldrsRead *
tldrs_read_threads_remove(TldrsReadThreads *self, guint64 id);
void
tldrs_read_threads_sync(TldrsReadThreads *self, guint64 caller);
void
tldrs_read_threads_trim(TldrsReadThreads *self);
void
tldrs_read_threads_set_partial(TldrsReadThreads *self, gsize total, gsize budget);
gsize
tldrs_read_threads_reserve_partial(TldrsReadThreads *self, gsize want);
void
tldrs_read_threads_release_partial(TldrsReadThreads *self, gsize reserved);

void
tldrs_read_free(TldrsRead *read);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsRead, tldrs_read_free)

G_END_DECLS
