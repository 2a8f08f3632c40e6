/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The sink API as a third party sees it: `meson install` into a temporary directory, then
 * examples/count-sink/ built as its own meson project against the installed
 * <tldrs/tldrs-sink.h> and tldrs-sink.pc only (no daemon header, no config.h), loaded by
 * the real daemon from its build directory. */

#include <string.h>

#include <glib/gstdio.h>

#include "tldrs-test-util.h"

static void
run_ok(const char *const *argv, const char *const *envp)
{
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	if (tldrs_test_run_env(&out, &err, argv, envp) != 0)
		g_error("%s failed:\n%s\n%s", argv[0], out, err);
}

static void
test_sdk_example_sink(void)
{
	g_autofree char *tmp = NULL;
	g_autofree char *destdir = NULL;
	g_autofree char *pcdir = NULL;
	g_autofree char *header = NULL;
	g_autofree char *example_src = NULL;
	g_autofree char *example_build = NULL;
	g_autofree char *module = NULL;
	g_autofree char *conf = NULL;
	g_autofree char *conf_path = NULL;
	g_autofree char *log = NULL;
	g_autofree char *stored = NULL;
	g_auto(GStrv) envp = NULL;
	const char *prefix = g_getenv("TLDRS_PREFIX");
	const char *includedir = g_getenv("TLDRS_INCLUDE_DIR");
	const char *pc_install_dir = g_getenv("TLDRS_PKGCONFIG_DIR");
	const char *plugin_path = g_getenv("TLDRS_PLUGIN_DIR");
	TldrsTestDaemon *d;
	GSocket *s;

	if (!tldrs_test_have_program("meson") || !tldrs_test_have_program("pkg-config")) {
		g_test_skip("meson or pkg-config is not installed");
		return;
	}
	g_assert_nonnull(prefix);
	tmp = tldrs_test_mkdtemp();
	destdir = g_build_filename(tmp, "dest", NULL);
	tldrs_test_meson_install(destdir);
	header = g_build_filename(destdir, includedir, "tldrs", "tldrs-sink.h", NULL);
	g_assert_true(g_file_test(header, G_FILE_TEST_IS_REGULAR));
	/* the installed tldrs-sink.pc, as if tldrs were installed under destdir/prefix */
	pcdir = g_build_filename(tmp, "pkgconfig", NULL);
	g_assert_cmpint(g_mkdir(pcdir, 0700), ==, 0);
	{
		g_autofree char *installed =
		        g_build_filename(destdir, pc_install_dir, "tldrs-sink.pc", NULL);
		g_autofree char *pc_path = g_build_filename(pcdir, "tldrs-sink.pc", NULL);
		g_autofree char *pc = NULL;
		g_autofree char *old_prefix = g_strdup_printf("prefix=%s\n", prefix);
		g_autofree char *new_prefix = g_strdup_printf("prefix=%s%s\n", destdir, prefix);
		g_autoptr(GString) relocated = NULL;
		g_assert_true(g_file_get_contents(installed, &pc, NULL, NULL));
		relocated = g_string_new(pc);
		g_assert_cmpuint(g_string_replace(relocated, old_prefix, new_prefix, 1), ==, 1);
		g_assert_true(g_file_set_contents(pc_path, relocated->str, -1, NULL));
	}

	/* a project of its own: only what is installed, found through pkg-config */
	envp = g_get_environ();
	envp = g_environ_setenv(envp, "PKG_CONFIG_PATH", pcdir, TRUE);
	example_src = g_test_build_filename(G_TEST_DIST, "..", "examples", "count-sink", NULL);
	example_build = g_build_filename(tmp, "example", NULL);
	{
		const char *argv[] = {"meson", "setup", example_build, example_src, NULL};
		run_ok(argv, (const char *const *)envp);
	}
	{
		const char *argv[] = {"meson", "compile", "-C", example_build, NULL};
		run_ok(argv, (const char *const *)envp);
	}
	module = g_build_filename(example_build, "tldrs-sink-count." G_MODULE_SUFFIX, NULL);
	g_assert_true(g_file_test(module, G_FILE_TEST_IS_REGULAR));

	/* the daemon loads it beside the build tree's jsonl sink */
	conf = g_strdup_printf(
	        "[Daemon]\nSinks=jsonl;count\nPluginDir=%s:%s\n", example_build, plugin_path);
	d = tldrs_test_daemon_new();
	conf_path = g_build_filename(d->tmpdir, "count.conf", NULL);
	g_assert_true(g_file_set_contents(conf_path, conf, -1, NULL));
	{
		const char *args[] = {"--config", conf_path, NULL};
		tldrs_test_daemon_start(d, args);
	}
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s,
	                "OPEN demo\n"
	                "{\"name\":\"a\",\"ph\":\"i\",\"s\":\"g\",\"ts\":1,\"pid\":1,\"tid\":1}\n"
	                "{\"name\":\"b\",\"ph\":\"i\",\"s\":\"g\",\"ts\":2,\"pid\":1,\"tid\":1}\n"
	                "DIE\n");
	/* DIE: the orderly shutdown closes the trace, and the sink logs its count */
	g_assert_cmpint(tldrs_test_daemon_wait(d), ==, 0);
	tldrs_test_close(s);
	log = tldrs_test_daemon_log(d);
	if (strstr(log, "trace demo: 2 events") == NULL)
		g_error("the count sink did not report: %s", log);
	stored = tldrs_test_trace_file(d, "demo");
	g_assert_cmpint(tldrs_test_count_lines(stored), ==, 2);
	tldrs_test_daemon_free(d);
	if (g_getenv("TLDRS_TEST_KEEP") == NULL)
		tldrs_test_rm_rf(tmp);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/sdk/example-sink", test_sdk_example_sink);
	return g_test_run();
}
