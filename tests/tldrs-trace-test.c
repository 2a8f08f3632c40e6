/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* TldrsTrace in-process, with a sink of the test's own: what is batched, when it reaches
 * the sinks, what a close tells them, and what a failing sink costs. */

#include <string.h>

#include "tldrs-error.h"
#include "tldrs-test-sink.h"
#include "tldrs-test-util.h"
#include "tldrs-trace.h"

#define EVENT "{\"ph\":\"i\",\"name\":\"a\",\"ts\":1,\"pid\":1,\"tid\":1}\n"

static GPtrArray *
sinks_of(TldrsTestSink *sink)
{
	GPtrArray *sinks = g_ptr_array_new_with_free_func(g_object_unref);
	g_ptr_array_add(sinks, g_object_ref(sink));
	return sinks;
}

/* small appends are batched until a flush; a flush with sync_sinks flushes the sinks */
static void
test_trace_batches(void)
{
	g_autoptr(TldrsTestSink) sink = tldrs_test_sink_new(NULL);
	g_autoptr(GPtrArray) sinks = sinks_of(sink);
	g_autoptr(TldrsTrace) trace = tldrs_trace_new("tr-1", NULL, sinks, NULL);
	TldrsTestSinkTrace *t = tldrs_test_sink_lookup(sink, "tr-1");

	g_assert_nonnull(t);
	tldrs_trace_append(trace, EVENT, strlen(EVENT), 1);
	tldrs_trace_append(trace, EVENT EVENT, 2 * strlen(EVENT), 2);
	g_assert_true(tldrs_trace_has_pending(trace));
	g_assert_cmpuint(t->writes, ==, 0);
	g_assert_cmpuint(tldrs_trace_get_events(trace), ==, 3);

	tldrs_trace_flush(trace, FALSE);
	g_assert_false(tldrs_trace_has_pending(trace));
	g_assert_cmpuint(t->writes, ==, 1);
	g_assert_cmpstr(t->data->str, ==, EVENT EVENT EVENT);
	g_assert_cmpuint(t->flushes, ==, 0);

	tldrs_trace_flush(trace, TRUE);
	g_assert_cmpuint(t->writes, ==, 1);
	g_assert_cmpuint(t->flushes, ==, 1);
	g_assert_cmpint(tldrs_trace_get_last_write(trace), >, 0);
}

/* a batch of TLDRS_TRACE_BATCH_BYTES goes to the sinks at once, in order */
static void
test_trace_large_batch(void)
{
	g_autoptr(TldrsTestSink) sink = tldrs_test_sink_new(NULL);
	g_autoptr(GPtrArray) sinks = sinks_of(sink);
	g_autoptr(TldrsTrace) trace = tldrs_trace_new("tr-big", NULL, sinks, NULL);
	TldrsTestSinkTrace *t = tldrs_test_sink_lookup(sink, "tr-big");
	g_autoptr(GString) big = g_string_new(NULL);
	guint n = 0;

	while (big->len < TLDRS_TRACE_BATCH_BYTES) {
		g_string_append(big, EVENT);
		n++;
	}
	tldrs_trace_append(trace, EVENT, strlen(EVENT), 1);
	g_assert_cmpuint(t->writes, ==, 0);
	tldrs_trace_append(trace, big->str, big->len, n);
	g_assert_cmpuint(t->writes, ==, 1);
	g_assert_false(tldrs_trace_has_pending(trace));
	g_assert_cmpuint(t->data->len, ==, big->len + strlen(EVENT));
	/* straight through when nothing is pending */
	tldrs_trace_append(trace, big->str, big->len, n);
	g_assert_cmpuint(t->writes, ==, 2);
	g_assert_cmpuint(tldrs_trace_get_events(trace), ==, 2 * n + 1);
}

/* closing: the last batch, then trace_complete() with the stored file, then close_trace() */
static void
test_trace_close(void)
{
	g_autofree char *dir = tldrs_test_mkdtemp();
	g_autoptr(TldrsTestSink) sink = tldrs_test_sink_new(dir);
	g_autoptr(GPtrArray) sinks = sinks_of(sink);
	g_autoptr(TldrsTrace) trace = tldrs_trace_new("tr-close", NULL, sinks, NULL);
	TldrsTestSinkTrace *t = tldrs_test_sink_lookup(sink, "tr-close");
	g_autofree char *stored = tldrs_trace_get_stored_file(trace);
	g_autofree char *expected = g_build_filename(dir, "tr-close.test", NULL);

	g_assert_cmpstr(stored, ==, expected);
	tldrs_trace_append(trace, EVENT, strlen(EVENT), 1);
	tldrs_trace_close(trace);
	g_assert_true(tldrs_trace_is_closed(trace));
	g_assert_cmpstr(t->data->str, ==, EVENT);
	g_assert_cmpstr(t->completed, ==, expected);
	g_assert_true(t->closed);
	/* nothing is stored any more */
	g_assert_null(tldrs_trace_get_stored_file(trace));
	tldrs_trace_flush(trace, TRUE);
	tldrs_test_rm_rf(dir);
}

/* clients, refusals and EMIT_TEF_AT_EXIT paths are counted once each */
static void
test_trace_bookkeeping(void)
{
	g_autoptr(TldrsTestSink) sink = tldrs_test_sink_new(NULL);
	g_autoptr(GPtrArray) sinks = sinks_of(sink);
	g_autoptr(TldrsTrace) trace = tldrs_trace_new("tr-books", NULL, sinks, NULL);
	g_autoptr(GPtrArray) paths = NULL;
	g_autoptr(GError) error = NULL;

	tldrs_trace_add_client(trace);
	tldrs_trace_add_client(trace);
	g_assert_cmpuint(tldrs_trace_get_clients(trace), ==, 2);
	g_assert_cmpuint(tldrs_trace_remove_client(trace), ==, 1);
	tldrs_trace_add_refused(trace);
	g_assert_cmpuint(tldrs_trace_get_refused(trace), ==, 1);
	g_assert_true(tldrs_trace_add_exit_path(trace, "/tmp/a.json", 2, NULL));
	g_assert_true(tldrs_trace_add_exit_path(trace, "/tmp/b.json", 2, NULL));
	/* a duplicate is kept once, and is no refusal even at the cap */
	g_assert_true(tldrs_trace_add_exit_path(trace, "/tmp/a.json", 2, NULL));
	g_assert_false(tldrs_trace_add_exit_path(trace, "/tmp/c.json", 2, &error));
	g_assert_error(error, TLDRS_ERROR, TLDRS_ERROR_BUSY);
	g_assert_nonnull(strstr(error->message, "MaxAtExitPaths=2"));
	g_assert_cmpuint(tldrs_trace_get_n_exit_paths(trace), ==, 2);
	paths = tldrs_trace_steal_exit_paths(trace);
	g_assert_cmpuint(paths->len, ==, 2);
	g_assert_cmpstr(g_ptr_array_index(paths, 0), ==, "/tmp/a.json");
	g_assert_cmpstr(g_ptr_array_index(paths, 1), ==, "/tmp/b.json");
	g_ptr_array_unref(g_steal_pointer(&paths));
	paths = tldrs_trace_steal_exit_paths(trace);
	g_assert_cmpuint(paths->len, ==, 0);
	/* the duplicate check starts again with the paths */
	g_assert_true(tldrs_trace_add_exit_path(trace, "/tmp/a.json", 2, NULL));
	g_assert_cmpuint(tldrs_trace_get_n_exit_paths(trace), ==, 1);
}

/* a failing sink is warned about once, counted per attempt, and told again when it works */
static void
test_trace_failing_sink(void)
{
	g_autoptr(TldrsTestSink) sink = tldrs_test_sink_new(NULL);
	g_autoptr(GPtrArray) sinks = sinks_of(sink);
	g_autoptr(TldrsTrace) trace = tldrs_trace_new("tr-fail", NULL, sinks, NULL);

	tldrs_test_sink_set_failing(sink, TRUE);
	g_test_expect_message("tldrs", G_LOG_LEVEL_WARNING, "*sink test: test sink is full*");
	tldrs_trace_append(trace, EVENT, strlen(EVENT), 1);
	tldrs_trace_flush(trace, TRUE);
	g_test_assert_expected_messages();
	g_assert_cmpuint(tldrs_trace_get_write_errors(trace), ==, 2);
	tldrs_test_sink_set_failing(sink, FALSE);
	g_test_expect_message("tldrs", G_LOG_LEVEL_MESSAGE, "*sink test works again*");
	tldrs_trace_flush(trace, TRUE);
	g_test_assert_expected_messages();
	g_assert_cmpuint(tldrs_trace_get_write_errors(trace), ==, 2);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/trace/batches", test_trace_batches);
	g_test_add_func("/tldrs/trace/large-batch", test_trace_large_batch);
	g_test_add_func("/tldrs/trace/close", test_trace_close);
	g_test_add_func("/tldrs/trace/bookkeeping", test_trace_bookkeeping);
	g_test_add_func("/tldrs/trace/failing-sink", test_trace_failing_sink);
	return g_test_run();
}
