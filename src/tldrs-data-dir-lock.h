/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _TldrsDataDirLock TldrsDataDirLock;

TldrsDataDirLock *
tldrs_data_dir_lock_new(const char *dir, gboolean lock, gboolean replace, GError **error);
void
tldrs_data_dir_lock_write_pid(TldrsDataDirLock *self);
void
tldrs_data_dir_lock_free(TldrsDataDirLock *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsDataDirLock, tldrs_data_dir_lock_free)

G_END_DECLS
