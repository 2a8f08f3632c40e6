/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The flush scheduler in-process: a dirty trace is written out when the main loop is
 * idle, the periodic signal comes every interval, and a sink's backlog pauses reading
 * until it has shrunk. Every wait is for the event itself, with a deadline. */

#include <string.h>

#include "tldrs-flush-scheduler.h"
#include "tldrs-test-sink.h"

#define EVENT "{\"ph\":\"i\",\"name\":\"a\",\"ts\":1,\"pid\":1,\"tid\":1}\n"

static void
count_cb(gpointer instance, gpointer user_data)
{
	(void)instance;
	(*(guint *)user_data)++;
}

static void
paused_cb(TldrsFlushScheduler *flush, gboolean paused, gpointer user_data)
{
	(void)flush;
	g_ptr_array_add(user_data, GINT_TO_POINTER(paused ? 1 : 2));
}

/* iterate the main loop until *@n reaches @want, at most 10 s */
static void
iterate_until(const guint *n, guint want)
{
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	while (*n < want) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(NULL, TRUE);
	}
}

static void
test_flush_scheduler_idle_flush(void)
{
	g_autoptr(TldrsTestSink) sink = tldrs_test_sink_new(NULL);
	g_autoptr(GPtrArray) sinks = g_ptr_array_new_with_free_func(g_object_unref);
	g_autoptr(TldrsFlushScheduler) flush = NULL;
	g_autoptr(TldrsTrace) trace = NULL;
	g_autoptr(TldrsTrace) forgotten = NULL;
	TldrsTestSinkTrace *t;
	guint periodic = 0;

	g_ptr_array_add(sinks, g_object_ref(sink));
	flush = tldrs_flush_scheduler_new(sinks, 20 * 1000);
	g_signal_connect(flush, "periodic", G_CALLBACK(count_cb), &periodic);
	trace = tldrs_trace_new("tr-dirty", NULL, sinks, NULL);
	forgotten = tldrs_trace_new("tr-gone", NULL, sinks, NULL);
	t = tldrs_test_sink_lookup(sink, "tr-dirty");

	tldrs_trace_append(trace, EVENT, strlen(EVENT), 1);
	tldrs_flush_scheduler_trace_dirty(flush, trace);
	tldrs_flush_scheduler_trace_dirty(flush, trace);
	g_assert_true(tldrs_trace_get_queued(trace));
	tldrs_trace_append(forgotten, EVENT, strlen(EVENT), 1);
	tldrs_flush_scheduler_trace_dirty(flush, forgotten);
	tldrs_flush_scheduler_forget(flush, forgotten);
	g_assert_false(tldrs_trace_get_queued(forgotten));

	iterate_until(&t->writes, 1);
	g_assert_cmpstr(t->data->str, ==, EVENT);
	g_assert_false(tldrs_trace_get_queued(trace));
	/* the forgotten trace is its owner's to flush */
	g_assert_true(tldrs_trace_has_pending(forgotten));

	tldrs_flush_scheduler_start(flush);
	iterate_until(&periodic, 2);
}

static void
test_flush_scheduler_backpressure(void)
{
	g_autoptr(TldrsTestSink) sink = tldrs_test_sink_new(NULL);
	g_autoptr(GPtrArray) sinks = g_ptr_array_new_with_free_func(g_object_unref);
	g_autoptr(GPtrArray) events = g_ptr_array_new();
	g_autoptr(TldrsFlushScheduler) flush = NULL;
	g_autoptr(TldrsTrace) trace = NULL;

	g_ptr_array_add(sinks, g_object_ref(sink));
	flush = tldrs_flush_scheduler_new(sinks, G_USEC_PER_SEC);
	g_signal_connect(flush, "paused", G_CALLBACK(paused_cb), events);
	trace = tldrs_trace_new("tr-behind", NULL, sinks, NULL);

	tldrs_test_sink_set_backlog(sink, TLDRS_FLUSH_SCHEDULER_BACKLOG_HIGH);
	tldrs_flush_scheduler_trace_dirty(flush, trace);
	g_assert_cmpuint(events->len, ==, 0);
	tldrs_test_sink_set_backlog(sink, TLDRS_FLUSH_SCHEDULER_BACKLOG_HIGH + 1);
	tldrs_flush_scheduler_trace_dirty(flush, trace);
	g_assert_cmpuint(events->len, ==, 1);
	g_assert_true(tldrs_flush_scheduler_get_paused(flush));
	/* still behind: no second signal, and no resume above the low mark */
	tldrs_flush_scheduler_trace_dirty(flush, trace);
	tldrs_test_sink_set_backlog(sink, TLDRS_FLUSH_SCHEDULER_BACKLOG_LOW + 1);
	for (guint i = 0; i < 5; i++)
		g_main_context_iteration(NULL, TRUE);
	g_assert_cmpuint(events->len, ==, 1);
	tldrs_test_sink_set_backlog(sink, TLDRS_FLUSH_SCHEDULER_BACKLOG_LOW);
	iterate_until(&events->len, 2);
	g_assert_cmpint(GPOINTER_TO_INT(g_ptr_array_index(events, 1)), ==, 2);
	g_assert_false(tldrs_flush_scheduler_get_paused(flush));

	/* shutting down: reading never pauses again */
	tldrs_flush_scheduler_shutdown(flush);
	tldrs_test_sink_set_backlog(sink, TLDRS_FLUSH_SCHEDULER_BACKLOG_HIGH * 2);
	tldrs_flush_scheduler_trace_dirty(flush, trace);
	g_assert_cmpuint(events->len, ==, 2);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/flush-scheduler/idle-flush", test_flush_scheduler_idle_flush);
	g_test_add_func("/tldrs/flush-scheduler/backpressure", test_flush_scheduler_backpressure);
	return g_test_run();
}
