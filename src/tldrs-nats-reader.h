/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Reading what nats sinks published (see docs/many-hosts.md): the traces of a JetStream
 * stream, and one trace's events from every host, on one time line, each host's processes
 * apart. The work is done by the module tldrs-nats-reader.so in the plugin directory, loaded
 * on the first call; without it (a build without libnats, the meson option `nats`) every call
 * fails saying so. */

typedef struct {
	guint64 events;    /* events written */
	guint hosts;       /* hosts seen */
	guint64 unaligned; /* events of a daemon that left no clock record: not shifted */
	guint64 bad_lines; /* lines that were not JSON objects: left out */
} TldrsNatsReadStats;

gboolean
tldrs_nats_reader_check_url(const char *url, GError **error);
GPtrArray *
tldrs_nats_list_traces(const char *url, const char *stream, GError **error);
int
tldrs_nats_read_trace_to_tmp(const char *url,
                             const char *stream,
                             const char *trace_id,
                             int dirfd,
                             const char *dir,
                             TldrsNatsReadStats *stats,
                             GError **error);
void
tldrs_nats_reader_shutdown(void);

/* the descriptor tldrs_nats_read_trace_to_tmp() returns, closed with g_auto() */
typedef int TldrsNatsTmpFd;
void
tldrs_nats_tmp_fd_close(TldrsNatsTmpFd fd);
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(TldrsNatsTmpFd, tldrs_nats_tmp_fd_close, -1)
gboolean
tldrs_nats_read_trace(const char *url,
                      const char *stream,
                      const char *trace_id,
                      int out_fd,
                      TldrsNatsReadStats *stats,
                      GError **error);

/* the entry points of the module tldrs-nats-reader.so (plugins/nats/), which does the work of
 * the calls above of the same names; looked up with g_module_symbol() */
GPtrArray *
tldrs_nats_module_list_traces(const char *url, const char *stream, GError **error);
gboolean
tldrs_nats_module_read_trace(const char *url,
                             const char *stream,
                             const char *trace_id,
                             int out_fd,
                             TldrsNatsReadStats *stats,
                             GError **error);
gboolean
tldrs_nats_module_check_url(const char *url, GError **error);
void
tldrs_nats_module_shutdown(void);

G_END_DECLS
