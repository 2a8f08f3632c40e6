/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TLDRS_ERROR (tldrs_error_quark())

/**
 * TldrsError:
 * @TLDRS_ERROR_FAILED: something went wrong; the message says what
 * @TLDRS_ERROR_NO_SUCH_TRACE: no trace of that id
 * @TLDRS_ERROR_INVALID_PATH: a path that tldrs refuses to write to or read from
 * @TLDRS_ERROR_BUSY: the trace or daemon is in use
 * @TLDRS_ERROR_INVALID_ARGUMENT: a bad value (trace id, option, config key)
 *
 * The one error domain of tldrs; also registered as the D-Bus errors
 * `org.tldrs.Daemon1.Error.*`.
 */
typedef enum {
	TLDRS_ERROR_FAILED,
	TLDRS_ERROR_NO_SUCH_TRACE,
	TLDRS_ERROR_INVALID_PATH,
	TLDRS_ERROR_BUSY,
	TLDRS_ERROR_INVALID_ARGUMENT,
	TLDRS_ERROR_LAST
} TldrsError;

GQuark
tldrs_error_quark(void);

G_END_DECLS
