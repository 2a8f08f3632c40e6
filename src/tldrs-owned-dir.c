/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "tldrs-error.h"
#include "tldrs-owned-dir.h"

/* The directories the daemon keeps its socket and its data in must be the user's own: no
 * other user may put a socket or a file there in its place. */

/* a directory a socket or the data may live in: ours (or root's), and no one else may
 * replace what is in it (group or others may write only with the sticky bit, as in /tmp) */
gboolean
tldrs_owned_dir_check(const char *dir, gboolean sticky_ok, GError **error)
{
	GStatBuf sb;
	if (g_stat(dir, &sb) != 0)
		return TRUE; /* made by us, 0700 */
	if (sb.st_uid != getuid() && !(sticky_ok && sb.st_uid == 0)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            _("%s belongs to another user (uid %u): refusing to use it"),
		            dir,
		            (guint)sb.st_uid);
		return FALSE;
	}
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0 && !(sticky_ok && (sb.st_mode & S_ISVTX))) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            _("%s is writable by other users: refusing to use it (chmod go-w %s)"),
		            dir,
		            dir);
		return FALSE;
	}
	return TRUE;
}
