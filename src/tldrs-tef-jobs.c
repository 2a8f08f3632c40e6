/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <fcntl.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "tldrs-nats-reader.h"
#include "tldrs-tef-jobs.h"

/* The TEF writer jobs: each writes one TEF file from a trace's stored file, in a GTask
 * worker thread, and reports back on the main thread — to the one who asked (a callback),
 * and to anyone listening (the "job-done" signal). While a job reads a trace's file,
 * tldrs_tef_jobs_is_reading() says so, and retention leaves the trace alone. */

struct _TldrsTefJobs {
	GObject parent_instance;
	TldrsChecked *checked; /* what the daemon vouches for: such lines are copied as they are */
	guint pending;
	GHashTable *reading; /* trace id -> jobs reading its stored file */
};

G_DEFINE_TYPE(TldrsTefJobs, tldrs_tef_jobs, G_TYPE_OBJECT)

enum {
	SIGNAL_JOB_DONE,
	SIGNAL_IDLE,
	SIGNAL_LAST,
};

static guint tldrs_tef_jobs_signals[SIGNAL_LAST] = {0};

typedef struct {
	char *source;
	guint64 source_limit;
	char *dest;                /* target->path, for messages and callbacks */
	TldrsOutputTarget *target; /* NULL when its directory could not be opened */
	GError *open_error;
	char *trace_id;
	TldrsTefFormat format;
	guint64 events;
	TldrsTefJobDoneFunc done;
	gpointer done_data;
	char *nats_url; /* read the trace from NATS JetStream instead of @source */
	char *nats_stream;
} TldrsTefJob;

static void
tldrs_tef_job_free(TldrsTefJob *job)
{
	g_free(job->source);
	g_free(job->dest);
	tldrs_output_target_free(job->target);
	g_clear_error(&job->open_error);
	g_free(job->trace_id);
	g_free(job->nats_url);
	g_free(job->nats_stream);
	g_free(job);
}

/* in a worker: @target is written atomically; a @source that does not exist (yet) is an
 * empty trace */
static gboolean
tldrs_tef_jobs_write(TldrsChecked *checked,
                     const char *source,
                     guint64 source_limit,
                     const TldrsOutputTarget *target,
                     TldrsTefFormat format,
                     const char *trace_id,
                     guint64 *events,
                     GError **error)
{
	TldrsTefStats stats = {0};

	/* a trace without any event yet has no file: an empty trace */
	if (source != NULL && !g_file_test(source, G_FILE_TEST_EXISTS))
		source = NULL;
	if (!tldrs_tef_write_target(source,
	                            source_limit,
	                            target,
	                            format,
	                            trace_id,
	                            checked,
	                            NULL,
	                            NULL,
	                            &stats,
	                            error))
		return FALSE;
	*events = stats.events;
	return TRUE;
}

static void
tldrs_tef_jobs_thread(GTask *task,
                      gpointer source_object,
                      gpointer task_data,
                      GCancellable *cancellable)
{
	TldrsTefJob *job = task_data;
	TldrsTefJobs *self = TLDRS_TEF_JOBS(source_object);
	g_autoptr(GError) error = NULL;
	g_autofree char *nats_tmp = NULL;
	g_auto(TldrsNatsTmpFd) nats_fd = -1;
	gboolean ok;
	(void)cancellable;

	if (job->open_error != NULL) {
		g_task_return_error(task, g_error_copy(job->open_error));
		return;
	}
	/* every host's events, from JetStream, into a temporary file without a name beside the
	 * target, which the writer reads as /proc/self/fd/N */
	if (job->nats_url != NULL) {
		g_autofree char *dir = g_path_get_dirname(job->target->path);
		nats_fd = tldrs_nats_read_trace_to_tmp(job->nats_url,
		                                       job->nats_stream,
		                                       job->trace_id,
		                                       job->target->dirfd,
		                                       dir,
		                                       NULL,
		                                       &error);
		if (nats_fd < 0) {
			g_task_return_error(task, g_steal_pointer(&error));
			return;
		}
		nats_tmp = g_strdup_printf("/proc/self/fd/%d", nats_fd);
	}
	ok = tldrs_tef_jobs_write(self->checked,
	                          nats_tmp != NULL ? nats_tmp : job->source,
	                          job->source_limit,
	                          job->target,
	                          job->format,
	                          job->trace_id,
	                          &job->events,
	                          &error);
	if (!ok) {
		g_task_return_error(task, g_steal_pointer(&error));
		return;
	}
	g_task_return_boolean(task, TRUE);
}

static void
tldrs_tef_jobs_done_cb(GObject *source_object, GAsyncResult *res, gpointer user_data)
{
	TldrsTefJobs *self = TLDRS_TEF_JOBS(source_object);
	TldrsTefJob *job = g_task_get_task_data(G_TASK(res));
	g_autoptr(GError) error = NULL;
	guint n;
	(void)user_data;

	if (!g_task_propagate_boolean(G_TASK(res), &error)) {
		job->events = 0;
		g_warning("trace %s: cannot write TEF to %s: %s",
		          job->trace_id,
		          job->dest,
		          error->message);
	} else {
		g_info("trace %s: wrote %s (%" G_GUINT64_FORMAT " events)",
		       job->trace_id,
		       job->dest,
		       job->events);
	}
	self->pending--;
	n = GPOINTER_TO_UINT(g_hash_table_lookup(self->reading, job->trace_id));
	if (n <= 1)
		g_hash_table_remove(self->reading, job->trace_id);
	else
		g_hash_table_insert(
		        self->reading, g_strdup(job->trace_id), GUINT_TO_POINTER(n - 1));
	g_signal_emit(self,
	              tldrs_tef_jobs_signals[SIGNAL_JOB_DONE],
	              0,
	              job->trace_id,
	              job->dest,
	              job->events,
	              error);
	if (job->done != NULL)
		job->done(job->trace_id, job->dest, job->events, error, job->done_data);
	if (self->pending == 0)
		g_signal_emit(self, tldrs_tef_jobs_signals[SIGNAL_IDLE], 0);
}

/* the gzip magic, as the reader sniffs it */
static gboolean
tldrs_tef_jobs_is_gzip(const char *path)
{
	guint8 magic[2] = {0, 0};
	int fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
	gssize n;
	if (fd < 0)
		return FALSE;
	n = read(fd, magic, sizeof(magic));
	close(fd);
	return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

/* queues a job for @target (or, when its directory could not be opened, for @dest with
 * @open_error, reported like any failure once the job runs) */
static void
tldrs_tef_jobs_queue(TldrsTefJobs *self,
                     const char *source,
                     TldrsOutputTarget *target,
                     const char *dest,
                     GError *open_error,
                     const char *trace_id,
                     TldrsTefFormat format,
                     const char *nats_url,
                     const char *nats_stream,
                     TldrsTefJobDoneFunc done,
                     gpointer done_data)
{
	g_autoptr(GTask) task = g_task_new(self, NULL, tldrs_tef_jobs_done_cb, NULL);
	TldrsTefJob *job = g_new0(TldrsTefJob, 1);
	GStatBuf sb;

	job->source = g_strdup(source);
	job->source_limit = G_MAXUINT64;
	/* a snapshot: what a plain file holds now, not what is appended while we read (a
	 * compressed one is read to its last complete member) */
	if (source != NULL && !tldrs_tef_jobs_is_gzip(source) && g_stat(source, &sb) == 0)
		job->source_limit = (guint64)sb.st_size;
	job->dest = g_strdup(dest);
	job->target = target;
	job->open_error = open_error;
	job->trace_id = g_strdup(trace_id);
	job->format = format;
	job->nats_url = g_strdup(nats_url);
	job->nats_stream = g_strdup(nats_stream);
	job->done = done;
	job->done_data = done_data;
	g_task_set_task_data(task, job, (GDestroyNotify)tldrs_tef_job_free);
	self->pending++;
	g_hash_table_insert(
	        self->reading,
	        g_strdup(trace_id),
	        GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(self->reading, trace_id)) +
	                         1));
	g_task_run_in_thread(task, tldrs_tef_jobs_thread);
}

/**
 * tldrs_tef_jobs_start_target:
 * @source: (nullable): the trace's stored file (`.jsonl` or `.jsonl.gz`), %NULL: none yet
 * @target: (transfer full): the TEF file to write, checked and its directory opened
 * @done: (nullable): called once the file is complete or has failed
 *
 * Writes @target from what @source holds now (a snapshot: lines appended meanwhile are not
 * read, where the file's form allows cutting it).
 */
void
tldrs_tef_jobs_start_target(TldrsTefJobs *self,
                            const char *source,
                            TldrsOutputTarget *target,
                            const char *trace_id,
                            TldrsTefFormat format,
                            TldrsTefJobDoneFunc done,
                            gpointer done_data)
{
	g_return_if_fail(TLDRS_IS_TEF_JOBS(self));
	g_return_if_fail(target != NULL);
	g_return_if_fail(trace_id != NULL);
	tldrs_tef_jobs_queue(self,
	                     source,
	                     target,
	                     target->path,
	                     NULL,
	                     trace_id,
	                     format,
	                     NULL,
	                     NULL,
	                     done,
	                     done_data);
}

/**
 * tldrs_tef_jobs_start_nats:
 * @url: a NATS URL
 * @stream: (nullable): the JetStream stream, %NULL for the default
 * @target: (transfer full): the TEF file to write, checked and its directory opened
 *
 * Writes @target from the events of @trace_id that nats sinks published to @stream at @url,
 * every host's (see tldrs_nats_read_trace()).
 */
void
tldrs_tef_jobs_start_nats(TldrsTefJobs *self,
                          const char *url,
                          const char *stream,
                          TldrsOutputTarget *target,
                          const char *trace_id,
                          TldrsTefFormat format,
                          TldrsTefJobDoneFunc done,
                          gpointer done_data)
{
	g_return_if_fail(TLDRS_IS_TEF_JOBS(self));
	g_return_if_fail(url != NULL);
	g_return_if_fail(target != NULL);
	g_return_if_fail(trace_id != NULL);
	tldrs_tef_jobs_queue(self,
	                     NULL,
	                     target,
	                     target->path,
	                     NULL,
	                     trace_id,
	                     format,
	                     url,
	                     stream,
	                     done,
	                     done_data);
}

/**
 * tldrs_tef_jobs_start:
 * @dest: the TEF file to write, an absolute path the caller has checked
 *
 * tldrs_tef_jobs_start_target() for a path: its directory is opened now.
 */
void
tldrs_tef_jobs_start(TldrsTefJobs *self,
                     const char *source,
                     const char *dest,
                     const char *trace_id,
                     TldrsTefFormat format,
                     TldrsTefJobDoneFunc done,
                     gpointer done_data)
{
	GError *error = NULL;
	TldrsOutputTarget *target;

	g_return_if_fail(TLDRS_IS_TEF_JOBS(self));
	g_return_if_fail(dest != NULL);
	g_return_if_fail(trace_id != NULL);
	target = tldrs_output_target_new(dest, &error);
	tldrs_tef_jobs_queue(
	        self, source, target, dest, error, trace_id, format, NULL, NULL, done, done_data);
}

/* jobs started and not done yet */
guint
tldrs_tef_jobs_get_pending(TldrsTefJobs *self)
{
	g_return_val_if_fail(TLDRS_IS_TEF_JOBS(self), 0);
	return self->pending;
}

/* TRUE while a job reads @trace_id's stored file */
gboolean
tldrs_tef_jobs_is_reading(TldrsTefJobs *self, const char *trace_id)
{
	g_return_val_if_fail(TLDRS_IS_TEF_JOBS(self), FALSE);
	return g_hash_table_contains(self->reading, trace_id);
}

static void
tldrs_tef_jobs_finalize(GObject *object)
{
	TldrsTefJobs *self = TLDRS_TEF_JOBS(object);
	g_hash_table_unref(self->reading);
	g_clear_pointer(&self->checked, tldrs_checked_unref);
	G_OBJECT_CLASS(tldrs_tef_jobs_parent_class)->finalize(object);
}

static void
tldrs_tef_jobs_class_init(TldrsTefJobsClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = tldrs_tef_jobs_finalize;

	/**
	 * TldrsTefJobs::job-done:
	 * @trace_id: the trace
	 * @path: the TEF file
	 * @events: the events written
	 * @error: (nullable): why the file could not be written, %NULL when it is complete
	 *
	 * A job is over, before its own callback runs.
	 */
	tldrs_tef_jobs_signals[SIGNAL_JOB_DONE] = g_signal_new("job-done",
	                                                       G_TYPE_FROM_CLASS(klass),
	                                                       G_SIGNAL_RUN_LAST,
	                                                       0,
	                                                       NULL,
	                                                       NULL,
	                                                       NULL,
	                                                       G_TYPE_NONE,
	                                                       4,
	                                                       G_TYPE_STRING,
	                                                       G_TYPE_STRING,
	                                                       G_TYPE_UINT64,
	                                                       G_TYPE_ERROR);
	/**
	 * TldrsTefJobs::idle:
	 *
	 * The last pending job is over (after its callback).
	 */
	tldrs_tef_jobs_signals[SIGNAL_IDLE] = g_signal_new("idle",
	                                                   G_TYPE_FROM_CLASS(klass),
	                                                   G_SIGNAL_RUN_LAST,
	                                                   0,
	                                                   NULL,
	                                                   NULL,
	                                                   NULL,
	                                                   G_TYPE_NONE,
	                                                   0);
}

static void
tldrs_tef_jobs_init(TldrsTefJobs *self)
{
	self->reading = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

/* @checked: (nullable): what the daemon vouches for */
TldrsTefJobs *
tldrs_tef_jobs_new(TldrsChecked *checked)
{
	TldrsTefJobs *self = g_object_new(TLDRS_TYPE_TEF_JOBS, NULL);
	self->checked = checked != NULL ? tldrs_checked_ref(checked) : NULL;
	return self;
}
