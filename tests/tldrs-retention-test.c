/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* Retention in-process: the oldest traces go first, over MaxTotalBytes or older than
 * MaxAgeSec, never one the daemon says is busy, and never a file that is not a trace. */

#include <string.h>
#include <sys/time.h>

#include <glib/gstdio.h>

#include "tldrs-retention.h"
#include "tldrs-test-util.h"

static char *
make_trace(const char *dir, const char *name, gsize bytes, gint64 age_sec)
{
	char *fn = g_build_filename(dir, name, NULL);
	g_autofree char *data = g_malloc(bytes);
	struct timeval tv[2];
	memset(data, 'x', bytes);
	g_assert_true(g_file_set_contents(fn, data, (gssize)bytes, NULL));
	tv[0].tv_sec = tv[1].tv_sec = (time_t)(g_get_real_time() / G_USEC_PER_SEC - age_sec);
	tv[0].tv_usec = tv[1].tv_usec = 0;
	g_assert_cmpint(utimes(fn, tv), ==, 0);
	return fn;
}

static gboolean
busy_cb(const char *id, gpointer user_data)
{
	return g_strv_contains(user_data, id);
}

static void
test_retention_limits(void)
{
	g_autofree char *dir = tldrs_test_mkdtemp();
	g_autoptr(TldrsConfig) config = tldrs_config_new();
	const char *busy[] = {"busy", NULL};
	g_autofree char *oldest = make_trace(dir, "oldest.jsonl", 1000, 400);
	g_autofree char *busy_fn = make_trace(dir, "busy.jsonl", 1000, 300);
	g_autofree char *older = make_trace(dir, "older.jsonl.gz", 1000, 200);
	g_autofree char *newer = make_trace(dir, "newer.jsonl", 1000, 100);
	g_autofree char *other = make_trace(dir, "notes.txt", 5000, 500);
	g_autoptr(TldrsRetention) retention = NULL;

	tldrs_config_set_data_dir(config, dir);
	config->retention_max_bytes = 2500;
	retention = tldrs_retention_new(config, busy_cb, busy);

	g_test_expect_message("tldrs", G_LOG_LEVEL_MESSAGE, "*deleted trace oldest*");
	g_test_expect_message("tldrs", G_LOG_LEVEL_MESSAGE, "*deleted trace older*");
	tldrs_retention_apply(retention);
	g_test_assert_expected_messages();
	g_assert_false(g_file_test(oldest, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(older, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(busy_fn, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(newer, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(other, G_FILE_TEST_EXISTS));

	/* by age: the busy trace stays even though it is old */
	config->retention_max_bytes = 0;
	config->retention_max_age_us = 50 * G_USEC_PER_SEC;
	g_test_expect_message("tldrs", G_LOG_LEVEL_MESSAGE, "*deleted trace newer*");
	tldrs_retention_apply(retention);
	g_test_assert_expected_messages();
	g_assert_false(g_file_test(newer, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(busy_fn, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(other, G_FILE_TEST_EXISTS));
	tldrs_test_rm_rf(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/retention/limits", test_retention_limits);
	return g_test_run();
}
