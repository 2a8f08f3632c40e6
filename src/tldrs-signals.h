/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _TldrsSignals TldrsSignals;

/**
 * TldrsSignalFunc:
 * @signo: SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 or SIGALRM
 * @pid: the sender's pid (0: the kernel, e.g. a terminal's hangup)
 *
 * One signal, on the main loop.
 */
typedef void (*TldrsSignalFunc)(int signo, gint pid, gpointer user_data);

void
tldrs_signals_block(void);
TldrsSignals *
tldrs_signals_new(TldrsSignalFunc func, gpointer user_data, GError **error);
const char *
tldrs_signals_name(int signo);
void
tldrs_signals_free(TldrsSignals *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsSignals, tldrs_signals_free)

G_END_DECLS
