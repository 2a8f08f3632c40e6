/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include "tldrs-log-limit.h"

/* The rate limit of warnings about clients: a client flooding the daemon with bad lines or
 * connections must not flood the journal. TLDRS_LOG_LIMIT_BURST warnings a second are
 * logged; the rest of that second is counted and the count logged when it ends. Main
 * thread only. */

struct _TldrsLogLimit {
	gint64 window; /* start of the current second, monotonic */
	guint window_id;
	guint count;
	guint64 suppressed;
};

TldrsLogLimit *
tldrs_log_limit_new(void)
{
	return g_new0(TldrsLogLimit, 1);
}

static void
tldrs_log_limit_summarise(TldrsLogLimit *self)
{
	if (self->suppressed > 0) {
		g_warning("%" G_GUINT64_FORMAT " more warnings about clients not logged",
		          self->suppressed);
		self->suppressed = 0;
	}
}

static gboolean
tldrs_log_limit_window_cb(gpointer user_data)
{
	TldrsLogLimit *self = user_data;
	self->window_id = 0;
	tldrs_log_limit_summarise(self);
	return G_SOURCE_REMOVE;
}

/* TRUE when a warning about a client may be logged now: a flood is summarised instead */
gboolean
tldrs_log_limit_may_log(TldrsLogLimit *self)
{
	gint64 now = g_get_monotonic_time();

	g_return_val_if_fail(self != NULL, FALSE);
	if (now - self->window >= G_USEC_PER_SEC) {
		g_clear_handle_id(&self->window_id, g_source_remove);
		tldrs_log_limit_summarise(self);
		self->window = now;
		self->count = 0;
	}
	if (self->count >= TLDRS_LOG_LIMIT_BURST) {
		/* the count is logged when the window ends, even if no warning follows */
		if (self->suppressed++ == 0 && self->window_id == 0) {
			gint64 left = self->window + G_USEC_PER_SEC - now;
			self->window_id = g_timeout_add(
			        (guint)(left / 1000) + 1, tldrs_log_limit_window_cb, self);
		}
		return FALSE;
	}
	self->count++;
	return TRUE;
}

void
tldrs_log_limit_free(TldrsLogLimit *self)
{
	if (self == NULL)
		return;
	g_clear_handle_id(&self->window_id, g_source_remove);
	tldrs_log_limit_summarise(self);
	g_free(self);
}
