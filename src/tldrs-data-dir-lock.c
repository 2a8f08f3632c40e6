/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "tldrs-data-dir-lock.h"
#include "tldrs-error.h"
#include "tldrs-owned-dir.h"

/* The data directory's lock: the directory is created on demand and used by one daemon at
 * a time, which holds `.tldrs.lock` (flock) with its pid in it while it runs. */

struct _TldrsDataDirLock {
	int fd; /* -1: the directory is not locked (serve --into-file) */
};

/**
 * tldrs_data_dir_lock_new:
 * @dir: the data directory
 * @lock: take the lock; %FALSE only creates @dir
 *
 * Returns: (transfer full): the lock, held until tldrs_data_dir_lock_free(); %NULL with
 *   @error set when @dir cannot be created or another daemon holds it
 */
TldrsDataDirLock *
tldrs_data_dir_lock_new(const char *dir, gboolean lock, GError **error)
{
	g_autoptr(TldrsDataDirLock) self = g_new0(TldrsDataDirLock, 1);
	g_autofree char *lock_path = NULL;

	g_return_val_if_fail(dir != NULL, NULL);
	self->fd = -1;
	if (g_mkdir_with_parents(dir, 0700) != 0) {
		int errsv = errno;
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("cannot create data directory %s: %s"),
		            dir,
		            g_strerror(errsv));
		return NULL;
	}
	if (!lock)
		return g_steal_pointer(&self);
	/* the daemon's own: no other user may put files in it for the daemon to read */
	if (!tldrs_owned_dir_check(dir, FALSE, error))
		return NULL;
	lock_path = g_build_filename(dir, ".tldrs.lock", NULL);
	self->fd = g_open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (self->fd < 0) {
		int errsv = errno;
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("cannot write to data directory %s: %s"),
		            dir,
		            g_strerror(errsv));
		return NULL;
	}
	if (flock(self->fd, LOCK_EX | LOCK_NB) != 0) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_BUSY,
		            _("another tldrs daemon is using data directory %s"),
		            dir);
		return NULL;
	}
	return g_steal_pointer(&self);
}

/* after any fork: the serving process's pid, for whoever wonders who holds the lock */
void
tldrs_data_dir_lock_write_pid(TldrsDataDirLock *self)
{
	g_autofree char *pid = NULL;

	g_return_if_fail(self != NULL);
	if (self->fd < 0)
		return;
	pid = g_strdup_printf("%d\n", (int)getpid());
	if (ftruncate(self->fd, 0) == 0 && write(self->fd, pid, strlen(pid)) < 0)
		g_debug("cannot write pid to lock file");
}

void
tldrs_data_dir_lock_free(TldrsDataDirLock *self)
{
	if (self == NULL)
		return;
	if (self->fd >= 0)
		close(self->fd);
	g_free(self);
}
