/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include "tldrs-daemon.h"

G_BEGIN_DECLS

#define TLDRS_DBUS_NAME "org.tldrs.Daemon1"
#define TLDRS_DBUS_PATH "/org/tldrs/Daemon1"

#define TLDRS_TYPE_DBUS (tldrs_dbus_get_type())
G_DECLARE_FINAL_TYPE(TldrsDbus, tldrs_dbus, TLDRS, DBUS, GObject)

TldrsDbus *
tldrs_dbus_new(TldrsDaemon *daemon);
gboolean
tldrs_dbus_start(TldrsDbus *self, gboolean replace, GError **error);
void
tldrs_dbus_stop(TldrsDbus *self);

G_END_DECLS
