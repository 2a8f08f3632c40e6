/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Checks the event lines of one read on several CPUs at once. The daemon's main thread calls
 * tldrs_line_check_prefix() and takes part in the work itself; helper threads join when they
 * can and are never waited for before they start, so a busy machine costs nothing over checking
 * alone. */

typedef struct _TldrsLineCheck TldrsLineCheck;

/* the least data that is worth sharing out */
#define TLDRS_LINE_CHECK_MIN (32 * 1024)

TldrsLineCheck *
tldrs_line_check_new(guint n_helpers);
void
tldrs_line_check_free(TldrsLineCheck *self);
guint
tldrs_line_check_get_n_helpers(TldrsLineCheck *self);

/* TRUE when line[0..len) (without its '\n') is an event the hot path stores as it is: one
 * strict JSON object from its first to its last byte, at most max_line bytes */
gboolean
tldrs_line_is_plain_event(const char *line, gsize len, gsize max_line);

/* data[0..len) is complete lines, each ending with '\n'. Returns the length of the longest
 * prefix made of plain events (whole lines), and their number in *n_events. */
gsize
tldrs_line_check_prefix(TldrsLineCheck *self,
                        const char *data,
                        gsize len,
                        gsize max_line,
                        guint *n_events);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsLineCheck, tldrs_line_check_free)

G_END_DECLS
