/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "tldrs-data-dir-lock.h"
#include "tldrs-error.h"
#include "tldrs-owned-dir.h"

/* The data directory's lock: the directory is created on demand and used by one daemon at
 * a time, which holds `.tldrs.lock` (flock) with its pid in it while it runs. `serve --replace`
 * takes it over, with or without a session bus: it asks the daemon that holds it to stop in
 * order (SIGTERM) and waits for the lock, but only a daemon that is certainly the user's own
 * and certainly the holder: the lock file is the user's and no one else can write it, the
 * kernel (/proc/locks) says which process holds the lock and the file names the same pid, and
 * that process runs as the user. */

struct _TldrsDataDirLock {
	int fd; /* -1: the directory is not locked (serve --into-file) */
	char *dir;
};

/* the pid that holds an exclusive flock() on the file open as @fd, as the kernel says
 * (/proc/locks); 0 when it names none */
static pid_t
tldrs_data_dir_lock_kernel_holder(int fd)
{
	struct stat sb;
	g_autofree char *contents = NULL;
	g_autofree char *want = NULL;
	g_auto(GStrv) lines = NULL;

	if (fstat(fd, &sb) != 0 || !g_file_get_contents("/proc/locks", &contents, NULL, NULL))
		return 0;
	want = g_strdup_printf("%02x:%02x:%" G_GUINT64_FORMAT,
	                       major(sb.st_dev),
	                       minor(sb.st_dev),
	                       (guint64)sb.st_ino);
	lines = g_strsplit(contents, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		/* "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"; a waiter's has "->" */
		g_auto(GStrv) f = g_strsplit_set(lines[i], " \t", -1);
		const char *w[8];
		guint n = 0;
		for (guint j = 0; f[j] != NULL && n < G_N_ELEMENTS(w); j++) {
			if (f[j][0] != '\0')
				w[n++] = f[j];
		}
		if (n >= 6 && g_str_equal(w[1], "FLOCK") && g_str_equal(w[3], "WRITE") &&
		    g_str_equal(w[5], want))
			return (pid_t)atoi(w[4]);
	}
	return 0;
}

/* the pid written in the lock file; 0 when there is none */
static pid_t
tldrs_data_dir_lock_recorded_pid(int fd)
{
	char buf[32] = {0};
	guint64 pid = 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	g_strstrip(buf);
	if (!g_ascii_string_to_unsigned(buf, 10, 1, G_MAXINT, &pid, NULL))
		return 0;
	return (pid_t)pid;
}

/* the real and effective uid of process @pid are ours */
static gboolean
tldrs_data_dir_lock_pid_is_ours(pid_t pid, guint *uid)
{
	g_autofree char *fn = g_strdup_printf("/proc/%d/status", (int)pid);
	g_autofree char *status = NULL;
	const char *line;
	guint64 real = G_MAXUINT64;
	guint64 effective = G_MAXUINT64;
	char *end = NULL;

	*uid = G_MAXUINT;
	if (!g_file_get_contents(fn, &status, NULL, NULL))
		return FALSE;
	line = strstr(status, "\nUid:");
	if (line == NULL)
		return FALSE;
	real = g_ascii_strtoull(line + 5, &end, 10);
	effective = g_ascii_strtoull(end, NULL, 10);
	*uid = (guint)real;
	return real == getuid() && effective == geteuid();
}

static int
tldrs_data_dir_lock_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* SIGTERM to @pid: through @pidfd when there is one, so that it reaches the process that was
 * checked even if it has exited and its pid was taken since */
static int
tldrs_data_dir_lock_terminate(int pidfd, pid_t pid)
{
#ifdef SYS_pidfd_send_signal
	if (pidfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
#endif
	return kill(pid, SIGTERM);
}

/* serve --replace: the daemon that holds the lock stops in order, then we hold it */
static gboolean
tldrs_data_dir_lock_take_over(TldrsDataDirLock *self, const char *lock_path, GError **error)
{
	struct stat sb;
	pid_t holder = 0;
	pid_t recorded = 0;
	guint uid = 0;
	int pidfd;
	gboolean ours;
	gint64 started;
	gint64 gone_at = 0;
	gint64 said_at;

	/* a lock file that another user owns or can write names whatever that user likes */
	if (fstat(self->fd, &sb) != 0 || sb.st_uid != geteuid() || (sb.st_mode & 022) != 0) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_BUSY,
		            _("another tldrs daemon is using data directory %s, and its lock file "
		              "%s is not yours alone (owner uid %u, mode %04o): not replacing it"),
		            self->dir,
		            lock_path,
		            (guint)sb.st_uid,
		            (guint)(sb.st_mode & 07777));
		return FALSE;
	}
	/* the kernel and the file name the same process; a daemon that is starting writes its
	 * pid once it serves: up to 2 s for that */
	for (guint i = 0;; i++) {
		if (flock(self->fd, LOCK_EX | LOCK_NB) == 0)
			return TRUE; /* it left meanwhile */
		holder = tldrs_data_dir_lock_kernel_holder(self->fd);
		recorded = tldrs_data_dir_lock_recorded_pid(self->fd);
		if (holder > 0 && holder == recorded)
			break;
		if (i >= 200) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_BUSY,
			            _("another tldrs daemon is using data directory %s, but the "
			              "process that holds %s (pid %d, says the kernel) is not the "
			              "one it names (pid %d): not replacing it"),
			            self->dir,
			            lock_path,
			            (int)holder,
			            (int)recorded);
			return FALSE;
		}
		g_usleep(10000);
	}
	/* from here on @pidfd is that process, whatever happens to its pid */
	pidfd = tldrs_data_dir_lock_pidfd_open(holder);
	ours = tldrs_data_dir_lock_pid_is_ours(holder, &uid);
	if (!ours || tldrs_data_dir_lock_kernel_holder(self->fd) != holder) {
		if (pidfd >= 0)
			close(pidfd);
		if (flock(self->fd, LOCK_EX | LOCK_NB) == 0)
			return TRUE;
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_BUSY,
		            _("another tldrs daemon is using data directory %s (pid %d, uid %u), "
		              "not one of yours: not replacing it"),
		            self->dir,
		            (int)holder,
		            uid);
		return FALSE;
	}
	g_message("replacing the tldrs daemon (pid %d) that uses data directory %s: it stops "
	          "in order first",
	          (int)holder,
	          self->dir);
	if (tldrs_data_dir_lock_terminate(pidfd, holder) != 0 && errno != ESRCH) {
		int errsv = errno;
		if (pidfd >= 0)
			close(pidfd);
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_BUSY,
		            _("cannot stop the tldrs daemon (pid %d) that uses data directory %s: "
		              "%s"),
		            (int)holder,
		            self->dir,
		            g_strerror(errsv));
		return FALSE;
	}
	/* its shutdown writes every pending TEF file: as long as it takes, said every 10 s */
	started = said_at = g_get_monotonic_time();
	while (flock(self->fd, LOCK_EX | LOCK_NB) != 0) {
		gint64 now = g_get_monotonic_time();
		if (pidfd >= 0 && gone_at == 0) {
			/* readable once the process has exited; else a 10 ms wait */
			struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
			if (poll(&pfd, 1, 10) > 0)
				gone_at = now;
		} else {
			g_usleep(10000);
			if (pidfd < 0 && gone_at == 0 && kill(holder, 0) != 0 && errno == ESRCH)
				gone_at = now;
		}
		/* it has exited, and the lock is still taken: by someone else, who was quicker */
		if (gone_at != 0 && now - gone_at > 2 * G_USEC_PER_SEC) {
			if (pidfd >= 0)
				close(pidfd);
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_BUSY,
			            _("another tldrs daemon is using data directory %s"),
			            self->dir);
			return FALSE;
		}
		if (now - said_at >= 10 * G_USEC_PER_SEC) {
			said_at = now;
			g_message("still waiting for the tldrs daemon (pid %d) to finish its "
			          "shutdown (%" G_GINT64_FORMAT " s)",
			          (int)holder,
			          (now - started) / G_USEC_PER_SEC);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return TRUE;
}

/**
 * tldrs_data_dir_lock_new:
 * @dir: the data directory
 * @lock: take the lock; %FALSE only creates @dir
 * @replace: a daemon of the same user that holds the lock is asked to stop, and the lock
 *   taken once it has (serve --replace)
 *
 * Returns: (transfer full): the lock, held until tldrs_data_dir_lock_free(); %NULL with
 *   @error set when @dir cannot be created or another daemon holds it (and cannot be
 *   replaced)
 */
TldrsDataDirLock *
tldrs_data_dir_lock_new(const char *dir, gboolean lock, gboolean replace, GError **error)
{
	g_autoptr(TldrsDataDirLock) self = g_new0(TldrsDataDirLock, 1);
	g_autofree char *lock_path = NULL;

	g_return_val_if_fail(dir != NULL, NULL);
	self->fd = -1;
	self->dir = g_strdup(dir);
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
	if (flock(self->fd, LOCK_EX | LOCK_NB) == 0)
		return g_steal_pointer(&self);
	if (!replace) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_BUSY,
		            _("another tldrs daemon is using data directory %s"),
		            dir);
		return NULL;
	}
	if (!tldrs_data_dir_lock_take_over(self, lock_path, error))
		return NULL;
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
	g_free(self->dir);
	g_free(self);
}
