/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* TldrsStore in-process: the traces of a data directory, what a name resolves to, what
 * clear deletes and keeps. */

#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include <glib/gstdio.h>

#include "tldrs-store.h"
#include "tldrs-test-util.h"

static char *
put(const char *dir, const char *name, const char *text)
{
	char *fn = g_build_filename(dir, name, NULL);
	g_assert_true(g_file_set_contents(fn, text, -1, NULL));
	return fn;
}

static const char *ev = "{\"ph\":\"i\",\"name\":\"x\",\"ts\":1,\"pid\":1,\"tid\":1}\n";

static void
test_store_list_and_resolve(void)
{
	g_autofree char *dir = tldrs_test_mkdtemp();
	g_autofree char *a = put(dir, "tr-a.jsonl", ev);
	g_autofree char *agz = put(dir, "tr-a.jsonl.gz", "");
	g_autofree char *b = put(dir, "tr-b.json", "{\"traceEvents\":[]}");
	g_autofree char *other = put(dir, "notes.txt", "not a trace");
	g_autoptr(GPtrArray) traces = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *source = NULL;
	g_autofree char *id = NULL;
	TldrsStoredTrace *t;
	struct utimbuf old = {1000000, 1000000};

	/* tr-a is older: latest is tr-b */
	g_assert_cmpint(utime(a, &old), ==, 0);
	g_assert_cmpint(utime(agz, &old), ==, 0);
	traces = tldrs_store_list(dir, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(traces->len, ==, 2);
	t = tldrs_store_find(traces, "tr-a");
	g_assert_nonnull(t);
	/* of a trace stored both ways, .jsonl is read */
	g_assert_cmpstr(t->source, ==, a);
	g_assert_cmpuint(t->files->len, ==, 2);
	t = tldrs_store_find(traces, "tr-b");
	g_assert_nonnull(t);
	g_assert_null(t->source);
	g_assert_cmpstr(t->tef, ==, b);
	g_assert_null(tldrs_store_find(traces, "notes"));

	g_assert_true(tldrs_store_resolve(dir, "latest", &source, &id, &error));
	g_assert_cmpstr(id, ==, "tr-b");
	g_clear_pointer(&source, g_free);
	g_clear_pointer(&id, g_free);
	g_assert_true(tldrs_store_resolve(dir, "tr-a", &source, &id, &error));
	g_assert_cmpstr(source, ==, a);
	g_assert_cmpstr(id, ==, "tr-a");
	g_clear_pointer(&source, g_free);
	g_clear_pointer(&id, g_free);
	/* a path anywhere */
	g_assert_true(tldrs_store_resolve(dir, a, &source, &id, &error));
	g_assert_cmpstr(id, ==, "tr-a");
	g_clear_pointer(&source, g_free);
	g_clear_pointer(&id, g_free);
	g_assert_false(tldrs_store_resolve(dir, "tr-none", &source, &id, &error));
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "tr-none"));
	(void)other;
	tldrs_test_rm_rf(dir);
}

/* clear deletes trace files only, and none that an open trace holds */
static void
test_store_clear(void)
{
	g_autofree char *dir = tldrs_test_mkdtemp();
	g_autofree char *a = put(dir, "tr-a.jsonl", ev);
	g_autofree char *b = put(dir, "tr-b.jsonl.gz", "");
	g_autofree char *busy_file = put(dir, "tr-busy.jsonl", ev);
	g_autofree char *other = put(dir, "notes.txt", "not a trace");
	g_autoptr(GPtrArray) busy = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	guint deleted = 0;

	/* an open trace holds a shared lock on its files */
	int fd = g_open(busy_file, O_RDONLY | O_CLOEXEC, 0);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(flock(fd, LOCK_SH), ==, 0);
	g_assert_true(tldrs_store_clear(dir, &deleted, busy, &error));
	g_assert_no_error(error);
	close(fd);
	g_assert_cmpuint(deleted, ==, 2);
	g_assert_cmpuint(busy->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(busy, 0), ==, "tr-busy");
	g_assert_false(g_file_test(a, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(b, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(busy_file, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(other, G_FILE_TEST_EXISTS));
	tldrs_test_rm_rf(dir);
}

/* events are counted as the TEF writer counts them: objects only */
static void
test_store_count_events(void)
{
	g_autofree char *dir = tldrs_test_mkdtemp();
	g_autofree char *text = g_strconcat(ev, ev, "not json\n", ev, NULL);
	g_autofree char *fn = put(dir, "tr-c.jsonl", text);
	g_autoptr(GError) error = NULL;
	guint64 n = 0;

	g_assert_true(tldrs_store_count_events(fn, NULL, &n, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(n, ==, 3);
	tldrs_test_rm_rf(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/store/list-and-resolve", test_store_list_and_resolve);
	g_test_add_func("/tldrs/store/clear", test_store_clear);
	g_test_add_func("/tldrs/store/count-events", test_store_count_events);
	return g_test_run();
}
