/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

GPtrArray *
tldrs_activation_take_sockets(GError **error);
void
tldrs_activation_notify(const char *state);

G_END_DECLS
