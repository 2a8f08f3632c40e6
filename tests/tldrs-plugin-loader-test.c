/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The plugin loader in-process, on the build tree's plugins (TLDRS_PLUGIN_DIR): what each
 * sink says it is, the order of the list, and the errors of a missing plugin. */

#include <string.h>

#include <glib/gstdio.h>

#include "tldrs-error.h"
#include "tldrs-plugin-loader.h"

static const char *
plugin_dir(void)
{
	const char *dir = g_getenv("TLDRS_PLUGIN_DIR");
	g_assert_nonnull(dir);
	return dir;
}

static void
test_plugin_loader_describe(void)
{
	const TldrsSinkInfo *jsonl = tldrs_plugin_loader_find_info(plugin_dir(), "jsonl");
	const TldrsSinkInfo *gzip = tldrs_plugin_loader_find_info(plugin_dir(), "gzip");
	const TldrsSinkInfo *tef = tldrs_plugin_loader_find_info(plugin_dir(), "tef");

	g_assert_nonnull(jsonl);
	g_assert_cmpstr(jsonl->name, ==, "jsonl");
	g_assert_cmpstr(jsonl->suffix, ==, ".jsonl");
	g_assert_true(jsonl->flags & TLDRS_SINK_FLAG_STORES_EVENTS);
	g_assert_true(jsonl->flags & TLDRS_SINK_FLAG_APPENDS_VERBATIM);
	g_assert_true(jsonl->flags & TLDRS_SINK_FLAG_INTO_FILE);
	g_assert_null(jsonl->config_keys[0]);

	g_assert_nonnull(gzip);
	g_assert_cmpstr(gzip->suffix, ==, ".jsonl.gz");
	g_assert_true(gzip->flags & TLDRS_SINK_FLAG_STORES_EVENTS);
	g_assert_false(gzip->flags & TLDRS_SINK_FLAG_APPENDS_VERBATIM);
	g_assert_true(g_strv_contains(gzip->config_keys, "Level"));

	g_assert_nonnull(tef);
	g_assert_false(tef->flags & TLDRS_SINK_FLAG_STORES_EVENTS);
	g_assert_true(tef->flags & TLDRS_SINK_FLAG_NEEDS_STORED_EVENTS);
	g_assert_true(g_strv_contains(tef->config_keys, "OutputDir"));
	g_assert_true(g_strv_contains(tef->config_keys, "Format"));

	g_assert_null(tldrs_plugin_loader_find_info(plugin_dir(), "nosuch"));
}

/* in the order of the directories: the build tree lists jsonl, gzip, tef (and nats, when
 * built with libnats) */
static void
test_plugin_loader_list(void)
{
	g_autoptr(GPtrArray) infos = tldrs_plugin_loader_list(plugin_dir());
	g_assert_cmpuint(infos->len, ==, TLDRS_HAVE_NATS ? 4 : 3);
	if (TLDRS_HAVE_NATS)
		g_assert_cmpstr(
		        ((const TldrsSinkInfo *)g_ptr_array_index(infos, 3))->name, ==, "nats");
	g_assert_cmpstr(((const TldrsSinkInfo *)g_ptr_array_index(infos, 0))->name, ==, "jsonl");
	g_assert_cmpstr(((const TldrsSinkInfo *)g_ptr_array_index(infos, 1))->name, ==, "gzip");
	g_assert_cmpstr(((const TldrsSinkInfo *)g_ptr_array_index(infos, 2))->name, ==, "tef");
}

/* describing and listing read the descriptions beside the plugins (tldrs-sink-NAME.sink):
 * no module is opened, so an unused nats plugin never maps libnats */
static void
test_plugin_loader_describe_without_loading(void)
{
	g_autoptr(GPtrArray) infos = tldrs_plugin_loader_list(plugin_dir());
	g_autofree char *maps = NULL;

	g_assert_cmpuint(infos->len, >=, 3);
	g_assert_nonnull(tldrs_plugin_loader_find_info(plugin_dir(), "gzip"));
	g_assert_true(g_file_get_contents("/proc/self/maps", &maps, NULL, NULL));
	g_assert_null(strstr(maps, "tldrs-sink-"));
	g_assert_null(strstr(maps, "libnats"));
}

/* a description that is not the plugin's: the daemon went by it, so loading is refused */
static void
test_plugin_loader_description_mismatch(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *tmp = g_dir_make_tmp("tldrs-loader-XXXXXX", NULL);
	g_autofree char *src = tldrs_plugin_loader_path(plugin_dir(), "jsonl");
	g_autofree char *dst = g_build_filename(tmp, "tldrs-sink-jsonl." G_MODULE_SUFFIX, NULL);
	g_autofree char *desc = g_build_filename(tmp, "tldrs-sink-jsonl.sink", NULL);
	g_autofree char *contents = NULL;
	gsize len = 0;
	const TldrsSinkInfo *info;
	g_autoptr(TldrsSink) sink = NULL;

	g_assert_true(g_file_get_contents(src, &contents, &len, NULL));
	g_assert_true(g_file_set_contents(dst, contents, (gssize)len, NULL));
	g_assert_true(g_file_set_contents(desc,
	                                  "[Sink Plugin]\nName=jsonl\nSuffix=.jsonl\n"
	                                  "Flags=stores-events;\nConfigKeys=Extra;\n"
	                                  "AbiVersion=3\n",
	                                  -1,
	                                  NULL));
	info = tldrs_plugin_loader_find_info(tmp, "jsonl");
	g_assert_nonnull(info);
	g_assert_true(g_strv_contains(info->config_keys, "Extra"));
	sink = tldrs_plugin_loader_load_sink(tmp, "jsonl", &error);
	g_assert_null(sink);
	g_assert_error(error, TLDRS_ERROR, TLDRS_ERROR_FAILED);
	g_assert_nonnull(strstr(error->message, "tldrs-sink-jsonl.sink does not match"));
	g_unlink(desc);
	g_unlink(dst);
	g_rmdir(tmp);
}

static void
test_plugin_loader_load(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(TldrsSink) sink = tldrs_plugin_loader_load_sink(plugin_dir(), "jsonl", &error);
	g_autoptr(TldrsSink) none = NULL;

	g_assert_no_error(error);
	g_assert_true(TLDRS_IS_SINK(sink));
	g_assert_cmpstr(tldrs_sink_get_info(sink)->name, ==, "jsonl");
	none = tldrs_plugin_loader_load_sink(plugin_dir(), "nosuch", &error);
	g_assert_null(none);
	g_assert_error(error, TLDRS_ERROR, TLDRS_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "unknown sink \"nosuch\": no tldrs-sink-nosuch."));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/plugin-loader/describe-without-loading",
	                test_plugin_loader_describe_without_loading);
	g_test_add_func("/tldrs/plugin-loader/describe", test_plugin_loader_describe);
	g_test_add_func("/tldrs/plugin-loader/list", test_plugin_loader_list);
	g_test_add_func("/tldrs/plugin-loader/load", test_plugin_loader_load);
	g_test_add_func("/tldrs/plugin-loader/description-mismatch",
	                test_plugin_loader_description_mismatch);
	return g_test_run();
}
