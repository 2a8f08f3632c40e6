/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* what a reader reads at a time, and the size of its line buffer */
#define TLDRS_READER_CHUNK (512 * 1024)

/* the longest line a reader returns, its '\n' not counted (the largest MaxLineBytes the daemon
 * accepts); longer ones are skipped and counted. Memory grows past TLDRS_READER_CHUNK only for
 * a line that long. */
#define TLDRS_READER_MAX_LINE_DEFAULT ((gsize)1 << 30)

typedef struct _TldrsReader TldrsReader;

TldrsReader *
tldrs_reader_open(const char *path, GError **error);
TldrsReader *
tldrs_reader_new_for_fd(int fd, const char *name, GError **error);
void
tldrs_reader_set_max_line(TldrsReader *self, gsize max_line);
void
tldrs_reader_set_limit(TldrsReader *self, guint64 limit);
gboolean
tldrs_reader_next(TldrsReader *self, const char **line, gsize *len, GError **error);
gboolean
tldrs_reader_next_lines(TldrsReader *self,
                        guint64 until,
                        const char **lines,
                        gsize *len,
                        GError **error);
guint64
tldrs_reader_get_bytes_read(TldrsReader *self);
guint64
tldrs_reader_get_lines_too_long(TldrsReader *self);
gboolean
tldrs_reader_is_gzip(TldrsReader *self);
int
tldrs_reader_get_fd(TldrsReader *self);
void
tldrs_reader_free(TldrsReader *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsReader, tldrs_reader_free)

G_END_DECLS
