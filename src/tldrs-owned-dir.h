/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean
tldrs_owned_dir_check(const char *dir, gboolean sticky_ok, GError **error);

G_END_DECLS
