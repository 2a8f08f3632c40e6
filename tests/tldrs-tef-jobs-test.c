/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* TEF jobs in-process: a job writes its file in a worker and reports on the main thread,
 * to its own callback and to "job-done", and says which traces are being read until then. */

#include <string.h>

#include "tldrs-tef-jobs.h"
#include "tldrs-test-util.h"

#define EVENT "{\"ph\":\"i\",\"name\":\"a\",\"ts\":1,\"pid\":1,\"tid\":1}\n"

typedef struct {
	guint done;
	guint signalled;
	guint idle;
	guint64 events;
	char *path;
	GError *error;
} JobResult;

static void
job_done_cb(const char *trace_id,
            const char *path,
            guint64 events,
            const GError *error,
            gpointer user_data)
{
	JobResult *r = user_data;
	g_assert_cmpstr(trace_id, ==, "tr-jobs");
	/* the signal came first */
	g_assert_cmpuint(r->signalled, ==, r->done + 1);
	r->done++;
	r->events = events;
	g_free(r->path);
	r->path = g_strdup(path);
	g_clear_error(&r->error);
	if (error != NULL)
		r->error = g_error_copy(error);
}

static void
job_signal_cb(TldrsTefJobs *jobs,
              const char *trace_id,
              const char *path,
              guint64 events,
              const GError *error,
              gpointer user_data)
{
	JobResult *r = user_data;
	(void)jobs;
	(void)trace_id;
	(void)path;
	(void)events;
	(void)error;
	r->signalled++;
}

static void
idle_cb(TldrsTefJobs *jobs, gpointer user_data)
{
	JobResult *r = user_data;
	g_assert_cmpuint(tldrs_tef_jobs_get_pending(jobs), ==, 0);
	r->idle++;
}

static void
wait_idle(JobResult *r, guint idle)
{
	while (r->idle < idle)
		g_main_context_iteration(NULL, TRUE);
}

static void
test_tef_jobs_write(void)
{
	g_autofree char *dir = tldrs_test_mkdtemp();
	g_autofree char *source = g_build_filename(dir, "tr-jobs.jsonl", NULL);
	g_autofree char *dest = g_build_filename(dir, "out.json", NULL);
	g_autofree char *bad_dest = g_build_filename(dir, "nosuch", "out.json", NULL);
	g_autoptr(TldrsTefJobs) jobs = tldrs_tef_jobs_new(NULL);
	g_autoptr(JsonNode) root = NULL;
	JobResult r = {0};

	g_assert_true(g_file_set_contents(source, EVENT EVENT, -1, NULL));
	g_signal_connect(jobs, "job-done", G_CALLBACK(job_signal_cb), &r);
	g_signal_connect(jobs, "idle", G_CALLBACK(idle_cb), &r);

	tldrs_tef_jobs_start(
	        jobs, source, dest, "tr-jobs", TLDRS_TEF_FORMAT_OBJECT, job_done_cb, &r);
	g_assert_true(tldrs_tef_jobs_is_reading(jobs, "tr-jobs"));
	g_assert_false(tldrs_tef_jobs_is_reading(jobs, "tr-other"));
	g_assert_cmpuint(tldrs_tef_jobs_get_pending(jobs), ==, 1);
	/* a snapshot: what is appended after the start is not read */
	{
		g_autofree char *more = g_strconcat(EVENT EVENT, EVENT, NULL);
		g_assert_true(g_file_set_contents(source, more, -1, NULL));
	}
	wait_idle(&r, 1);
	g_assert_cmpuint(r.done, ==, 1);
	g_assert_no_error(r.error);
	g_assert_cmpstr(r.path, ==, dest);
	g_assert_false(tldrs_tef_jobs_is_reading(jobs, "tr-jobs"));
	root = tldrs_test_load_tef(dest);
	g_assert_cmpuint(r.events, ==, 2);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 2);

	/* a file that cannot be written: an error for the callback, nothing left behind */
	tldrs_tef_jobs_start(
	        jobs, source, bad_dest, "tr-jobs", TLDRS_TEF_FORMAT_ARRAY, job_done_cb, &r);
	g_test_expect_message("tldrs", G_LOG_LEVEL_WARNING, "*cannot write TEF to*");
	wait_idle(&r, 2);
	g_test_assert_expected_messages();
	g_assert_cmpuint(r.done, ==, 2);
	g_assert_nonnull(r.error);
	g_assert_cmpuint(r.events, ==, 0);
	g_clear_error(&r.error);
	g_free(r.path);
	tldrs_test_rm_rf(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/tef-jobs/write", test_tef_jobs_write);
	return g_test_run();
}
