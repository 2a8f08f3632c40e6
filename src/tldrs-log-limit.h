/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* warnings about clients allowed per second before they are summarised */
#define TLDRS_LOG_LIMIT_BURST 10

typedef struct _TldrsLogLimit TldrsLogLimit;

TldrsLogLimit *
tldrs_log_limit_new(void);
gboolean
tldrs_log_limit_may_log(TldrsLogLimit *self);
void
tldrs_log_limit_free(TldrsLogLimit *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsLogLimit, tldrs_log_limit_free)

G_END_DECLS
