/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <sys/statvfs.h>

#include <glib/gstdio.h>

#include "tldrs-retention.h"
#include "tldrs-store.h"

/* Retention ([Retention] MaxTotalBytes=, MaxAgeSec=): the oldest closed traces of the data
 * directory go first; a trace in use is never deleted. Without limits, a data directory
 * filling its file system is at least said once. Runs at start, every
 * TLDRS_RETENTION_INTERVAL_SEC and when a trace closes. */

struct _TldrsRetention {
	const TldrsConfig *config; /* borrowed from the daemon */
	TldrsRetentionBusyFunc busy;
	gpointer busy_data;
	guint timer_id;
	gboolean low_space_logged;
};

TldrsRetention *
tldrs_retention_new(const TldrsConfig *config, TldrsRetentionBusyFunc busy, gpointer user_data)
{
	TldrsRetention *self;
	g_return_val_if_fail(config != NULL, NULL);
	g_return_val_if_fail(busy != NULL, NULL);
	self = g_new0(TldrsRetention, 1);
	self->config = config;
	self->busy = busy;
	self->busy_data = user_data;
	return self;
}

static gint
tldrs_retention_cmp_mtime(gconstpointer a, gconstpointer b)
{
	const TldrsStoredTrace *ta = *(TldrsStoredTrace *const *)a;
	const TldrsStoredTrace *tb = *(TldrsStoredTrace *const *)b;
	return ta->mtime < tb->mtime ? -1 : ta->mtime > tb->mtime ? 1 : 0;
}

static void
tldrs_retention_delete(TldrsStoredTrace *t, const char *why)
{
	for (guint i = 0; i < t->files->len; i++) {
		const char *fn = g_ptr_array_index(t->files, i);
		if (g_unlink(fn) != 0)
			g_warning("retention: cannot delete %s: %s", fn, g_strerror(errno));
	}
	g_message("retention: deleted trace %s (%s)", t->id, why);
}

static void
tldrs_retention_check_space(TldrsRetention *self)
{
	const char *dir = self->config->data_dir;
	struct statvfs vfs;

	if (statvfs(dir, &vfs) == 0 && vfs.f_blocks > 0 && vfs.f_bavail * 100 < vfs.f_blocks * 5) {
		if (!self->low_space_logged)
			g_warning("the file system of %s is over 95%% full; [Retention] "
			          "MaxTotalBytes= or MaxAgeSec= can limit what tldrs keeps",
			          dir);
		self->low_space_logged = TRUE;
	} else {
		self->low_space_logged = FALSE;
	}
}

/* one pass over the data directory */
void
tldrs_retention_apply(TldrsRetention *self)
{
	const TldrsConfig *c;
	g_autoptr(GPtrArray) stored = NULL;
	gint64 now = g_get_real_time();
	guint64 total = 0;

	g_return_if_fail(self != NULL);
	c = self->config;
	if (c->into_file != NULL)
		return;
	if (c->retention_max_bytes == 0 && c->retention_max_age_us == 0) {
		tldrs_retention_check_space(self);
		return;
	}
	stored = tldrs_store_list(c->data_dir, NULL);
	if (stored == NULL)
		return;
	g_ptr_array_sort(stored, tldrs_retention_cmp_mtime);
	for (guint i = 0; i < stored->len; i++)
		total += ((TldrsStoredTrace *)g_ptr_array_index(stored, i))->bytes;
	for (guint i = 0; i < stored->len; i++) {
		TldrsStoredTrace *t = g_ptr_array_index(stored, i);
		if (self->busy(t->id, self->busy_data))
			continue;
		if (c->retention_max_age_us > 0 && now - t->mtime > c->retention_max_age_us) {
			tldrs_retention_delete(t, "older than MaxAgeSec");
			total -= t->bytes;
		} else if (c->retention_max_bytes > 0 && total > c->retention_max_bytes) {
			tldrs_retention_delete(t, "over MaxTotalBytes");
			total -= t->bytes;
		}
	}
}

static gboolean
tldrs_retention_timer_cb(gpointer user_data)
{
	tldrs_retention_apply(user_data);
	return G_SOURCE_CONTINUE;
}

/* a first pass now, then one every TLDRS_RETENTION_INTERVAL_SEC */
void
tldrs_retention_start(TldrsRetention *self)
{
	g_return_if_fail(self != NULL);
	g_return_if_fail(self->timer_id == 0);
	tldrs_retention_apply(self);
	self->timer_id =
	        g_timeout_add_seconds(TLDRS_RETENTION_INTERVAL_SEC, tldrs_retention_timer_cb, self);
}

void
tldrs_retention_free(TldrsRetention *self)
{
	if (self == NULL)
		return;
	g_clear_handle_id(&self->timer_id, g_source_remove);
	g_free(self);
}
