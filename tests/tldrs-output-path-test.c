/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* Where a TEF file may be written: the four refusals, and what is allowed. */

#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "tldrs-error.h"
#include "tldrs-output-path.h"
#include "tldrs-test-util.h"

static void
assert_refused(const char *path, const TldrsOwnFiles *own, const char *reason)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(TldrsOutputTarget) target = tldrs_output_path_open(path, own, &error);
	g_assert_null(target);
	g_assert_error(error, TLDRS_ERROR, TLDRS_ERROR_INVALID_PATH);
	if (!g_str_has_prefix(error->message, reason))
		g_error("%s: \"%s\", expected \"%s…\"", path, error->message, reason);
}

static void
test_output_path_check(void)
{
	g_autofree char *dir = tldrs_test_mkdtemp();
	g_autofree char *data = g_build_filename(dir, "data", NULL);
	g_autofree char *into = g_build_filename(dir, "into.jsonl", NULL);
	g_autofree char *sock = g_build_filename(dir, "tldrs.socket", NULL);
	g_autofree char *ok = g_build_filename(dir, "out.json", NULL);
	g_autofree char *in_data = g_build_filename(data, "t.json", NULL);
	g_autofree char *own_jsonl = g_build_filename(data, "t.jsonl", NULL);
	g_autofree char *own_gz = g_build_filename(data, "t.jsonl.gz", NULL);
	g_autofree char *own_dot = g_build_filename(data, ".tldrs-state.json", NULL);
	g_autofree char *missing = g_build_filename(dir, "nosuch", "x.json", NULL);
	g_autofree char *into_link = g_build_filename(dir, "link", NULL);
	static const char *const suffixes[] = {".jsonl", ".jsonl.gz", NULL};
	TldrsOwnFiles own = {
	        .data_dir = data,
	        .suffixes = suffixes,
	        .into_file = into,
	        .socket_paths = {sock, NULL},
	};
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(g_mkdir(data, 0700), ==, 0);
	g_assert_true(g_file_set_contents(into, "", 0, NULL));
	g_assert_cmpint(symlink(into, into_link), ==, 0);

	{
		g_autoptr(TldrsOutputTarget) t1 = tldrs_output_path_open(ok, &own, &error);
		g_assert_no_error(error);
		g_assert_nonnull(t1);
	}
	{
		g_autoptr(TldrsOutputTarget) t2 = tldrs_output_path_open(in_data, &own, &error);
		g_assert_no_error(error);
		g_assert_nonnull(t2);
	}

	assert_refused("out.json", &own, "output path is not absolute: ");
	assert_refused(dir, &own, "output path is a directory: ");
	assert_refused("/tmp/", &own, "output path is a directory: ");
	assert_refused(missing, &own, "directory does not exist: ");
	assert_refused(own_jsonl, &own, "output path is one of tldrs's own files: ");
	assert_refused(own_gz, &own, "output path is one of tldrs's own files: ");
	assert_refused(own_dot, &own, "output path is one of tldrs's own files: ");
	assert_refused(into_link, &own, "output path is one of tldrs's own files: ");
	assert_refused(sock, &own, "output path is one of tldrs's own files: ");
	{
		g_autofree char *name = g_strnfill(300, 'n');
		g_autofree char *long_name = g_build_filename(dir, name, NULL);
		g_autofree char *deep = g_strnfill(5000, 'd');
		g_autofree char *long_path = g_strconcat("/", deep, NULL);
		assert_refused(long_name, &own, "output path too long ");
		assert_refused(long_path, &own, "output path too long ");
	}
	tldrs_test_rm_rf(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/output-path/check", test_output_path_check);
	return g_test_run();
}
