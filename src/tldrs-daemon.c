/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <signal.h>
#include <sys/stat.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "tldrs-activation.h"
#include "tldrs-connection.h"
#include "tldrs-daemon.h"
#include "tldrs-data-dir-lock.h"
#include "tldrs-error.h"
#include "tldrs-flush-scheduler.h"
#include "tldrs-listener.h"
#include "tldrs-log-limit.h"
#include "tldrs-nats-reader.h"
#include "tldrs-output-path.h"
#include "tldrs-plugin-loader.h"
#include "tldrs-retention.h"
#include "tldrs-signals.h"
#include "tldrs-sink-set.h"
#include "tldrs-state.h"
#include "tldrs-store.h"
#include "tldrs-tef-jobs.h"
#include "tldrs-trace-table.h"
#include <tldrs/tldrs-sink.h>

/* The daemon: builds the rooms and wires them, and runs the life cycle (start, the orderly
 * shutdown). The path of an event: the listener accepts a connection (TldrsListener), the
 * connection reads and splits lines (TldrsConnection), the line check checks them
 * (TldrsLineCheck), the trace batches them (TldrsTrace, kept by TldrsTraceTable) into the
 * sink set (TldrsSinkSet) and its sinks (TldrsSink plugins). Beside it: flush scheduling and
 * backpressure (TldrsFlushScheduler), retention (TldrsRetention), the TEF writer jobs
 * (TldrsTefJobs) and where they may write (tldrs-output-path.c), the data directory's lock
 * (TldrsDataDirLock), systemd activation and notification (tldrs-activation.c), the signals
 * (TldrsSignals: what each one does is decided here); the bus service (TldrsDbus) asks the
 * daemon. Everything runs on the main loop; TEF files are written in worker threads. */

struct _TldrsDaemon {
	GObject parent_instance;
	TldrsConfig *config;
	TldrsSinkSet *sink_set;
	GPtrArray *sinks; /* of TldrsSink: the sink set's */
	TldrsDataDirLock *lock;
	TldrsLogLimit *log_limit;
	TldrsListener *listener;
	TldrsConnectionContext *clients_ctx;
	GHashTable *clients; /* TldrsConnection -> itself, owning */
	TldrsTraceTable *traces;
	TldrsFlushScheduler *flush;
	TldrsTefJobs *tef_jobs;
	TldrsChecked *checked; /* what the daemon vouches for */
	TldrsRetention *retention;
	guint idle_exit_id;
	gint64 busy_at;
	TldrsSignals *signals;
	guint64 next_client_id;
	gboolean quitting;
	gboolean shut_down;
	gboolean die_when_idle;
	guint lost_traces; /* traces that lost events as the daemon stopped */
	GMainLoop *loop;
	GHashTable *awaiting;     /* "trace id\npath" -> GPtrArray of TldrsConnection (AWAIT_TEF) */
	GHashTable *exit_targets; /* "trace id\npath" -> TldrsOutputTarget, EMIT_TEF_AT_EXIT */
};

G_DEFINE_TYPE(TldrsDaemon, tldrs_daemon, G_TYPE_OBJECT)

enum {
	SIGNAL_TEF_EMITTED,
	SIGNAL_LAST,
};

static guint tldrs_daemon_signals[SIGNAL_LAST] = {0};

/* ---- traces ---- */

/* where a client or bus caller asked for a TEF file: checked, its directory opened now (the
 * files a TEF file must never replace are refused) */
static TldrsOutputTarget *
tldrs_daemon_open_output(TldrsDaemon *self, const char *path, GError **error)
{
	TldrsOwnFiles own = {
	        .data_dir = self->config->data_dir,
	        .suffixes = tldrs_sink_set_get_own_suffixes(self->sink_set),
	        .into_file = self->config->into_file,
	        .socket_paths = {self->config->socket_path,
	                         tldrs_listener_get_bound_path(self->listener)},
	};
	return tldrs_output_path_open(path, &own, error);
}

typedef struct {
	TldrsDaemon *daemon;
	TldrsTefJobDoneFunc done; /* the D-Bus caller's, or NULL */
	gpointer done_data;
} TldrsDaemonTefJob;

static char *
tldrs_daemon_trace_path_key(const char *trace_id, const char *path)
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
	g_autofree char *key = tldrs_daemon_trace_path_key(trace_id, path);
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
		TldrsConnection *client = g_ptr_array_index(clients, i);
		tldrs_connection_reply(client, answer);
		tldrs_connection_close(client);
	}
}

/* a TEF file the daemon was asked for (EMIT_TEF, EMIT_TEF_AT_EXIT, EmitTef) is complete or
 * failed: the "tef-emitted" signal, then whoever asked, then whoever awaits it */
static void
tldrs_daemon_tef_done(const char *trace_id,
                      const char *path,
                      guint64 events,
                      const GError *error,
                      gpointer user_data)
{
	g_autofree TldrsDaemonTefJob *job = user_data;
	if (error == NULL)
		g_signal_emit(
		        job->daemon, tldrs_daemon_signals[SIGNAL_TEF_EMITTED], 0, trace_id, path);
	if (job->done != NULL)
		job->done(trace_id, path, events, error, job->done_data);
	tldrs_daemon_answer_awaiting(job->daemon, trace_id, path, events, error);
}

static TldrsDaemonTefJob *
tldrs_daemon_tef_job_new(TldrsDaemon *self, TldrsTefJobDoneFunc done, gpointer done_data)
{
	TldrsDaemonTefJob *job = g_new0(TldrsDaemonTefJob, 1);
	job->daemon = self;
	job->done = done;
	job->done_data = done_data;
	return job;
}

/* a TEF job of the daemon's own, @target taken; a sink's (start_tef) raises no
 * "tef-emitted" */
static void
tldrs_daemon_start_tef_job(TldrsDaemon *self,
                           const char *source,
                           TldrsOutputTarget *target,
                           const char *trace_id,
                           TldrsTefFormat format,
                           TldrsTefJobDoneFunc done,
                           gpointer done_data)
{
	tldrs_tef_jobs_start_target(self->tef_jobs,
	                            source,
	                            target,
	                            trace_id,
	                            format,
	                            tldrs_daemon_tef_done,
	                            tldrs_daemon_tef_job_new(self, done, done_data));
}

static char *
tldrs_daemon_trace_path_key(const char *trace_id, const char *path);

/* an at-exit file of @trace (@target taken): its directory is held open from now until the
 * trace finishes; refused past MaxAtExitPaths */
static gboolean
tldrs_daemon_keep_exit_target(TldrsDaemon *self,
                              TldrsTrace *trace,
                              TldrsOutputTarget *target,
                              GError **error)
{
	if (!tldrs_trace_add_exit_path(
	            trace, target->path, self->config->max_at_exit_paths, error)) {
		tldrs_output_target_free(target);
		return FALSE;
	}
	g_hash_table_replace(self->exit_targets,
	                     tldrs_daemon_trace_path_key(tldrs_trace_get_id(trace), target->path),
	                     target);
	return TRUE;
}

/* EMIT_TEF and EMIT_TEF_AT_EXIT of a connection */
static gboolean
tldrs_daemon_emit_tef(TldrsDaemon *self,
                      TldrsTrace *trace,
                      const char *path,
                      gboolean at_exit,
                      GError **error)
{
	g_autofree char *source = NULL;
	TldrsOutputTarget *target = tldrs_daemon_open_output(self, path, error);

	if (target == NULL)
		return FALSE;
	if (at_exit)
		return tldrs_daemon_keep_exit_target(self, trace, target, error);
	/* every event received so far is in the file before the writer reads it */
	tldrs_trace_flush(trace, TRUE);
	source = tldrs_trace_get_stored_file(trace);
	tldrs_daemon_start_tef_job(self,
	                           source,
	                           target,
	                           tldrs_trace_get_id(trace),
	                           TLDRS_TEF_FORMAT_OBJECT,
	                           NULL,
	                           NULL);
	return TRUE;
}

/* the last client of @trace is gone and it is stored: honour EMIT_TEF_AT_EXIT */
static void
tldrs_daemon_trace_finished_cb(TldrsTraceTable *traces,
                               TldrsTrace *trace,
                               const char *source,
                               const char *const *exit_paths,
                               gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	const char *id = tldrs_trace_get_id(trace);
	(void)traces;

	if (tldrs_trace_is_closed(trace))
		tldrs_flush_scheduler_forget(self->flush, trace);
	for (guint i = 0; exit_paths != NULL && exit_paths[i] != NULL; i++) {
		g_autofree char *key = tldrs_daemon_trace_path_key(id, exit_paths[i]);
		g_autofree char *stolen_key = NULL;
		g_autoptr(GError) error = NULL;
		TldrsOutputTarget *target = NULL;
		if (!g_hash_table_steal_extended(
		            self->exit_targets, key, (gpointer *)&stolen_key, (gpointer *)&target))
			target = tldrs_daemon_open_output(self, exit_paths[i], &error);
		if (target == NULL) {
			g_warning("trace %s: cannot write TEF to %s: %s",
			          id,
			          exit_paths[i],
			          error->message);
			tldrs_daemon_answer_awaiting(self, id, exit_paths[i], 0, error);
			continue;
		}
		tldrs_daemon_start_tef_job(
		        self, source, target, id, TLDRS_TEF_FORMAT_OBJECT, NULL, NULL);
	}
	/* after the jobs started: retention leaves a trace alone while TEF is written from it
	 * (and the tef sink's own file is written from it too) */
	if (!self->quitting)
		tldrs_retention_apply(self->retention);
}

static void
tldrs_daemon_periodic_cb(TldrsFlushScheduler *flush, gpointer user_data)
{
	(void)flush;
	tldrs_trace_table_flush_all(TLDRS_DAEMON(user_data)->traces, FALSE);
}

/* a sink is behind, or has caught up: stop or resume reading from every client */
static void
tldrs_daemon_paused_cb(TldrsFlushScheduler *flush, gboolean paused, gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	GHashTableIter iter;
	gpointer key;
	(void)flush;
	g_hash_table_iter_init(&iter, self->clients);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		tldrs_connection_set_paused(TLDRS_CONNECTION(key), paused);
}

static gboolean
tldrs_daemon_retention_busy(const char *id, gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	return tldrs_trace_table_lookup(self->traces, id) != NULL ||
	       tldrs_tef_jobs_is_reading(self->tef_jobs, id);
}

/* ---- connections ---- */

static TldrsTrace *
tldrs_daemon_client_acquire_trace(const char *id, gpointer user_data)
{
	return tldrs_trace_table_acquire(TLDRS_DAEMON(user_data)->traces, id);
}

static void
tldrs_daemon_client_release_trace(TldrsTrace *trace, gpointer user_data)
{
	tldrs_trace_table_release(TLDRS_DAEMON(user_data)->traces, trace);
}

static void
tldrs_daemon_client_trace_dirty(TldrsTrace *trace, gpointer user_data)
{
	tldrs_flush_scheduler_trace_dirty(TLDRS_DAEMON(user_data)->flush, trace);
}

static gboolean
tldrs_daemon_client_emit_tef(TldrsTrace *trace,
                             const char *path,
                             gboolean at_exit,
                             gpointer user_data,
                             GError **error)
{
	return tldrs_daemon_emit_tef(TLDRS_DAEMON(user_data), trace, path, at_exit, error);
}

static gboolean
tldrs_daemon_client_await_tef(TldrsConnection *client,
                              TldrsTrace *trace,
                              const char *path,
                              gpointer user_data,
                              GError **error)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	g_autofree char *key = NULL;
	g_autofree char *answer = NULL;
	GPtrArray *clients;

	TldrsOutputTarget *target = tldrs_daemon_open_output(self, path, error);

	if (target == NULL)
		return FALSE;
	if (!tldrs_daemon_keep_exit_target(self, trace, target, error))
		return FALSE;
	key = tldrs_daemon_trace_path_key(tldrs_trace_get_id(trace), path);
	clients = g_hash_table_lookup(self->awaiting, key);
	if (clients == NULL) {
		clients = g_ptr_array_new_with_free_func(g_object_unref);
		g_hash_table_insert(self->awaiting, g_steal_pointer(&key), clients);
	}
	g_ptr_array_add(clients, g_object_ref(client));
	/* the other connections that the file waits for; the client leaves the trace next */
	answer = g_strdup_printf("AWAITING %u\n", tldrs_trace_get_clients(trace) - 1);
	tldrs_connection_reply(client, answer);
	return TRUE;
}

static void
tldrs_daemon_client_die(gboolean when_idle, gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	if (!when_idle) {
		tldrs_daemon_quit(self, "DIE received");
		return;
	}
	self->die_when_idle = TRUE;
	if (g_hash_table_size(self->clients) == 0)
		tldrs_daemon_quit(self, "DIE_WHEN_IDLE and no client left");
}

static void
tldrs_daemon_client_closed(TldrsConnection *client, gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	g_debug("connection %" G_GUINT64_FORMAT " closed", tldrs_connection_get_id(client));
	g_hash_table_remove(self->clients, client);
	if (self->die_when_idle && g_hash_table_size(self->clients) == 0)
		tldrs_daemon_quit(self, "DIE_WHEN_IDLE and no client left");
}

static const TldrsConnectionHooks tldrs_daemon_client_hooks = {
        .acquire_trace = tldrs_daemon_client_acquire_trace,
        .release_trace = tldrs_daemon_client_release_trace,
        .trace_dirty = tldrs_daemon_client_trace_dirty,
        .emit_tef = tldrs_daemon_client_emit_tef,
        .await_tef = tldrs_daemon_client_await_tef,
        .die = tldrs_daemon_client_die,
        .closed = tldrs_daemon_client_closed,
};

/* TldrsListenerLoadFunc */
static void
tldrs_daemon_load(guint *connections, guint64 *files, gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	*connections = g_hash_table_size(self->clients);
	*files = (guint64)tldrs_trace_table_get_size(self->traces) * MAX(self->sinks->len, 1);
}

static void
tldrs_daemon_connection_cb(TldrsListener *listener,
                           GSocketConnection *connection,
                           gint pid,
                           gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	TldrsConnection *client;
	(void)listener;

	client = tldrs_connection_new(self->clients_ctx, connection, ++self->next_client_id, pid);
	g_hash_table_add(self->clients, client);
	if (tldrs_flush_scheduler_get_paused(self->flush))
		tldrs_connection_set_paused(client, TRUE);
	if (tldrs_trace_table_has_into_file(self->traces))
		tldrs_connection_set_trace(client, tldrs_trace_table_acquire(self->traces, NULL));
	g_debug("connection %" G_GUINT64_FORMAT " from pid %d", self->next_client_id, (gint)pid);
	tldrs_connection_start(client);
}

/* ---- what the D-Bus interface asks ---- */

/* the open traces: their "trace-opened" and "trace-closed" signals */
TldrsTraceTable *
tldrs_daemon_get_traces(TldrsDaemon *self)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), NULL);
	return self->traces;
}

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
	return self->clients_ctx->events_received;
}

guint64
tldrs_daemon_get_lines_refused(TldrsDaemon *self)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), 0);
	return self->clients_ctx->lines_refused;
}

/* store everything received so far in every sink */
void
tldrs_daemon_flush(TldrsDaemon *self)
{
	g_return_if_fail(TLDRS_IS_DAEMON(self));
	tldrs_trace_table_flush_all(self->traces, TRUE);
}

/* a(sa{sv}): every stored or open trace, sorted by id */
GVariant *
tldrs_daemon_list_traces(TldrsDaemon *self)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), NULL);
	return tldrs_trace_table_list(self->traces);
}

GVariant *
tldrs_daemon_get_trace(TldrsDaemon *self, const char *id, GError **error)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), NULL);
	return tldrs_trace_table_describe(self->traces, id, error);
}

/* EmitTef over D-Bus: @done is called once the file is complete or has failed */
gboolean
tldrs_daemon_emit_tef_by_id(TldrsDaemon *self,
                            const char *id,
                            const char *path,
                            TldrsTefFormat format,
                            TldrsTefJobDoneFunc done,
                            gpointer done_data,
                            GError **error)
{
	TldrsTrace *trace;
	g_autofree char *source = NULL;
	g_autoptr(TldrsOutputTarget) target = NULL;

	g_return_val_if_fail(TLDRS_IS_DAEMON(self), FALSE);
	target = tldrs_daemon_open_output(self, path, error);
	if (target == NULL)
		return FALSE;
	trace = tldrs_trace_table_lookup(self->traces, id);
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
	tldrs_daemon_start_tef_job(
	        self, source, g_steal_pointer(&target), id, format, done, done_data);
	return TRUE;
}

/* EmitTef with the option "nats": the trace as every host's nats sink published it */
gboolean
tldrs_daemon_emit_tef_nats(TldrsDaemon *self,
                           const char *url,
                           const char *stream,
                           const char *id,
                           const char *path,
                           TldrsTefFormat format,
                           TldrsTefJobDoneFunc done,
                           gpointer done_data,
                           GError **error)
{
	g_autoptr(GError) error_local = NULL;
	TldrsOutputTarget *target;

	g_return_val_if_fail(TLDRS_IS_DAEMON(self), FALSE);
	if (!tldrs_nats_reader_check_url(url, &error_local)) {
		g_set_error_literal(
		        error, TLDRS_ERROR, TLDRS_ERROR_INVALID_ARGUMENT, error_local->message);
		return FALSE;
	}
	target = tldrs_daemon_open_output(self, path, error);
	if (target == NULL)
		return FALSE;
	tldrs_tef_jobs_start_nats(self->tef_jobs,
	                          url,
	                          stream,
	                          target,
	                          id,
	                          format,
	                          tldrs_daemon_tef_done,
	                          tldrs_daemon_tef_job_new(self, done, done_data));
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
	trace = tldrs_trace_table_lookup(self->traces, id);
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

/* TldrsSinkSetup.start_tef: a TEF job for a sink, like any other */
static void
tldrs_daemon_sink_start_tef(gpointer tef_writer,
                            const char *source,
                            const char *dest,
                            const char *format,
                            const char *trace_id)
{
	TldrsDaemon *self = TLDRS_DAEMON(tef_writer);
	TldrsTefFormat fmt = TLDRS_TEF_FORMAT_OBJECT;

	g_return_if_fail(dest != NULL);
	g_return_if_fail(trace_id != NULL);
	if (format != NULL && !tldrs_tef_format_from_string(format, &fmt)) {
		g_warning("trace %s: cannot write TEF to %s: unknown TEF format \"%s\"",
		          trace_id,
		          dest,
		          format);
		return;
	}
	tldrs_tef_jobs_start(self->tef_jobs, source, dest, trace_id, fmt, NULL, NULL);
}

static void
tldrs_daemon_finish_shutdown(TldrsDaemon *self);

static void
tldrs_daemon_jobs_idle_cb(TldrsTefJobs *jobs, gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	(void)jobs;
	if (self->quitting)
		tldrs_daemon_finish_shutdown(self);
}

TldrsDaemon *
tldrs_daemon_new(TldrsConfig *config, GError **error)
{
	g_autoptr(TldrsDaemon) self = g_object_new(TLDRS_TYPE_DAEMON, NULL);
	g_autoptr(GError) error_local = NULL;
	GPtrArray *activated;

	g_return_val_if_fail(config != NULL, NULL);
	self->config = config;
	self->lock = tldrs_data_dir_lock_new(
	        config->data_dir, config->into_file == NULL, config->replace, error);
	if (self->lock == NULL)
		return NULL;
	/* from the moment clients can connect (or a bus sees us), no signal ends the daemon
	 * unannounced: they are held until tldrs_daemon_start() reads them. Before any thread
	 * exists (the sinks may start some), so that every thread inherits the mask */
	tldrs_signals_block();
	self->sink_set = tldrs_sink_set_new(config, tldrs_daemon_sink_start_tef, self, error);
	if (self->sink_set == NULL)
		return NULL;
	self->sinks = tldrs_sink_set_get_sinks(self->sink_set);
	self->listener =
	        tldrs_listener_new(config->max_clients, self->log_limit, tldrs_daemon_load, self);
	g_signal_connect(
	        self->listener, "connection", G_CALLBACK(tldrs_daemon_connection_cb), self);
	/* before any thread exists: it changes the environment */
	activated = tldrs_activation_take_sockets(&error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return NULL;
	}
	if (activated != NULL)
		tldrs_listener_adopt(self->listener, activated);
	self->clients_ctx = tldrs_connection_context_new(&tldrs_daemon_client_hooks,
	                                                 self,
	                                                 config->max_line_bytes,
	                                                 config->max_incomplete_lines_bytes,
	                                                 self->log_limit);
	self->flush = tldrs_flush_scheduler_new(self->sinks, config->flush_interval_us);
	tldrs_flush_scheduler_set_max_backlog(self->flush, (gsize)config->max_backlog_bytes);
	g_signal_connect(self->flush, "periodic", G_CALLBACK(tldrs_daemon_periodic_cb), self);
	g_signal_connect(self->flush, "paused", G_CALLBACK(tldrs_daemon_paused_cb), self);
	self->retention = tldrs_retention_new(config, tldrs_daemon_retention_busy, self);
	/* the one owner of what the daemon vouches for: its traces, state file and TEF jobs
	 * are given it */
	self->checked = tldrs_checked_new();
	self->tef_jobs = tldrs_tef_jobs_new(self->checked);
	g_signal_connect(self->tef_jobs, "idle", G_CALLBACK(tldrs_daemon_jobs_idle_cb), self);
	self->traces = tldrs_trace_table_new(
	        self->sinks, self->checked, config->data_dir, config->into_file);
	g_signal_connect(
	        self->traces, "trace-finished", G_CALLBACK(tldrs_daemon_trace_finished_cb), self);
	return g_steal_pointer(&self);
}

/* ExitIdleSec: no client, no open trace, nothing being written: leave */
static gboolean
tldrs_daemon_idle_exit_cb(gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	gint64 now = g_get_monotonic_time();
	if (g_hash_table_size(self->clients) > 0 || tldrs_trace_table_get_size(self->traces) > 0 ||
	    tldrs_tef_jobs_get_pending(self->tef_jobs) > 0)
		self->busy_at = now;
	if (now - self->busy_at >= self->config->exit_idle_us) {
		self->idle_exit_id = 0;
		tldrs_daemon_quit(self, "idle for ExitIdleSec");
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

/* bind the sockets: the configured one and, when that is the shared default (or the private
 * one), both the shared $TMPDIR/tldrs.socket that existing clients look for and the private
 * $XDG_RUNTIME_DIR/tldrs.socket. A stale socket left by a dead daemon is replaced, a live
 * one is not; a shared socket that another user's daemon holds is left to it, loudly */
gboolean
tldrs_daemon_listen(TldrsDaemon *self, GError **error)
{
	g_autofree char *shared = tldrs_config_shared_socket_path();
	g_autofree char *private_path = tldrs_config_private_socket_path();
	g_autoptr(GError) error_local = NULL;
	const char *main_path = self->config->socket_path;
	const char *other = NULL;

	g_return_val_if_fail(TLDRS_IS_DAEMON(self), FALSE);
	if (private_path != NULL && g_strcmp0(private_path, shared) != 0) {
		if (g_strcmp0(main_path, shared) == 0)
			other = private_path;
		else if (g_strcmp0(main_path, private_path) == 0)
			other = shared;
	}
	if (!tldrs_listener_listen(
	            self->listener, main_path, self->config->replace, &error_local)) {
		if (other == NULL ||
		    !g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED)) {
			g_propagate_error(error, g_steal_pointer(&error_local));
			return FALSE;
		}
		g_warning("%s: serving only %s; clients that use %s reach that user's daemon, not "
		          "this one: point them at %s with TRACE_TEF_TLDR_SOCKET",
		          error_local->message,
		          other,
		          main_path,
		          other);
		g_clear_error(&error_local);
		main_path = other;
		other = NULL;
		if (!tldrs_listener_listen(self->listener, main_path, self->config->replace, error))
			return FALSE;
	}
	if (other != NULL && tldrs_listener_get_bound_path(self->listener) != NULL &&
	    !tldrs_listener_listen_also(self->listener, other, &error_local)) {
		g_warning("%s: serving only %s", error_local->message, main_path);
		g_clear_error(&error_local);
	}
	/* systemd's socket may be another one */
	if (g_strcmp0(self->config->socket_path, tldrs_listener_get_path(self->listener)) != 0) {
		g_free(self->config->socket_path);
		self->config->socket_path = g_strdup(tldrs_listener_get_path(self->listener));
	}
	return TRUE;
}

/* every socket the daemon serves, the main one first */
GStrv
tldrs_daemon_get_socket_paths(TldrsDaemon *self)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), NULL);
	return tldrs_listener_get_paths(self->listener);
}

static void
tldrs_daemon_start_idle_exit(TldrsDaemon *self)
{
	g_clear_handle_id(&self->idle_exit_id, g_source_remove);
	if (self->config->exit_idle_us <= 0)
		return;
	self->busy_at = g_get_monotonic_time();
	self->idle_exit_id =
	        g_timeout_add((guint)MAX(MIN(self->config->exit_idle_us / 4000, 1000), 10),
	                      tldrs_daemon_idle_exit_cb,
	                      self);
}

/* SIGHUP: the config file again; what can change at runtime changes, the rest is logged as
 * waiting for the next start; a wrong file changes nothing */
static void
tldrs_daemon_reload(TldrsDaemon *self, const char *why)
{
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) restart_only = NULL;
	g_autoptr(TldrsConfig) fresh = NULL;
	TldrsConfig *c = self->config;

	if (self->quitting)
		return;
	fresh = tldrs_config_reread(c, &restart_only, &error);
	if (fresh == NULL) {
		g_warning("%s: configuration not reloaded, keeping the current settings: %s",
		          why,
		          error->message);
		return;
	}
	c->flush_interval_us = fresh->flush_interval_us;
	tldrs_flush_scheduler_set_interval(self->flush, c->flush_interval_us);
	c->max_clients = fresh->max_clients;
	tldrs_listener_set_max_clients(self->listener, c->max_clients);
	if (c->exit_idle_us != fresh->exit_idle_us) {
		c->exit_idle_us = fresh->exit_idle_us;
		tldrs_daemon_start_idle_exit(self);
	}
	c->retention_max_bytes = fresh->retention_max_bytes;
	c->retention_max_age_us = fresh->retention_max_age_us;
	g_info("%s: configuration reloaded from %s: FlushIntervalSec=%g MaxClients=%u "
	       "ExitIdleSec=%g [Retention] MaxTotalBytes=%" G_GUINT64_FORMAT
	       " MaxAgeSec=%" G_GINT64_FORMAT,
	       why,
	       fresh->config_path != NULL ? fresh->config_path : "(no config file: the defaults)",
	       (double)c->flush_interval_us / G_USEC_PER_SEC,
	       tldrs_listener_get_max_clients(self->listener),
	       (double)c->exit_idle_us / G_USEC_PER_SEC,
	       c->retention_max_bytes,
	       c->retention_max_age_us / G_USEC_PER_SEC);
	if (restart_only[0] != NULL) {
		g_autofree char *keys = g_strjoinv(", ", restart_only);
		g_message("%s: changed in %s, taking effect only when the daemon restarts: %s",
		          why,
		          fresh->config_path,
		          keys);
	}
	tldrs_retention_apply(self->retention);
}

/* TldrsSignalFunc: SIGTERM, SIGINT and SIGQUIT stop the daemon in order; SIGHUP (also what a
 * foreground daemon gets when its terminal closes) reloads the configuration; SIGUSR1
 * flushes; SIGUSR2 and SIGALRM are ignored */
static void
tldrs_daemon_signal_cb(int signo, gint pid, gpointer user_data)
{
	TldrsDaemon *self = TLDRS_DAEMON(user_data);
	g_autofree char *why =
	        g_strdup_printf("%s from pid %d", tldrs_signals_name(signo), (gint)pid);

	switch (signo) {
	case SIGTERM:
	case SIGINT:
	case SIGQUIT: {
		g_autofree char *reason = g_strdup_printf("signal received (%s)", why);
		tldrs_daemon_quit(self, reason);
		break;
	}
	case SIGHUP:
		tldrs_daemon_reload(self, why);
		break;
	case SIGUSR1:
		g_info("%s: flushing every trace", why);
		tldrs_daemon_flush(self);
		break;
	default:
		g_info("%s: ignored", why);
		break;
	}
}

/* after listen() and any fork: signals, timers, and accepting */
gboolean
tldrs_daemon_start(TldrsDaemon *self, GError **error)
{
	g_return_val_if_fail(TLDRS_IS_DAEMON(self), FALSE);

	signal(SIGPIPE, SIG_IGN);
	/* a file size limit shows up as EFBIG on write(), handled like a full disk */
	signal(SIGXFSZ, SIG_IGN);
	/* held since before the socket was bound: a signal sent meanwhile is handled now */
	self->signals = tldrs_signals_new(tldrs_daemon_signal_cb, self, error);
	if (self->signals == NULL)
		return FALSE;
	tldrs_flush_scheduler_start(self->flush);
	tldrs_data_dir_lock_write_pid(self->lock);
	tldrs_listener_start(self->listener);
	/* open traces at once: a quarter of the file descriptors, at least 64 */
	if (tldrs_listener_get_nofile(self->listener) > 0) {
		guint64 per_trace = MAX(self->sinks->len, 1);
		tldrs_trace_table_set_max_traces(
		        self->traces,
		        (guint)MAX(tldrs_listener_get_nofile(self->listener) / 4 / per_trace, 64));
	}
	tldrs_daemon_start_idle_exit(self);
	tldrs_retention_start(self->retention);
	tldrs_activation_notify("READY=1");
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
	return self->lost_traces > 0 ? 1 : 0;
}

static void
tldrs_daemon_finish_shutdown(TldrsDaemon *self)
{
	if (self->shut_down)
		return;
	self->shut_down = TRUE;
	tldrs_sink_set_shutdown(self->sink_set);
	tldrs_trace_table_save_state(self->traces);
	if (self->lost_traces > 0)
		g_warning("stopped: events of %u traces could not be stored and are lost",
		          self->lost_traces);
	else
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
	 * closing them honours EMIT_TEF_AT_EXIT. The listener stops only afterwards:
	 * cancelling its accept in flight would drop a connection it has already taken */
	tldrs_listener_accept_backlog(self->listener);
	g_hash_table_iter_init(&iter, self->clients);
	while (g_hash_table_iter_next(&iter, &key, NULL))
		g_ptr_array_add(clients, g_object_ref(key));
	for (guint i = 0; i < clients->len; i++)
		tldrs_connection_drain_and_close(g_ptr_array_index(clients, i));
	tldrs_trace_table_close_pending(self->traces);
	tldrs_listener_stop(self->listener);

	tldrs_trace_table_flush_all(self->traces, TRUE);
	/* that was the last try: what is still not stored is lost, said per trace */
	self->lost_traces = tldrs_trace_table_give_up(self->traces);
	if (tldrs_tef_jobs_get_pending(self->tef_jobs) == 0)
		tldrs_daemon_finish_shutdown(self);
	return G_SOURCE_REMOVE;
}

/* the orderly shutdown of SIGTERM, SIGINT, SIGQUIT and DIE: nothing received is lost */
void
tldrs_daemon_quit(TldrsDaemon *self, const char *why)
{
	g_return_if_fail(TLDRS_IS_DAEMON(self));
	if (self->quitting)
		return;
	self->quitting = TRUE;
	tldrs_flush_scheduler_shutdown(self->flush);
	tldrs_trace_table_set_closing_at_once(self->traces, TRUE);
	g_info("shutting down: %s", why);
	tldrs_activation_notify("STOPPING=1");
	g_idle_add_full(
	        G_PRIORITY_HIGH, tldrs_daemon_shutdown_cb, g_object_ref(self), g_object_unref);
}

static void
tldrs_daemon_dispose(GObject *object)
{
	TldrsDaemon *self = TLDRS_DAEMON(object);

	g_clear_pointer(&self->signals, tldrs_signals_free);
	g_clear_handle_id(&self->idle_exit_id, g_source_remove);
	g_clear_pointer(&self->retention, tldrs_retention_free);
	if (self->tef_jobs != NULL)
		g_signal_handlers_disconnect_by_data(self->tef_jobs, self);
	g_clear_object(&self->listener);
	g_clear_pointer(&self->clients, g_hash_table_unref);
	g_clear_pointer(&self->awaiting, g_hash_table_unref);
	g_clear_pointer(&self->exit_targets, g_hash_table_unref);
	g_clear_object(&self->flush);
	/* the state file's last save may wait a moment: still under the data directory's lock */
	if (self->traces != NULL)
		g_signal_handlers_disconnect_by_data(self->traces, self);
	g_clear_object(&self->traces);
	self->sinks = NULL;
	g_clear_pointer(&self->sink_set, tldrs_sink_set_free);
	G_OBJECT_CLASS(tldrs_daemon_parent_class)->dispose(object);
}

static void
tldrs_daemon_finalize(GObject *object)
{
	TldrsDaemon *self = TLDRS_DAEMON(object);
	g_clear_pointer(&self->lock, tldrs_data_dir_lock_free);
	g_clear_pointer(&self->config, tldrs_config_free);
	g_clear_pointer(&self->loop, g_main_loop_unref);
	g_clear_object(&self->tef_jobs);
	g_clear_pointer(&self->checked, tldrs_checked_unref);
	g_clear_pointer(&self->clients_ctx, tldrs_connection_context_free);
	g_clear_pointer(&self->log_limit, tldrs_log_limit_free);
	G_OBJECT_CLASS(tldrs_daemon_parent_class)->finalize(object);
}

static void
tldrs_daemon_class_init(TldrsDaemonClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = tldrs_daemon_dispose;
	object_class->finalize = tldrs_daemon_finalize;

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
	self->clients = g_hash_table_new_full(g_direct_hash, g_direct_equal, g_object_unref, NULL);
	self->awaiting = g_hash_table_new_full(
	        g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
	self->exit_targets = g_hash_table_new_full(
	        g_str_hash, g_str_equal, g_free, (GDestroyNotify)tldrs_output_target_free);
	self->log_limit = tldrs_log_limit_new();
	self->loop = g_main_loop_new(NULL, FALSE);
}
