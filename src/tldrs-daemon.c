/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "tldrs-daemon.h"
#include "tldrs-error.h"
#include "tldrs-plugin-loader.h"
#include "tldrs-sink.h"
#include "tldrs-state.h"
#include "tldrs-store.h"
#include "tldrs-tef.h"

/* The daemon: a GSocketService accepts connections (TldrsClient), clients feed checked
 * lines to traces (TldrsTrace), traces batch them into the sinks (TldrsSink plugins).
 * Everything runs on the main loop; only TEF emission runs in a worker thread. */

/* sink backlog (bytes) that makes the daemon stop reading, and that lets it resume */
#define TLDRS_DAEMON_BACKLOG_HIGH (8 * 1024 * 1024)
#define TLDRS_DAEMON_BACKLOG_LOW  (2 * 1024 * 1024)

/* how long a trace whose last client left waits for connections already readable */
#define TLDRS_DAEMON_CLOSE_DELAY_MS 20

/* refused-line log messages allowed per second before they are summarised */
#define TLDRS_DAEMON_LOG_BURST 10

struct _TldrsDaemon {
	GObject parent_instance;
	TldrsConfig *config;
	GPtrArray *sinks; /* of TldrsSink */
	GSocketService *service;
	GSocket *listen_socket;
	GSocket *activated_socket; /* from systemd, until listen() */
	char *socket_path;         /* the socket we bound and remove at exit, or NULL */
	dev_t socket_dev;
	ino_t socket_ino;
	GHashTable *traces;  /* id -> TldrsTrace, the open traces */
	GHashTable *clients; /* TldrsClient -> itself, owning */
	TldrsTrace *into_trace;
	GPtrArray *dirty;   /* TldrsTrace with pending lines, for the idle flush */
	GPtrArray *closing; /* TldrsTrace whose last client left */
	guint closing_id;
	guint state_save_id;
	guint backlog_id;
	guint idle_exit_id;
	guint fds_id;
	guint retention_id;
	gboolean low_space_logged;
	guint64 nofile; /* RLIMIT_NOFILE after raising it */
	gint64 busy_at;
	gboolean paused;
	TldrsState *state;
	guint idle_flush_id;
	guint flush_timer_id;
	guint signal_ids[2];
	char *read_buf;
	TldrsLineCheck *line_check; /* started at the first read that is worth sharing */
	guint64 next_client_id;
	guint64 events_received;
	guint64 lines_refused;
	guint emissions_pending;
	gboolean accepting;
	gboolean quitting;
	gboolean shut_down;
	gboolean die_when_idle;
	GMainLoop *loop;
	GHashTable *event_counts; /* "path\nsize\nmtime" -> guint64 */
	GHashTable *emitting;     /* trace id -> TEF files being written from it */
	GHashTable *awaiting;     /* "trace id\npath" -> GPtrArray of TldrsClient (AWAIT_TEF) */
	int lock_fd;
	uid_t uid;
	gint64 log_window;
	guint log_window_id;
	guint log_count;
	guint64 log_suppressed;
};

G_DEFINE_TYPE(TldrsDaemon, tldrs_daemon, G_TYPE_OBJECT)

static gint
tldrs_daemon_cmp_strptr(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

enum {
	SIGNAL_TRACE_OPENED,
	SIGNAL_TRACE_CLOSED,
	SIGNAL_TEF_EMITTED,
	SIGNAL_LAST,
};

static guint tldrs_daemon_signals[SIGNAL_LAST] = {0};

char *
tldrs_daemon_get_read_buffer(TldrsDaemon *self)
{
	return self->read_buf;
}

TldrsLineCheck *
tldrs_daemon_get_line_check(TldrsDaemon *self)
{
	/* a helper thread per further CPU (at most 3); not before serving, because
	 * --daemonize forks first */
	if (self->line_check == NULL) {
		guint cpus = g_get_num_processors();
		self->line_check = tldrs_line_check_new(MIN(cpus, 4) - 1);
	}
	return self->line_check;
}

gsize
tldrs_daemon_get_max_line(TldrsDaemon *self)
{
	return self->config->max_line_bytes;
}

void
tldrs_daemon_count_events(TldrsDaemon *self, guint n)
{
	self->events_received += n;
}

void
tldrs_daemon_count_refused(TldrsDaemon *self)
{
	self->lines_refused++;
}

/* TRUE when a warning about a client may be logged now: a flood is summarised instead */
static void
tldrs_daemon_log_suppressed(TldrsDaemon *self)
{
	if (self->log_suppressed > 0) {
		g_warning("%" G_GUINT64_FORMAT " more warnings about clients not logged",
		          self->log_suppressed);
		self->log_suppressed = 0;
	}
}

static gboolean
tldrs_daemon_log_window_cb(gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	self->log_window_id = 0;
	tldrs_daemon_log_suppressed(self);
	return G_SOURCE_REMOVE;
}

gboolean
tldrs_daemon_may_log(TldrsDaemon *self)
{
	gint64 now = g_get_monotonic_time();
	if (now - self->log_window >= G_USEC_PER_SEC) {
		g_clear_handle_id(&self->log_window_id, g_source_remove);
		tldrs_daemon_log_suppressed(self);
		self->log_window = now;
		self->log_count = 0;
	}
	if (self->log_count >= TLDRS_DAEMON_LOG_BURST) {
		/* the count is logged when the window ends, even if no warning follows */
		if (self->log_suppressed++ == 0 && self->log_window_id == 0) {
			gint64 left = self->log_window + G_USEC_PER_SEC - now;
			self->log_window_id = g_timeout_add(
			        (guint)(left / 1000) + 1, tldrs_daemon_log_window_cb, self);
		}
		return FALSE;
	}
	self->log_count++;
	return TRUE;
}

/* ---- traces ---- */

static gboolean
tldrs_daemon_state_save_cb(gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	self->state_save_id = 0;
	tldrs_state_save(self->state);
	return G_SOURCE_REMOVE;
}

/* traces opened or closed: tell `list -l` soon, once for a burst */
static void
tldrs_daemon_schedule_state_save(TldrsDaemon *self)
{
	if (self->state_save_id == 0)
		self->state_save_id = g_timeout_add(100, tldrs_daemon_state_save_cb, self);
}

static gboolean
tldrs_daemon_closing_cb(gpointer user_data);

/* open traces at once: a quarter of the file descriptors, at least 64 */
static guint
tldrs_daemon_max_traces(TldrsDaemon *self)
{
	guint64 per_trace = MAX(self->sinks->len, 1);
	if (self->nofile == 0)
		return 65536;
	return (guint)MAX(self->nofile / 4 / per_trace, 64);
}

/* the trace @id, with one more client; NULL when too many traces are open */
TldrsTrace *
tldrs_daemon_acquire_trace(TldrsDaemon *self, const char *id)
{
	TldrsTrace *trace;

	if (self->into_trace != NULL) {
		tldrs_trace_add_client(self->into_trace);
		return self->into_trace;
	}
	trace = g_hash_table_lookup(self->traces, id);
	if (trace == NULL) {
		/* each open trace holds files: a client opening trace after trace must not use
		 * up the file descriptors of everyone else */
		if (g_hash_table_size(self->traces) >= tldrs_daemon_max_traces(self)) {
			/* first close the traces whose last client has left, without waiting */
			g_clear_handle_id(&self->closing_id, g_source_remove);
			tldrs_daemon_closing_cb(self);
		}
		if (g_hash_table_size(self->traces) >= tldrs_daemon_max_traces(self))
			return NULL;
		trace = tldrs_trace_new(id, NULL, self->sinks);
		g_hash_table_insert(self->traces, g_strdup(id), trace);
		tldrs_state_trace_opened(self->state, id);
		tldrs_state_trace_update(self->state, id, 1, 0, 0, 0);
		tldrs_daemon_schedule_state_save(self);
		g_info("trace %s opened", id);
		g_signal_emit(self, tldrs_daemon_signals[SIGNAL_TRACE_OPENED], 0, id);
	}
	tldrs_trace_add_client(trace);
	return trace;
}

typedef struct {
	char *source;
	guint64 source_limit;
	char *dest;
	char *trace_id;
	TldrsTefFormat format;
	TldrsTefStats stats;
	TldrsEmitDoneFunc done;
	gpointer done_data;
} TldrsEmission;

static void
tldrs_emission_free(TldrsEmission *e)
{
	g_free(e->source);
	g_free(e->dest);
	g_free(e->trace_id);
	g_free(e);
}

static void
tldrs_daemon_emission_thread(GTask *task,
                             gpointer source_object,
                             gpointer task_data,
                             GCancellable *cancellable)
{
	TldrsEmission *e = task_data;
	g_autoptr(GError) error = NULL;
	const char *source = e->source;
	(void)source_object;
	(void)cancellable;

	/* a trace without any event yet has no file: an empty trace */
	if (source != NULL && !g_file_test(source, G_FILE_TEST_EXISTS))
		source = NULL;
	if (!tldrs_tef_write_file(
	            source, e->source_limit, e->dest, e->format, e->trace_id, &e->stats, &error)) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

static void
tldrs_daemon_finish_shutdown(TldrsDaemon *self);

static char *
tldrs_daemon_awaiting_key(const char *trace_id, const char *path)
{
	return g_strconcat(trace_id, "\n", path, NULL);
}

/* the answer to AWAIT_TEF: the file is written, or why not; then the connection closes */
static void
tldrs_daemon_answer_awaiting(TldrsDaemon *self,
                             const char *trace_id,
                             const char *path,
                             guint64 events,
                             const GError *error)
{
	g_autofree char *key = tldrs_daemon_awaiting_key(trace_id, path);
	g_autofree char *stolen_key = NULL;
	g_autoptr(GPtrArray) clients = NULL;
	g_autofree char *answer = NULL;

	if (!g_hash_table_steal_extended(
	            self->awaiting, key, (gpointer *)&stolen_key, (gpointer *)&clients))
		return;
	if (error != NULL)
		answer = g_strdup_printf("TEF_FAILED %s\n", error->message);
	else
		answer = g_strdup_printf("TEF_WRITTEN %" G_GUINT64_FORMAT " %s\n", events, path);
	for (guint i = 0; i < clients->len; i++) {
		TldrsClient *client = g_ptr_array_index(clients, i);
		tldrs_client_reply(client, answer);
		tldrs_client_close(client);
	}
}

static void
tldrs_daemon_emission_done(GObject *source_object, GAsyncResult *res, gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(source_object);
	TldrsEmission *e = g_task_get_task_data(G_TASK(res));
	g_autoptr(GError) error = NULL;
	(void)user_data;

	if (!g_task_propagate_boolean(G_TASK(res), &error)) {
		g_warning("trace %s: cannot write TEF to %s: %s",
		          e->trace_id,
		          e->dest,
		          error->message);
	} else {
		g_info("trace %s: wrote %s (%" G_GUINT64_FORMAT " events)",
		       e->trace_id,
		       e->dest,
		       e->stats.events);
		g_signal_emit(
		        self, tldrs_daemon_signals[SIGNAL_TEF_EMITTED], 0, e->trace_id, e->dest);
	}
	if (e->done != NULL)
		e->done(e->stats.events, error, e->done_data);
	tldrs_daemon_answer_awaiting(self, e->trace_id, e->dest, e->stats.events, error);
	self->emissions_pending--;
	{
		guint n = GPOINTER_TO_UINT(g_hash_table_lookup(self->emitting, e->trace_id));
		if (n <= 1)
			g_hash_table_remove(self->emitting, e->trace_id);
		else
			g_hash_table_insert(
			        self->emitting, g_strdup(e->trace_id), GUINT_TO_POINTER(n - 1));
	}
	if (self->quitting && self->emissions_pending == 0)
		tldrs_daemon_finish_shutdown(self);
}

static void
tldrs_daemon_start_emission_full(TldrsDaemon *self,
                                 const char *source,
                                 const char *dest,
                                 const char *trace_id,
                                 TldrsTefFormat format,
                                 TldrsEmitDoneFunc done,
                                 gpointer done_data)
{
	g_autoptr(GTask) task = g_task_new(self, NULL, tldrs_daemon_emission_done, NULL);
	TldrsEmission *e = g_new0(TldrsEmission, 1);
	GStatBuf sb;

	e->source = g_strdup(source);
	e->source_limit = G_MAXUINT64;
	/* a snapshot: what is in the file now, not what is appended while we read */
	if (source != NULL && !g_str_has_suffix(source, ".gz") && g_stat(source, &sb) == 0)
		e->source_limit = (guint64)sb.st_size;
	e->dest = g_strdup(dest);
	e->trace_id = g_strdup(trace_id);
	e->format = format;
	e->done = done;
	e->done_data = done_data;
	g_task_set_task_data(task, e, (GDestroyNotify)tldrs_emission_free);
	self->emissions_pending++;
	g_hash_table_insert(
	        self->emitting,
	        g_strdup(trace_id),
	        GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(self->emitting, trace_id)) +
	                         1));
	g_task_run_in_thread(task, tldrs_daemon_emission_thread);
}

static void
tldrs_daemon_start_emission(TldrsDaemon *self,
                            const char *source,
                            const char *dest,
                            const char *trace_id)
{
	tldrs_daemon_start_emission_full(
	        self, source, dest, trace_id, TLDRS_TEF_FORMAT_OBJECT, NULL, NULL);
}

static gboolean
tldrs_daemon_is_own_file(TldrsDaemon *self, const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *real_dir = realpath(dir, NULL);
	g_autofree char *real_data = realpath(self->config->data_dir, NULL);
	GStatBuf a, b;

	if (real_dir != NULL && real_data != NULL && g_strcmp0(real_dir, real_data) == 0 &&
	    (g_str_has_suffix(base, ".jsonl") || g_str_has_suffix(base, ".jsonl.gz") ||
	     g_str_has_prefix(base, ".tldrs")))
		return TRUE;
	if (self->config->into_file != NULL && g_stat(path, &a) == 0 &&
	    g_stat(self->config->into_file, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		return TRUE;
	if (g_strcmp0(path, self->config->socket_path) == 0 ||
	    (self->socket_path != NULL && g_strcmp0(path, self->socket_path) == 0))
		return TRUE;
	/* any socket: a TEF file must not replace one */
	if (g_lstat(path, &a) == 0 && S_ISSOCK(a.st_mode))
		return TRUE;
	return FALSE;
}

static gboolean
tldrs_daemon_check_output_path(TldrsDaemon *self, const char *path, GError **error)
{
	g_autofree char *dir = NULL;

	if (!g_path_is_absolute(path)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "output path is not absolute: %s",
		            path);
		return FALSE;
	}
	if (g_str_has_suffix(path, "/") || g_file_test(path, G_FILE_TEST_IS_DIR)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "output path is a directory: %s",
		            path);
		return FALSE;
	}
	dir = g_path_get_dirname(path);
	if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "directory does not exist: %s",
		            dir);
		return FALSE;
	}
	if (tldrs_daemon_is_own_file(self, path)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "output path is one of tldrs's own files: %s",
		            path);
		return FALSE;
	}
	return TRUE;
}

gboolean
tldrs_daemon_emit_tef(TldrsDaemon *self,
                      TldrsTrace *trace,
                      const char *path,
                      gboolean at_exit,
                      GError **error)
{
	g_autofree char *source = NULL;

	g_return_val_if_fail(TLDRS_IS_DAEMON(self), FALSE);
	g_return_val_if_fail(TLDRS_IS_TRACE(trace), FALSE);

	if (!tldrs_daemon_check_output_path(self, path, error))
		return FALSE;
	if (at_exit) {
		tldrs_trace_add_exit_path(trace, path);
		return TRUE;
	}
	/* every event received so far is in the file before the writer reads it */
	tldrs_trace_flush(trace, TRUE);
	source = tldrs_trace_get_stored_file(trace);
	tldrs_daemon_start_emission(self, source, path, tldrs_trace_get_id(trace));
	return TRUE;
}

gboolean
tldrs_daemon_await_tef(TldrsDaemon *self,
                       TldrsClient *client,
                       TldrsTrace *trace,
                       const char *path,
                       GError **error)
{
	g_autofree char *key = NULL;
	g_autofree char *answer = NULL;
	GPtrArray *clients;

	g_return_val_if_fail(TLDRS_IS_DAEMON(self), FALSE);
	g_return_val_if_fail(TLDRS_IS_CLIENT(client), FALSE);
	g_return_val_if_fail(TLDRS_IS_TRACE(trace), FALSE);

	if (!tldrs_daemon_check_output_path(self, path, error))
		return FALSE;
	tldrs_trace_add_exit_path(trace, path);
	key = tldrs_daemon_awaiting_key(tldrs_trace_get_id(trace), path);
	clients = g_hash_table_lookup(self->awaiting, key);
	if (clients == NULL) {
		clients = g_ptr_array_new_with_free_func(g_object_unref);
		g_hash_table_insert(self->awaiting, g_steal_pointer(&key), clients);
	}
	g_ptr_array_add(clients, g_object_ref(client));
	/* the other connections that the file waits for; the caller leaves the trace next */
	answer = g_strdup_printf("AWAITING %u\n", tldrs_trace_get_clients(trace) - 1);
	tldrs_client_reply(client, answer);
	return TRUE;
}

static void
tldrs_daemon_apply_retention(TldrsDaemon *self);

/* the last client of @trace is gone: store everything, then honour EMIT_TEF_AT_EXIT */
static void
tldrs_daemon_finish_trace(TldrsDaemon *self, TldrsTrace *trace)
{
	g_autoptr(TldrsTrace) keep G_GNUC_UNUSED = g_object_ref(trace);
	g_autoptr(GPtrArray) paths = NULL;
	g_autofree char *source = NULL;
	g_autofree char *id = g_strdup(tldrs_trace_get_id(trace));

	tldrs_trace_flush(trace, TRUE);
	source = tldrs_trace_get_stored_file(trace);
	paths = tldrs_trace_steal_exit_paths(trace);
	tldrs_state_trace_update(self->state,
	                         id,
	                         0,
	                         tldrs_trace_get_events(trace),
	                         tldrs_trace_get_refused(trace),
	                         tldrs_trace_get_last_write(trace));
	if (trace != self->into_trace) {
		tldrs_trace_close(trace);
		g_ptr_array_remove(self->dirty, trace);
		tldrs_trace_set_queued(trace, FALSE);
		g_hash_table_remove(self->traces, id);
		g_info("trace %s closed", id);
		g_signal_emit(self, tldrs_daemon_signals[SIGNAL_TRACE_CLOSED], 0, id);
	}
	tldrs_daemon_schedule_state_save(self);
	for (guint i = 0; i < paths->len; i++)
		tldrs_daemon_start_emission(self, source, g_ptr_array_index(paths, i), id);
	/* after the emissions started: retention leaves a trace alone while TEF is written
	 * from it (and the tef sink's own file is written from it too) */
	if (!self->quitting)
		tldrs_daemon_apply_retention(self);
}

static gboolean
tldrs_daemon_closing_cb(gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	g_autoptr(GPtrArray) closing = g_steal_pointer(&self->closing);

	self->closing = g_ptr_array_new_with_free_func(g_object_unref);
	self->closing_id = 0;
	for (guint i = 0; i < closing->len; i++) {
		TldrsTrace *trace = g_ptr_array_index(closing, i);
		/* another client opened it meanwhile */
		if (tldrs_trace_get_clients(trace) == 0 && !tldrs_trace_is_closed(trace))
			tldrs_daemon_finish_trace(self, trace);
	}
	return G_SOURCE_REMOVE;
}

void
tldrs_daemon_release_trace(TldrsDaemon *self, TldrsTrace *trace)
{
	g_return_if_fail(TLDRS_IS_TRACE(trace));
	if (tldrs_trace_remove_client(trace) > 0)
		return;
	if (self->quitting) {
		tldrs_daemon_finish_trace(self, trace);
		return;
	}
	/* not at once: connections that are readable now may still OPEN this trace (a child
	 * that connected before its parent left); a short timeout lets them be read first, and
	 * unlike an idle callback it also runs while other clients keep the daemon busy */
	g_ptr_array_add(self->closing, g_object_ref(trace));
	if (self->closing_id == 0)
		self->closing_id =
		        g_timeout_add(TLDRS_DAEMON_CLOSE_DELAY_MS, tldrs_daemon_closing_cb, self);
}

static gboolean
tldrs_daemon_idle_flush_cb(gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	g_autoptr(GPtrArray) dirty = g_steal_pointer(&self->dirty);

	self->dirty = g_ptr_array_new_with_free_func(g_object_unref);
	self->idle_flush_id = 0;
	for (guint i = 0; i < dirty->len; i++) {
		TldrsTrace *trace = g_ptr_array_index(dirty, i);
		tldrs_trace_set_queued(trace, FALSE);
		tldrs_trace_flush(trace, FALSE);
	}
	return G_SOURCE_REMOVE;
}

/* @trace has pending lines: write them out as soon as the main loop has nothing to read */
static void
tldrs_daemon_set_paused(TldrsDaemon *self, gboolean paused)
{
	GHashTableIter iter;
	gpointer key;
	self->paused = paused;
	g_hash_table_iter_init(&iter, self->clients);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		tldrs_client_set_paused(TLDRS_CLIENT(key), paused);
}

static gsize
tldrs_daemon_backlog(TldrsDaemon *self)
{
	gsize backlog = 0;
	for (guint i = 0; i < self->sinks->len; i++)
		backlog = MAX(backlog, tldrs_sink_backlog(g_ptr_array_index(self->sinks, i)));
	return backlog;
}

static gboolean
tldrs_daemon_backlog_cb(gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	if (tldrs_daemon_backlog(self) > TLDRS_DAEMON_BACKLOG_LOW)
		return G_SOURCE_CONTINUE;
	g_debug("sinks caught up: reading from clients again");
	self->backlog_id = 0;
	tldrs_daemon_set_paused(self, FALSE);
	return G_SOURCE_REMOVE;
}

/* a sink that falls behind makes the daemon stop reading (the kernel then blocks the
 * clients) instead of growing memory or dropping events */
static void
tldrs_daemon_check_backlog(TldrsDaemon *self)
{
	if (self->paused || self->quitting ||
	    tldrs_daemon_backlog(self) <= TLDRS_DAEMON_BACKLOG_HIGH)
		return;
	g_debug("a sink is behind: not reading from clients until it catches up");
	tldrs_daemon_set_paused(self, TRUE);
	self->backlog_id = g_timeout_add(10, tldrs_daemon_backlog_cb, self);
}

void
tldrs_daemon_trace_dirty(TldrsDaemon *self, TldrsTrace *trace)
{
	tldrs_daemon_check_backlog(self);
	if (tldrs_trace_get_queued(trace))
		return;
	tldrs_trace_set_queued(trace, TRUE);
	g_ptr_array_add(self->dirty, g_object_ref(trace));
	if (self->idle_flush_id == 0) {
		self->idle_flush_id =
		        g_idle_add_full(G_PRIORITY_LOW, tldrs_daemon_idle_flush_cb, self, NULL);
	}
}

/* @wait: every sink has stored everything when this returns (not for the timer) */
static void
tldrs_daemon_flush_all(TldrsDaemon *self, gboolean wait)
{
	GHashTableIter iter;
	gpointer value;

	g_hash_table_iter_init(&iter, self->traces);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		TldrsTrace *trace = value;
		if (wait)
			tldrs_trace_flush(trace, TRUE);
		else
			tldrs_trace_flush_periodic(trace);
		tldrs_state_trace_update(self->state,
		                         tldrs_trace_get_id(trace),
		                         tldrs_trace_get_clients(trace),
		                         tldrs_trace_get_events(trace),
		                         tldrs_trace_get_refused(trace),
		                         tldrs_trace_get_last_write(trace));
	}
	if (self->into_trace != NULL)
		tldrs_trace_flush(self->into_trace, wait);
	tldrs_state_save(self->state);
}

static gboolean
tldrs_daemon_flush_timer_cb(gpointer user_data)
{
	tldrs_daemon_flush_all(TLDRS_DAEMON(user_data), FALSE);
	return G_SOURCE_CONTINUE;
}

/* ---- clients ---- */

/* file descriptors the daemon may need: a connection each, a file per trace and sink */
static gboolean
tldrs_daemon_fds_short(TldrsDaemon *self)
{
	guint64 used = 64 + g_hash_table_size(self->clients) +
	               (guint64)g_hash_table_size(self->traces) * MAX(self->sinks->len, 1);
	return self->nofile > 0 && used + 16 >= self->nofile;
}

static gboolean
tldrs_daemon_resume_accepting_cb(gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	if (tldrs_daemon_fds_short(self) && !self->quitting)
		return G_SOURCE_CONTINUE;
	self->fds_id = 0;
	if (!self->quitting) {
		g_message("accepting connections again");
		g_socket_service_start(self->service);
	}
	return G_SOURCE_REMOVE;
}

/* near RLIMIT_NOFILE: stop accepting for a moment (new clients wait in the socket's
 * backlog) instead of failing, and resume when connections have gone */
static void
tldrs_daemon_check_fds(TldrsDaemon *self)
{
	if (self->fds_id != 0 || !tldrs_daemon_fds_short(self))
		return;
	g_warning("%u clients connected, close to the limit of %" G_GUINT64_FORMAT
	          " open files: not accepting new connections for now",
	          g_hash_table_size(self->clients),
	          self->nofile);
	/* safe here: called from the service's own handler, no accept is in flight */
	g_socket_service_stop(self->service);
	self->fds_id = g_timeout_add(100, tldrs_daemon_resume_accepting_cb, self);
}

/* a new connection: only our own user, at most MaxClients */
static void
tldrs_daemon_add_connection(TldrsDaemon *self, GSocketConnection *connection)
{
	GSocket *socket = g_socket_connection_get_socket(connection);
	g_autoptr(GCredentials) creds = NULL;
	g_autoptr(GError) error = NULL;
	TldrsClient *client;
	uid_t uid;
	pid_t pid;

	creds = g_socket_get_credentials(socket, &error);
	if (creds == NULL) {
		g_warning("refused a connection: cannot read its credentials: %s", error->message);
		g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
		return;
	}
	uid = g_credentials_get_unix_user(creds, NULL);
	pid = g_credentials_get_unix_pid(creds, NULL);
	if (uid != self->uid) {
		g_warning("refused a connection from uid %u (pid %d): only uid %u may connect",
		          (guint)uid,
		          (gint)pid,
		          (guint)self->uid);
		g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
		return;
	}
	if (g_hash_table_size(self->clients) >= self->config->max_clients) {
		if (tldrs_daemon_may_log(self)) {
			g_warning(
			        "refused a connection from pid %d: MaxClients=%u clients connected",
			        (gint)pid,
			        self->config->max_clients);
		}
		g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
		return;
	}
	client = tldrs_client_new(self, connection, ++self->next_client_id, pid);
	g_hash_table_add(self->clients, client);
	tldrs_daemon_check_fds(self);
	if (self->paused)
		tldrs_client_set_paused(client, TRUE);
	if (self->into_trace != NULL)
		tldrs_client_set_trace(client, tldrs_daemon_acquire_trace(self, NULL));
	g_debug("connection %" G_GUINT64_FORMAT " from pid %d", self->next_client_id, (gint)pid);
	tldrs_client_start(client);
}

static gboolean
tldrs_daemon_incoming_cb(GSocketService *service,
                         GSocketConnection *connection,
                         GObject *source_object,
                         gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	(void)service;
	(void)source_object;
	/* after a shutdown has begun, only until it has read its clients */
	if (!self->accepting) {
		g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
		return TRUE;
	}
	tldrs_daemon_add_connection(self, connection);
	return TRUE;
}

/* shutdown: clients that connected but were not accepted yet have sent data too */
static void
tldrs_daemon_accept_backlog(TldrsDaemon *self)
{
	if (self->listen_socket == NULL)
		return;
	g_socket_set_blocking(self->listen_socket, FALSE);
	for (;;) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GSocket) socket = g_socket_accept(self->listen_socket, NULL, &error);
		g_autoptr(GSocketConnection) connection = NULL;
		if (socket == NULL) {
			/* EAGAIN: none is left waiting, the usual end; anything else is news */
			if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
				g_warning("cannot accept a waiting connection: %s", error->message);
			break;
		}
		g_debug("accepted a connection that was waiting at shutdown");
		connection = g_socket_connection_factory_create_connection(socket);
		tldrs_daemon_add_connection(self, connection);
	}
}

void
tldrs_daemon_client_closed(TldrsDaemon *self, TldrsClient *client)
{
	g_debug("connection %" G_GUINT64_FORMAT " closed", tldrs_client_get_id(client));
	g_hash_table_remove(self->clients, client);
	if (self->die_when_idle && g_hash_table_size(self->clients) == 0)
		tldrs_daemon_quit(self, "DIE_WHEN_IDLE and no client left");
}

void
tldrs_daemon_die_when_idle(TldrsDaemon *self)
{
	self->die_when_idle = TRUE;
	if (g_hash_table_size(self->clients) == 0)
		tldrs_daemon_quit(self, "DIE_WHEN_IDLE and no client left");
}

/* ---- retention ---- */

static gint
tldrs_daemon_cmp_mtime(gconstpointer a, gconstpointer b)
{
	const TldrsStoredTrace *ta = *(TldrsStoredTrace *const *)a;
	const TldrsStoredTrace *tb = *(TldrsStoredTrace *const *)b;
	return ta->mtime < tb->mtime ? -1 : ta->mtime > tb->mtime ? 1 : 0;
}

static void
tldrs_daemon_delete_stored(TldrsStoredTrace *t, const char *why)
{
	for (guint i = 0; i < t->files->len; i++) {
		const char *fn = g_ptr_array_index(t->files, i);
		if (g_unlink(fn) != 0)
			g_warning("retention: cannot delete %s: %s", fn, g_strerror(errno));
	}
	g_message("retention: deleted trace %s (%s)", t->id, why);
}

/* [Retention]: the oldest closed traces go first; an open trace is never deleted. Without
 * limits, a data directory filling its file system is at least said once. */
static void
tldrs_daemon_apply_retention(TldrsDaemon *self)
{
	const TldrsConfig *c = self->config;
	g_autoptr(GPtrArray) stored = NULL;
	gint64 now = g_get_real_time();
	guint64 total = 0;
	struct statvfs vfs;

	if (c->into_file != NULL)
		return;
	if (c->retention_max_bytes == 0 && c->retention_max_age_us == 0) {
		if (statvfs(c->data_dir, &vfs) == 0 && vfs.f_blocks > 0 &&
		    vfs.f_bavail * 100 < vfs.f_blocks * 5) {
			if (!self->low_space_logged)
				g_warning("the file system of %s is over 95%% full; [Retention] "
				          "MaxTotalBytes= or MaxAgeSec= can limit what tldrs keeps",
				          c->data_dir);
			self->low_space_logged = TRUE;
		} else {
			self->low_space_logged = FALSE;
		}
		return;
	}
	stored = tldrs_store_list(c->data_dir, NULL);
	if (stored == NULL)
		return;
	g_ptr_array_sort(stored, tldrs_daemon_cmp_mtime);
	for (guint i = 0; i < stored->len; i++)
		total += ((TldrsStoredTrace *)g_ptr_array_index(stored, i))->bytes;
	for (guint i = 0; i < stored->len; i++) {
		TldrsStoredTrace *t = g_ptr_array_index(stored, i);
		if (g_hash_table_contains(self->traces, t->id) ||
		    g_hash_table_contains(self->emitting, t->id))
			continue;
		if (c->retention_max_age_us > 0 && now - t->mtime > c->retention_max_age_us) {
			tldrs_daemon_delete_stored(t, "older than MaxAgeSec");
			total -= t->bytes;
		} else if (c->retention_max_bytes > 0 && total > c->retention_max_bytes) {
			tldrs_daemon_delete_stored(t, "over MaxTotalBytes");
			total -= t->bytes;
		}
	}
}

static gboolean
tldrs_daemon_retention_cb(gpointer user_data)
{
	tldrs_daemon_apply_retention(TLDRS_DAEMON(user_data));
	return G_SOURCE_CONTINUE;
}

/* ---- what the D-Bus interface asks ---- */

const TldrsConfig *
tldrs_daemon_get_config(TldrsDaemon *self)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), NULL);
	return self->config;
}

guint
tldrs_daemon_get_n_clients(TldrsDaemon *self)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), 0);
	return g_hash_table_size(self->clients);
}

guint64
tldrs_daemon_get_events_received(TldrsDaemon *self)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), 0);
	return self->events_received;
}

guint64
tldrs_daemon_get_lines_refused(TldrsDaemon *self)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), 0);
	return self->lines_refused;
}

/* store everything received so far in every sink */
void
tldrs_daemon_flush(TldrsDaemon *self)
{
	g_return_if_fail(TLDRS_IS_DAEMON(self));
	tldrs_daemon_flush_all(self, TRUE);
}

/* events in a stored file, counted once per size and modification time */
static guint64
tldrs_daemon_count_events_cached(TldrsDaemon *self, const char *path)
{
	GStatBuf sb;
	g_autofree char *key = NULL;
	gpointer cached;
	guint64 n = 0;

	if (path == NULL || g_stat(path, &sb) != 0)
		return 0;
	key = g_strdup_printf("%s\n%" G_GINT64_FORMAT "\n%" G_GINT64_FORMAT,
	                      path,
	                      (gint64)sb.st_size,
	                      (gint64)sb.st_mtim.tv_sec * G_USEC_PER_SEC +
	                              sb.st_mtim.tv_nsec / 1000);
	if (g_hash_table_lookup_extended(self->event_counts, key, NULL, &cached))
		return *(guint64 *)cached;
	if (!tldrs_store_count_events(path, &n, NULL))
		return 0;
	g_hash_table_insert(self->event_counts, g_steal_pointer(&key), g_memdup2(&n, sizeof(n)));
	return n;
}

static GVariant *
tldrs_daemon_trace_dict(TldrsDaemon *self, const char *id, TldrsStoredTrace *stored)
{
	TldrsTrace *trace = g_hash_table_lookup(self->traces, id);
	const TldrsTraceStatus *st = tldrs_state_lookup(self->state, id);
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
	g_auto(GVariantBuilder) files = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_STRING_ARRAY);
	gint64 last_write = stored != NULL ? stored->mtime : 0;
	guint64 events = 0;

	if (trace != NULL)
		tldrs_trace_flush(trace, FALSE);
	for (guint i = 0; stored != NULL && i < stored->files->len; i++)
		g_variant_builder_add(&files, "s", g_ptr_array_index(stored->files, i));
	if (stored != NULL)
		events = tldrs_daemon_count_events_cached(self, stored->source);
	if (trace != NULL)
		last_write = MAX(last_write, tldrs_trace_get_last_write(trace));
	g_variant_builder_add(&b, "{sv}", "files", g_variant_builder_end(&files));
	g_variant_builder_add(
	        &b, "{sv}", "bytes", g_variant_new_uint64(stored != NULL ? stored->bytes : 0));
	g_variant_builder_add(&b, "{sv}", "events", g_variant_new_uint64(events));
	g_variant_builder_add(
	        &b, "{sv}", "refused", g_variant_new_uint64(st != NULL ? st->refused : 0));
	g_variant_builder_add(
	        &b,
	        "{sv}",
	        "clients",
	        g_variant_new_uint32(trace != NULL ? tldrs_trace_get_clients(trace) : 0));
	/* not while the trace closes, its last client gone: "active" agrees with "clients" */
	g_variant_builder_add(
	        &b,
	        "{sv}",
	        "active",
	        g_variant_new_boolean(trace != NULL && tldrs_trace_get_clients(trace) > 0));
	g_variant_builder_add(&b, "{sv}", "last-write", g_variant_new_int64(last_write));
	return g_variant_builder_end(&b);
}

static void
tldrs_daemon_update_state(TldrsDaemon *self)
{
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, self->traces);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		TldrsTrace *trace = value;
		tldrs_state_trace_update(self->state,
		                         tldrs_trace_get_id(trace),
		                         tldrs_trace_get_clients(trace),
		                         tldrs_trace_get_events(trace),
		                         tldrs_trace_get_refused(trace),
		                         tldrs_trace_get_last_write(trace));
	}
}

/* a(sa{sv}): every stored or open trace, sorted by id */
GVariant *
tldrs_daemon_list_traces(TldrsDaemon *self)
{
	g_autoptr(GPtrArray) stored = tldrs_store_list(self->config->data_dir, NULL);
	g_autoptr(GPtrArray) ids = g_ptr_array_new();
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE("a(sa{sv})"));
	GHashTableIter iter;
	gpointer key;

	g_return_val_if_fail(TLDRS_IS_DAEMON(self), NULL);
	tldrs_daemon_update_state(self);
	for (guint i = 0; stored != NULL && i < stored->len; i++)
		g_ptr_array_add(ids, ((TldrsStoredTrace *)g_ptr_array_index(stored, i))->id);
	g_hash_table_iter_init(&iter, self->traces);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		if (stored == NULL || tldrs_store_find(stored, key) == NULL)
			g_ptr_array_add(ids, key);
	}
	g_ptr_array_sort(ids, (GCompareFunc)tldrs_daemon_cmp_strptr);
	for (guint i = 0; i < ids->len; i++) {
		const char *id = g_ptr_array_index(ids, i);
		g_variant_builder_add(
		        &b,
		        "(s@a{sv})",
		        id,
		        tldrs_daemon_trace_dict(
		                self, id, stored != NULL ? tldrs_store_find(stored, id) : NULL));
	}
	return g_variant_builder_end(&b);
}

GVariant *
tldrs_daemon_get_trace(TldrsDaemon *self, const char *id, GError **error)
{
	g_autoptr(GPtrArray) stored = tldrs_store_list(self->config->data_dir, NULL);
	TldrsStoredTrace *t = stored != NULL ? tldrs_store_find(stored, id) : NULL;

	g_return_val_if_fail(TLDRS_IS_DAEMON(self), NULL);
	if (t == NULL && g_hash_table_lookup(self->traces, id) == NULL) {
		g_set_error(error, TLDRS_ERROR, TLDRS_ERROR_NO_SUCH_TRACE, "no trace \"%s\"", id);
		return NULL;
	}
	tldrs_daemon_update_state(self);
	return tldrs_daemon_trace_dict(self, id, t);
}

/* EmitTef over D-Bus: @done is called once the file is complete or has failed */
gboolean
tldrs_daemon_emit_tef_by_id(TldrsDaemon *self,
                            const char *id,
                            const char *path,
                            TldrsTefFormat format,
                            TldrsEmitDoneFunc done,
                            gpointer done_data,
                            GError **error)
{
	TldrsTrace *trace;
	g_autofree char *source = NULL;

	g_return_val_if_fail(TLDRS_IS_DAEMON(self), FALSE);
	if (!tldrs_daemon_check_output_path(self, path, error))
		return FALSE;
	trace = g_hash_table_lookup(self->traces, id);
	if (trace != NULL) {
		tldrs_trace_flush(trace, TRUE);
		source = tldrs_trace_get_stored_file(trace);
	} else {
		g_autoptr(GPtrArray) stored = tldrs_store_list(self->config->data_dir, error);
		TldrsStoredTrace *t;
		if (stored == NULL)
			return FALSE;
		t = tldrs_store_find(stored, id);
		if (t == NULL) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_NO_SUCH_TRACE,
			            "no trace \"%s\"",
			            id);
			return FALSE;
		}
		source = g_strdup(t->source != NULL ? t->source : t->tef);
	}
	tldrs_daemon_start_emission_full(self, source, path, id, format, done, done_data);
	return TRUE;
}

/* delete a trace's files; never one with clients connected */
gboolean
tldrs_daemon_delete_trace(TldrsDaemon *self, const char *id, GError **error)
{
	g_autoptr(GPtrArray) stored = NULL;
	TldrsTrace *trace;
	TldrsStoredTrace *t;

	g_return_val_if_fail(TLDRS_IS_DAEMON(self), FALSE);
	trace = g_hash_table_lookup(self->traces, id);
	if (trace != NULL && tldrs_trace_get_clients(trace) > 0) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_BUSY,
		            "trace \"%s\" has %u clients connected",
		            id,
		            tldrs_trace_get_clients(trace));
		return FALSE;
	}
	stored = tldrs_store_list(self->config->data_dir, error);
	if (stored == NULL)
		return FALSE;
	t = tldrs_store_find(stored, id);
	if (t == NULL) {
		g_set_error(error, TLDRS_ERROR, TLDRS_ERROR_NO_SUCH_TRACE, "no trace \"%s\"", id);
		return FALSE;
	}
	for (guint i = 0; i < t->files->len; i++) {
		const char *fn = g_ptr_array_index(t->files, i);
		if (g_unlink(fn) != 0) {
			int errsv = errno;
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_FAILED,
			            "cannot delete %s: %s",
			            fn,
			            g_strerror(errsv));
			return FALSE;
		}
	}
	g_info("trace %s deleted", id);
	return TRUE;
}

/* ---- life cycle ---- */

/* as many connections as the system lets us have */
static void
tldrs_daemon_raise_fd_limit(TldrsDaemon *self)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			g_debug("cannot raise RLIMIT_NOFILE: %s", g_strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	self->nofile = rl.rlim_cur == RLIM_INFINITY ? 0 : (guint64)rl.rlim_cur;
}

/* TldrsSinkSetup.write_tef: the one TEF writer, for sinks */
static gboolean
tldrs_daemon_sink_write_tef(const char *source,
                            guint64 source_limit,
                            const char *dest,
                            const char *format,
                            const char *trace_id,
                            guint64 *events,
                            GError **error)
{
	TldrsTefFormat fmt = TLDRS_TEF_FORMAT_OBJECT;
	TldrsTefStats stats = {0};
	if (format != NULL && !tldrs_tef_format_from_string(format, &fmt)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_ARGUMENT,
		            "unknown TEF format \"%s\"",
		            format);
		return FALSE;
	}
	if (source != NULL && !g_file_test(source, G_FILE_TEST_EXISTS))
		source = NULL;
	if (!tldrs_tef_write_file(source, source_limit, dest, fmt, trace_id, &stats, error))
		return FALSE;
	if (events != NULL)
		*events = stats.events;
	return TRUE;
}

static gboolean
tldrs_daemon_setup_sinks(TldrsDaemon *self, GError **error)
{
	/* --into-file stores exactly one file, in the jsonl format */
	const char *const into_sinks[] = {"jsonl", NULL};
	const char *const *names = self->config->into_file != NULL
	                                   ? into_sinks
	                                   : (const char *const *)self->config->sinks;

	for (guint i = 0; names[i] != NULL; i++) {
		g_autofree char *group = g_strdup_printf("Sink %s", names[i]);
		TldrsSinkSetup setup = {
		        .data_dir = self->config->data_dir,
		        .config = self->config->keyfile,
		        .config_path = self->config->config_path,
		        .group = group,
		        .flush_interval_us = self->config->flush_interval_us,
		        .write_tef = tldrs_daemon_sink_write_tef,
		};
		g_autoptr(TldrsSink) sink = NULL;

		sink = tldrs_plugin_loader_load_sink(self->config->plugin_dir, names[i], error);
		if (sink == NULL) {
			if (self->config->keyfile != NULL &&
			    g_key_file_has_key(self->config->keyfile, "Daemon", "Sinks", NULL))
				g_prefix_error(
				        error, "%s: [Daemon] Sinks: ", self->config->config_path);
			return FALSE;
		}
		if (!tldrs_sink_setup(sink, &setup, error))
			return FALSE;
		g_ptr_array_add(self->sinks, g_steal_pointer(&sink));
	}
	return TRUE;
}

/* the data directory: created on demand, and used by one daemon at a time */
static gboolean
tldrs_daemon_lock_data_dir(TldrsDaemon *self, GError **error)
{
	g_autofree char *lock_path = NULL;
	const char *dir = self->config->data_dir;

	if (g_mkdir_with_parents(dir, 0700) != 0) {
		int errsv = errno;
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("cannot create data directory %s: %s"),
		            dir,
		            g_strerror(errsv));
		return FALSE;
	}
	if (self->config->into_file != NULL)
		return TRUE;
	lock_path = g_build_filename(dir, ".tldrs.lock", NULL);
	self->lock_fd = g_open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (self->lock_fd < 0) {
		int errsv = errno;
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("cannot write to data directory %s: %s"),
		            dir,
		            g_strerror(errsv));
		return FALSE;
	}
	if (flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_BUSY,
		            _("another tldrs daemon is using data directory %s"),
		            dir);
		return FALSE;
	}
	return TRUE;
}

/* LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES: a listening unix stream socket handed over by
 * systemd (sd_listen_fds(3)); NULL without error when there is none */
static GSocket *
tldrs_daemon_activated_socket(GError **error)
{
	const char *pid = g_getenv("LISTEN_PID");
	const char *fds = g_getenv("LISTEN_FDS");
	const char *names = g_getenv("LISTEN_FDNAMES");
	guint64 n = 0;
	int fd = 3; /* SD_LISTEN_FDS_START */
	GSocket *socket;

	if (pid == NULL || fds == NULL)
		return NULL;
	if (g_ascii_strtoll(pid, NULL, 10) != (gint64)getpid())
		return NULL;
	if (!g_ascii_string_to_unsigned(fds, 10, 1, 64, &n, NULL)) {
		g_set_error(error, TLDRS_ERROR, TLDRS_ERROR_FAILED, "bad LISTEN_FDS=%s", fds);
		return NULL;
	}
	/* several sockets: the one named "tldrs" (FileDescriptorName=), else the first */
	if (names != NULL) {
		g_auto(GStrv) list = g_strsplit(names, ":", -1);
		for (guint i = 0; list[i] != NULL && i < n; i++) {
			if (g_strcmp0(list[i], "tldrs") == 0)
				fd = 3 + (int)i;
		}
	}
	for (int i = 3; i < 3 + (int)n; i++)
		fcntl(i, F_SETFD, FD_CLOEXEC);
	g_unsetenv("LISTEN_PID");
	g_unsetenv("LISTEN_FDS");
	g_unsetenv("LISTEN_FDNAMES");
	socket = g_socket_new_from_fd(fd, error);
	if (socket == NULL) {
		g_prefix_error(error, "the socket passed by systemd: ");
		return NULL;
	}
	if (g_socket_get_family(socket) != G_SOCKET_FAMILY_UNIX ||
	    g_socket_get_socket_type(socket) != G_SOCKET_TYPE_STREAM) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            "the socket passed by systemd is not a unix stream socket");
		g_object_unref(socket);
		return NULL;
	}
	return socket;
}

TldrsDaemon *
tldrs_daemon_new(TldrsConfig *config, GError **error)
{
	g_autoptr(TldrsDaemon) self = g_object_new(TLDRS_TYPE_DAEMON, NULL);
	g_autoptr(GError) error_local = NULL;

	g_return_val_if_fail(config != NULL, NULL);
	self->config = config;
	if (!tldrs_daemon_lock_data_dir(self, error))
		return NULL;
	if (!tldrs_daemon_setup_sinks(self, error))
		return NULL;
	/* from the moment clients can connect (or a bus sees us), SIGTERM means an orderly
	 * shutdown: hold it until tldrs_daemon_start() can handle it. Before any thread
	 * exists, so that every thread (GDBus's too) inherits the mask */
	{
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	/* before any thread exists: it changes the environment */
	self->activated_socket = tldrs_daemon_activated_socket(&error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return NULL;
	}
	self->state = tldrs_state_new(config->data_dir, config->into_file == NULL);
	if (config->into_file != NULL)
		self->into_trace = tldrs_trace_new("into-file", config->into_file, self->sinks);
	return g_steal_pointer(&self);
}

static gboolean
tldrs_daemon_socket_is_live(const char *path)
{
	g_autoptr(GSocket) probe = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	if (probe == NULL)
		return FALSE;
	return g_socket_connect(probe, addr, NULL, NULL);
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET */
static void
tldrs_daemon_notify(const char *state)
{
	const char *path = g_getenv("NOTIFY_SOCKET");
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) addr = NULL;
	if (path == NULL || path[0] == '\0')
		return;
	socket = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
	if (socket == NULL)
		return;
	/* a leading '@' is an abstract socket */
	if (path[0] == '@')
		addr = g_unix_socket_address_new_with_type(
		        path + 1, -1, G_UNIX_SOCKET_ADDRESS_ABSTRACT);
	else
		addr = g_unix_socket_address_new(path);
	if (g_socket_send_to(socket, addr, state, strlen(state), NULL, NULL) < 0)
		g_debug("cannot notify systemd");
}

/* ExitIdleSec: no client, no open trace, nothing being written: leave */
static gboolean
tldrs_daemon_idle_exit_cb(gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	gint64 now = g_get_monotonic_time();
	if (g_hash_table_size(self->clients) > 0 || g_hash_table_size(self->traces) > 0 ||
	    self->emissions_pending > 0)
		self->busy_at = now;
	if (now - self->busy_at >= self->config->exit_idle_us) {
		self->idle_exit_id = 0;
		tldrs_daemon_quit(self, "idle for ExitIdleSec");
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

/* bind the socket: a stale one left by a dead daemon is replaced, a live one is not */
gboolean
tldrs_daemon_listen(TldrsDaemon *self, GError **error)
{
	const char *path = self->config->socket_path;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree char *dir = g_path_get_dirname(path);
	GStatBuf sb;
	mode_t old_umask;
	gboolean ok;

	g_return_val_if_fail(TLDRS_IS_DAEMON(self), FALSE);

	/* started by systemd's tldrs.socket: serve its socket, bind nothing */
	socket = g_steal_pointer(&self->activated_socket);
	if (socket != NULL) {
		g_autoptr(GSocketAddress) local = g_socket_get_local_address(socket, NULL);
		if (local != NULL && G_IS_UNIX_SOCKET_ADDRESS(local)) {
			g_free(self->config->socket_path);
			self->config->socket_path = g_strdup(
			        g_unix_socket_address_get_path(G_UNIX_SOCKET_ADDRESS(local)));
		}
		self->listen_socket = g_object_ref(socket);
		if (!g_socket_listener_add_socket(
		            G_SOCKET_LISTENER(self->service), socket, NULL, error))
			return FALSE;
		g_info("using the socket passed by systemd: %s", self->config->socket_path);
		return TRUE;
	}
	if (strlen(path) >= 108) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_ARGUMENT,
		            _("socket path too long (at most 107 bytes): %s"),
		            path);
		return FALSE;
	}
	if (g_lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_BUSY,
			            _("%s exists and is not a socket"),
			            path);
			return FALSE;
		}
		/* --replace: the daemon we took the bus name from is shutting down */
		for (guint i = 0; self->config->replace && i < 500 && g_lstat(path, &sb) == 0 &&
		                  tldrs_daemon_socket_is_live(path);
		     i++)
			g_usleep(10000);
		if (g_lstat(path, &sb) == 0 && tldrs_daemon_socket_is_live(path)) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_BUSY,
			            _("another daemon is already listening on %s"),
			            path);
			return FALSE;
		}
		g_info("replacing stale socket %s", path);
		g_unlink(path);
	}
	g_mkdir_with_parents(dir, 0700);

	socket = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
	if (socket == NULL)
		return FALSE;
	addr = g_unix_socket_address_new(path);
	/* owner-only from the start: no window where another user can connect */
	old_umask = umask(0177);
	ok = g_socket_bind(socket, addr, FALSE, &error_local);
	umask(old_umask);
	if (!ok) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("cannot bind %s: %s"),
		            path,
		            error_local->message);
		return FALSE;
	}
	if (g_lstat(path, &sb) == 0) {
		self->socket_dev = sb.st_dev;
		self->socket_ino = sb.st_ino;
	}
	self->socket_path = g_strdup(path);
	self->listen_socket = g_object_ref(socket);
	g_socket_set_listen_backlog(socket, 4096);
	if (!g_socket_listen(socket, &error_local) ||
	    !g_socket_listener_add_socket(
	            G_SOCKET_LISTENER(self->service), socket, NULL, &error_local)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("cannot listen on %s: %s"),
		            path,
		            error_local->message);
		return FALSE;
	}
	return TRUE;
}

static void
tldrs_daemon_remove_socket(TldrsDaemon *self)
{
	GStatBuf sb;
	if (self->socket_path == NULL)
		return;
	/* only our own socket: a newer daemon may have replaced it */
	if (g_lstat(self->socket_path, &sb) == 0 && sb.st_dev == self->socket_dev &&
	    sb.st_ino == self->socket_ino)
		g_unlink(self->socket_path);
	g_clear_pointer(&self->socket_path, g_free);
}

static gboolean
tldrs_daemon_signal_cb(gpointer user_data)
{
	tldrs_daemon_quit(TLDRS_DAEMON(user_data), "signal received");
	return G_SOURCE_CONTINUE;
}

/* after listen() and any fork: signals, timers, and accepting */
gboolean
tldrs_daemon_start(TldrsDaemon *self, GError **error)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), FALSE);
	(void)error;

	signal(SIGPIPE, SIG_IGN);
	/* a file size limit shows up as EFBIG on write(), handled like a full disk */
	signal(SIGXFSZ, SIG_IGN);
	tldrs_daemon_raise_fd_limit(self);
	self->signal_ids[0] = g_unix_signal_add(SIGTERM, tldrs_daemon_signal_cb, self);
	self->signal_ids[1] = g_unix_signal_add(SIGINT, tldrs_daemon_signal_cb, self);
	/* held since before the socket was bound: a SIGTERM sent meanwhile is handled now */
	{
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	self->flush_timer_id =
	        g_timeout_add_full(G_PRIORITY_DEFAULT,
	                           (guint)MAX(self->config->flush_interval_us / 1000, 1),
	                           tldrs_daemon_flush_timer_cb,
	                           self,
	                           NULL);
	if (self->lock_fd >= 0) {
		g_autofree char *pid = g_strdup_printf("%d\n", (int)getpid());
		if (ftruncate(self->lock_fd, 0) == 0 && write(self->lock_fd, pid, strlen(pid)) < 0)
			g_debug("cannot write pid to lock file");
	}
	g_socket_service_start(self->service);
	self->accepting = TRUE;
	if (self->config->exit_idle_us > 0) {
		self->busy_at = g_get_monotonic_time();
		self->idle_exit_id =
		        g_timeout_add((guint)MAX(MIN(self->config->exit_idle_us / 4000, 1000), 10),
		                      tldrs_daemon_idle_exit_cb,
		                      self);
	}
	tldrs_daemon_apply_retention(self);
	self->retention_id = g_timeout_add_seconds(10, tldrs_daemon_retention_cb, self);
	tldrs_daemon_notify("READY=1");
	g_info("tldrs %s listening on %s, storing into %s",
	       PACKAGE_VERSION,
	       self->config->socket_path,
	       self->config->into_file != NULL ? self->config->into_file : self->config->data_dir);
	return TRUE;
}

int
tldrs_daemon_run(TldrsDaemon *self)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), 1);
	if (!self->shut_down)
		g_main_loop_run(self->loop);
	return 0;
}

static void
tldrs_daemon_finish_shutdown(TldrsDaemon *self)
{
	if (self->shut_down)
		return;
	self->shut_down = TRUE;
	for (guint i = 0; i < self->sinks->len; i++)
		tldrs_sink_shutdown(g_ptr_array_index(self->sinks, i));
	tldrs_state_save(self->state);
	g_info("stopped");
	g_main_loop_quit(self->loop);
}

static gboolean
tldrs_daemon_shutdown_cb(gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	g_autoptr(GPtrArray) clients = g_ptr_array_new_with_free_func(g_object_unref);
	GHashTableIter iter;
	gpointer key;

	/* take the connections waiting to be accepted, then what every client already sent;
	 * closing them honours EMIT_TEF_AT_EXIT. The service is stopped only afterwards:
	 * cancelling its accept in flight would drop a connection it has already taken */
	tldrs_daemon_accept_backlog(self);
	g_hash_table_iter_init(&iter, self->clients);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_ptr_array_add(clients, g_object_ref(key));
	for (guint i = 0; i < clients->len; i++)
		tldrs_client_drain_and_close(g_ptr_array_index(clients, i));
	g_clear_handle_id(&self->closing_id, g_source_remove);
	tldrs_daemon_closing_cb(self);
	self->accepting = FALSE;
	g_socket_service_stop(self->service);
	g_socket_listener_close(G_SOCKET_LISTENER(self->service));
	tldrs_daemon_remove_socket(self);

	tldrs_daemon_flush_all(self, TRUE);
	if (self->emissions_pending == 0)
		tldrs_daemon_finish_shutdown(self);
	return G_SOURCE_REMOVE;
}

/* the orderly shutdown of SIGTERM, SIGINT and DIE: nothing received is lost */
void
tldrs_daemon_quit(TldrsDaemon *self, const char *why)
{
	g_return_if_fail(TLDRS_IS_DAEMON(self));
	if (self->quitting)
		return;
	self->quitting = TRUE;
	g_info("shutting down: %s", why);
	tldrs_daemon_notify("STOPPING=1");
	g_idle_add_full(
	        G_PRIORITY_HIGH, tldrs_daemon_shutdown_cb, g_object_ref(self), g_object_unref);
}

static void
tldrs_daemon_dispose(GObject *object)
{
	TldrsDaemon *self = TLDRS_DAEMON(object);

	for (guint i = 0; i < G_N_ELEMENTS(self->signal_ids); i++)
		g_clear_handle_id(&self->signal_ids[i], g_source_remove);
	g_clear_handle_id(&self->flush_timer_id, g_source_remove);
	g_clear_handle_id(&self->idle_flush_id, g_source_remove);
	g_clear_handle_id(&self->closing_id, g_source_remove);
	g_clear_handle_id(&self->state_save_id, g_source_remove);
	g_clear_handle_id(&self->backlog_id, g_source_remove);
	g_clear_handle_id(&self->idle_exit_id, g_source_remove);
	g_clear_handle_id(&self->fds_id, g_source_remove);
	g_clear_handle_id(&self->retention_id, g_source_remove);
	if (self->service != NULL) {
		g_socket_service_stop(self->service);
		g_socket_listener_close(G_SOCKET_LISTENER(self->service));
		g_clear_object(&self->service);
	}
	g_clear_object(&self->listen_socket);
	g_clear_object(&self->activated_socket);
	tldrs_daemon_remove_socket(self);
	g_clear_pointer(&self->clients, g_hash_table_unref);
	g_clear_handle_id(&self->log_window_id, g_source_remove);
	tldrs_daemon_log_suppressed(self);
	g_clear_pointer(&self->dirty, g_ptr_array_unref);
	g_clear_pointer(&self->closing, g_ptr_array_unref);
	g_clear_pointer(&self->traces, g_hash_table_unref);
	g_clear_object(&self->into_trace);
	g_clear_pointer(&self->sinks, g_ptr_array_unref);
	G_OBJECT_CLASS(tldrs_daemon_parent_class)->dispose(object);
}

static void
tldrs_daemon_finalize(GObject *object)
{
	TldrsDaemon *self = TLDRS_DAEMON(object);
	/* the state first: its last save may wait a moment, still under the lock */
	g_clear_pointer(&self->state, tldrs_state_free);
	if (self->lock_fd >= 0)
		close(self->lock_fd);
	g_clear_pointer(&self->config, tldrs_config_free);
	g_clear_pointer(&self->loop, g_main_loop_unref);
	g_clear_pointer(&self->event_counts, g_hash_table_unref);
	g_clear_pointer(&self->emitting, g_hash_table_unref);
	g_free(self->read_buf);
	g_clear_pointer(&self->line_check, tldrs_line_check_free);
	G_OBJECT_CLASS(tldrs_daemon_parent_class)->finalize(object);
}

static void
tldrs_daemon_class_init(TldrsDaemonClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = tldrs_daemon_dispose;
	object_class->finalize = tldrs_daemon_finalize;

	/* a trace that was not open got its first client */
	tldrs_daemon_signals[SIGNAL_TRACE_OPENED] = g_signal_new("trace-opened",
	                                                         G_TYPE_FROM_CLASS(klass),
	                                                         G_SIGNAL_RUN_LAST,
	                                                         0,
	                                                         NULL,
	                                                         NULL,
	                                                         NULL,
	                                                         G_TYPE_NONE,
	                                                         1,
	                                                         G_TYPE_STRING);
	/* the last client of a trace has gone and its events are stored */
	tldrs_daemon_signals[SIGNAL_TRACE_CLOSED] = g_signal_new("trace-closed",
	                                                         G_TYPE_FROM_CLASS(klass),
	                                                         G_SIGNAL_RUN_LAST,
	                                                         0,
	                                                         NULL,
	                                                         NULL,
	                                                         NULL,
	                                                         G_TYPE_NONE,
	                                                         1,
	                                                         G_TYPE_STRING);
	/* a TEF file is complete */
	tldrs_daemon_signals[SIGNAL_TEF_EMITTED] = g_signal_new("tef-emitted",
	                                                        G_TYPE_FROM_CLASS(klass),
	                                                        G_SIGNAL_RUN_LAST,
	                                                        0,
	                                                        NULL,
	                                                        NULL,
	                                                        NULL,
	                                                        G_TYPE_NONE,
	                                                        2,
	                                                        G_TYPE_STRING,
	                                                        G_TYPE_STRING);
}

static void
tldrs_daemon_init(TldrsDaemon *self)
{
	self->lock_fd = -1;
	self->uid = getuid();
	self->sinks = g_ptr_array_new_with_free_func(g_object_unref);
	self->traces = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
	self->clients = g_hash_table_new_full(g_direct_hash, g_direct_equal, g_object_unref, NULL);
	self->dirty = g_ptr_array_new_with_free_func(g_object_unref);
	self->closing = g_ptr_array_new_with_free_func(g_object_unref);
	self->read_buf = g_malloc(TLDRS_DAEMON_READ_SIZE);
	self->loop = g_main_loop_new(NULL, FALSE);
	self->event_counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	self->emitting = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	self->awaiting = g_hash_table_new_full(
	        g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
	self->service = g_socket_service_new();
	g_socket_service_stop(self->service);
	g_signal_connect(self->service, "incoming", G_CALLBACK(tldrs_daemon_incoming_cb), self);
}
