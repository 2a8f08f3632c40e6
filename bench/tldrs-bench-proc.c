/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs-bench"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "tldrs-bench.h"

/* Processes: the servers under test (spawned, so that their /proc figures are theirs alone),
 * what /proc says about them, and one-shot commands measured with wait4(). */

extern char **environ;

gdouble
bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (gdouble)ts.tv_sec + (gdouble)ts.tv_nsec / 1e9;
}

void
bench_sleep(gdouble seconds)
{
	struct timespec ts;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (gdouble)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

gdouble
bench_self_thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (gdouble)ts.tv_sec + (gdouble)ts.tv_nsec / 1e9;
}

/* user + system seconds of every thread of @pid, from /proc/PID/stat */
gdouble
bench_proc_cpu(GPid pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree char *text = NULL;
	g_auto(GStrv) fields = NULL;
	const char *p;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return -1;
	/* after the command name in parentheses: state is field 3, utime 14, stime 15 */
	p = strrchr(text, ')');
	if (p == NULL)
		return -1;
	fields = g_strsplit(p + 2, " ", 0);
	if (g_strv_length(fields) < 13)
		return -1;
	return (gdouble)(g_ascii_strtoull(fields[11], NULL, 10) +
	                 g_ascii_strtoull(fields[12], NULL, 10)) /
	       (gdouble)sysconf(_SC_CLK_TCK);
}

/* a "VmXXX:   1234 kB" line of /proc/PID/status, in MiB */
gdouble
bench_proc_status_mib(GPid pid, const char *field)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
	g_autofree char *text = NULL;
	const char *p;
	gsize flen = strlen(field);

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return -1;
	for (p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL) {
		if (strncmp(p, field, flen) == 0 && p[flen] == ':')
			return (gdouble)g_ascii_strtoull(p + flen + 1, NULL, 10) / 1024.0;
	}
	return -1;
}

guint
bench_proc_count_fds(GPid pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	struct dirent *de;
	guint n = 0;

	if (dir == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(dir);
	return n;
}

/* ---- servers ---- */

static GPid
bench_spawn(const char *const *argv, const char *log_path, GError **error)
{
	posix_spawn_file_actions_t fa;
	pid_t pid = -1;
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		g_set_error(error,
		            G_SPAWN_ERROR,
		            G_SPAWN_ERROR_FAILED,
		            "cannot run %s: %s",
		            argv[0],
		            g_strerror(rc));
		return -1;
	}
	return pid;
}

static gboolean
bench_socket_accepts(const char *socket_path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	gboolean ok;
	if (fd < 0)
		return FALSE;
	g_strlcpy(addr.sun_path, socket_path, sizeof(addr.sun_path));
	ok = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
	close(fd);
	return ok;
}

char *
bench_server_log_tail(BenchServer *s)
{
	g_autofree char *text = NULL;
	gsize len = 0;
	if (!g_file_get_contents(s->log_path, &text, &len, NULL))
		return g_strdup("");
	return g_strdup(len > 2000 ? text + len - 2000 : text);
}

/* started and accepting connections on @socket_path */
BenchServer *
bench_server_start(const char *const *argv,
                   const char *socket_path,
                   const char *log_path,
                   GError **error)
{
	BenchServer *s = g_new0(BenchServer, 1);
	gdouble deadline = bench_now() + 10;

	s->log_path = g_strdup(log_path);
	s->pid = bench_spawn(argv, log_path, error);
	if (s->pid < 0) {
		bench_server_free(s);
		return NULL;
	}
	for (;;) {
		int status;
		if (bench_socket_accepts(socket_path))
			return s;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			g_autofree char *log = bench_server_log_tail(s);
			g_set_error(error,
			            G_SPAWN_ERROR,
			            G_SPAWN_ERROR_FAILED,
			            "%s exited at start (status %d): %s",
			            argv[0],
			            status,
			            log);
			s->pid = -1;
			bench_server_free(s);
			return NULL;
		}
		if (bench_now() > deadline) {
			g_set_error(error,
			            G_SPAWN_ERROR,
			            G_SPAWN_ERROR_FAILED,
			            "%s does not accept connections on %s",
			            argv[0],
			            socket_path);
			bench_server_free(s);
			return NULL;
		}
		bench_sleep(0.002);
	}
}

/* SIGTERM and wait; the exit status, or -1 when it had to be killed */
int
bench_server_stop(BenchServer *s)
{
	gdouble deadline = bench_now() + 60;
	int status = 0;

	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	for (;;) {
		pid_t r = waitpid(s->pid, &status, WNOHANG);
		if (r == s->pid)
			break;
		if (r < 0 && errno != EINTR) {
			status = -1;
			break;
		}
		if (bench_now() > deadline) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			s->pid = -1;
			return -1;
		}
		bench_sleep(0.002);
	}
	s->pid = -1;
	if (status >= 0 && WIFEXITED(status))
		return WEXITSTATUS(status);
	return -1;
}

void
bench_server_free(BenchServer *s)
{
	if (s == NULL)
		return;
	if (s->pid > 0)
		bench_server_stop(s);
	g_free(s->log_path);
	g_free(s);
}

/* ---- one-shot commands ---- */

/* `tldrs-bench --internal-measure CMD ARGS…`: run CMD and print its wall time, CPU time and
 * peak RSS. A separate small process, because a child's ru_maxrss counts the pages it
 * shared with its parent at fork() time: forked from the benchmark, which holds the
 * generated events, every command would look big. */
int
bench_measure_helper_main(int argc, char **argv)
{
	struct timespec a, b;
	struct rusage ru;
	int status = 0;
	pid_t pid;

	if (argc < 3)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 1);
		execv(argv[2], argv + 2);
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR)
			return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.6f %.6f %ld %d\n",
	       (gdouble)(b.tv_sec - a.tv_sec) + (gdouble)(b.tv_nsec - a.tv_nsec) / 1e9,
	       (gdouble)ru.ru_utime.tv_sec + (gdouble)ru.ru_utime.tv_usec / 1e6 +
	               (gdouble)ru.ru_stime.tv_sec + (gdouble)ru.ru_stime.tv_usec / 1e6,
	       ru.ru_maxrss,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}

gboolean
bench_measure(const char *self_exe, const char *const *argv, BenchMeasured *out, GError **error)
{
	return bench_measure_env(self_exe, argv, NULL, out, error);
}

/* the same in the environment @envp (NULL: ours) */
gboolean
bench_measure_env(const char *self_exe,
                  const char *const *argv,
                  char **envp,
                  BenchMeasured *out,
                  GError **error)
{
	g_autoptr(GPtrArray) args = g_ptr_array_new();
	g_autofree char *stdout_text = NULL;
	g_autofree char *stderr_text = NULL;
	g_auto(GStrv) fields = NULL;
	int wait_status = 0;

	g_ptr_array_add(args, (gpointer)self_exe);
	g_ptr_array_add(args, (gpointer) "--internal-measure");
	for (guint i = 0; argv[i] != NULL; i++)
		g_ptr_array_add(args, (gpointer)argv[i]);
	g_ptr_array_add(args, NULL);
	if (!g_spawn_sync(NULL,
	                  (char **)args->pdata,
	                  envp,
	                  G_SPAWN_DEFAULT,
	                  NULL,
	                  NULL,
	                  &stdout_text,
	                  &stderr_text,
	                  &wait_status,
	                  error))
		return FALSE;
	fields = g_strsplit(g_strstrip(stdout_text), " ", 0);
	if (g_strv_length(fields) != 4) {
		g_set_error(error,
		            G_SPAWN_ERROR,
		            G_SPAWN_ERROR_FAILED,
		            "%s: cannot measure: %s",
		            argv[0],
		            stderr_text);
		return FALSE;
	}
	out->wall = g_ascii_strtod(fields[0], NULL);
	out->cpu = g_ascii_strtod(fields[1], NULL);
	out->maxrss_mib = (gdouble)g_ascii_strtoull(fields[2], NULL, 10) / 1024.0;
	out->status = (int)g_ascii_strtoll(fields[3], NULL, 10);
	if (out->status != 0) {
		g_set_error(error,
		            G_SPAWN_ERROR,
		            G_SPAWN_ERROR_FAILED,
		            "%s exited with status %d: %s",
		            argv[0],
		            out->status,
		            stderr_text);
		return FALSE;
	}
	return TRUE;
}

/* ---- profiling ---- */

GPid
bench_perf_start(GPid target, const char *data_path, const char *log_path)
{
	g_autofree char *pid = g_strdup_printf("%d", (int)target);
	const char *argv[] = {"perf", "record", "-F", "1999", "-p", pid, "-o", data_path, NULL};
	g_autoptr(GError) error = NULL;
	GPid perf = bench_spawn(argv, log_path, &error);
	if (perf < 0) {
		g_printerr("tldrs-bench: %s\n", error->message);
		return -1;
	}
	/* perf needs a moment to attach */
	bench_sleep(0.3);
	return perf;
}

void
bench_perf_stop(GPid perf)
{
	int status;
	if (perf <= 0)
		return;
	kill(perf, SIGINT);
	waitpid(perf, &status, 0);
}

/* the benchmark's own temporary files only */
void
bench_rm_rf(const char *path)
{
	GStatBuf sb;
	if (g_lstat(path, &sb) != 0)
		return;
	if (S_ISDIR(sb.st_mode)) {
		g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
		const char *name;
		while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
			g_autofree char *child = g_build_filename(path, name, NULL);
			bench_rm_rf(child);
		}
		g_rmdir(path);
	} else {
		g_unlink(path);
	}
}
