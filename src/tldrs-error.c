/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include <gio/gio.h>

#include "tldrs-error.h"

static const GDBusErrorEntry tldrs_error_entries[] = {
        {TLDRS_ERROR_FAILED, "org.tldrs.Daemon1.Error.Failed"},
        {TLDRS_ERROR_NO_SUCH_TRACE, "org.tldrs.Daemon1.Error.NoSuchTrace"},
        {TLDRS_ERROR_INVALID_PATH, "org.tldrs.Daemon1.Error.InvalidPath"},
        {TLDRS_ERROR_BUSY, "org.tldrs.Daemon1.Error.Busy"},
        {TLDRS_ERROR_INVALID_ARGUMENT, "org.tldrs.Daemon1.Error.InvalidArgument"},
};

G_STATIC_ASSERT(G_N_ELEMENTS(tldrs_error_entries) == TLDRS_ERROR_LAST);

GQuark
tldrs_error_quark(void)
{
	static gsize quark = 0;
	g_dbus_error_register_error_domain("tldrs-error-quark",
	                                   &quark,
	                                   tldrs_error_entries,
	                                   G_N_ELEMENTS(tldrs_error_entries));
	return (GQuark)quark;
}
