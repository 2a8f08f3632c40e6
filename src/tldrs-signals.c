/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "tldrs-error.h"
#include "tldrs-signals.h"

/* The signals the daemon answers (SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2,
 * SIGALRM): blocked in every thread from before the first thread starts, and read from a
 * signalfd on the main loop. None of them can end the process before it has flushed, one
 * sent before the daemon serves waits until it does, and each comes with its sender's pid.
 * GLib's g_unix_signal_add() knows neither SIGQUIT nor SIGALRM. What each one does is the
 * daemon's business (tldrs-daemon.c). */

struct _TldrsSignals {
	int fd;
	guint source_id;
	TldrsSignalFunc func;
	gpointer user_data;
};

static const int tldrs_signals_handled[] =
        {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM};

static void
tldrs_signals_set(sigset_t *set)
{
	sigemptyset(set);
	for (guint i = 0; i < G_N_ELEMENTS(tldrs_signals_handled); i++)
		sigaddset(set, tldrs_signals_handled[i]);
}

/* Before any thread exists, so that every thread (GDBus's and the workers' too) inherits the
 * mask: a signal is then pending for the process until the signalfd reads it. The daemon
 * starts no other program, so no child inherits the mask either. */
void
tldrs_signals_block(void)
{
	sigset_t set;
	tldrs_signals_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

const char *
tldrs_signals_name(int signo)
{
	switch (signo) {
	case SIGTERM:
		return "SIGTERM";
	case SIGINT:
		return "SIGINT";
	case SIGQUIT:
		return "SIGQUIT";
	case SIGHUP:
		return "SIGHUP";
	case SIGUSR1:
		return "SIGUSR1";
	case SIGUSR2:
		return "SIGUSR2";
	case SIGALRM:
		return "SIGALRM";
	default:
		return "signal";
	}
}

static gboolean
tldrs_signals_ready_cb(gint fd, GIOCondition condition, gpointer user_data)
{
	TldrsSignals *self = user_data;
	struct signalfd_siginfo info;
	(void)condition;

	for (;;) {
		ssize_t n = read(fd, &info, sizeof(info));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(info))
			break;
		self->func((int)info.ssi_signo, (gint)info.ssi_pid, self->user_data);
	}
	return G_SOURCE_CONTINUE;
}

/**
 * tldrs_signals_new:
 * @func: called on the main loop for each signal received
 *
 * Reads the signals blocked by tldrs_signals_block(), including those sent since.
 *
 * Returns: (transfer full): the reader, or %NULL with @error set
 */
TldrsSignals *
tldrs_signals_new(TldrsSignalFunc func, gpointer user_data, GError **error)
{
	TldrsSignals *self;
	sigset_t set;
	int fd;

	g_return_val_if_fail(func != NULL, NULL);
	tldrs_signals_set(&set);
	/* blocked here too, whoever called tldrs_signals_block() */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0) {
		int errsv = errno;
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("cannot read signals: %s"),
		            g_strerror(errsv));
		return NULL;
	}
	self = g_new0(TldrsSignals, 1);
	self->fd = fd;
	self->func = func;
	self->user_data = user_data;
	self->source_id = g_unix_fd_add(fd, G_IO_IN, tldrs_signals_ready_cb, self);
	return self;
}

void
tldrs_signals_free(TldrsSignals *self)
{
	if (self == NULL)
		return;
	g_clear_handle_id(&self->source_id, g_source_remove);
	close(self->fd);
	g_free(self);
}
