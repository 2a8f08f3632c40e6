/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* the process tree of one command, recorded with ptrace: see tldrs-proctrace.c */
typedef struct _TldrsProcTrace TldrsProcTrace;

/* TEF event lines (each ended by '\n') that the tracer has ready; valid during the call */
typedef void (*TldrsProcTraceEmit)(const char *lines, gsize len, gpointer user_data);

TldrsProcTrace *
tldrs_proctrace_new(gboolean follow, TldrsProcTraceEmit emit, gpointer user_data);
void
tldrs_proctrace_free(TldrsProcTrace *self);
gboolean
tldrs_proctrace_spawn(TldrsProcTrace *self,
                      const char *file,
                      char **argv,
                      char **envp,
                      GError **error);
pid_t
tldrs_proctrace_get_pid(TldrsProcTrace *self);
gboolean
tldrs_proctrace_is_following(TldrsProcTrace *self);
int
tldrs_proctrace_run(TldrsProcTrace *self);
void
tldrs_proctrace_add_other_child(TldrsProcTrace *self, pid_t pid);
gboolean
tldrs_proctrace_other_child_exited(TldrsProcTrace *self, pid_t pid, int *status);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsProcTrace, tldrs_proctrace_free)

G_END_DECLS
