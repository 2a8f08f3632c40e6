/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* From a checkout to a running daemon: the build tree's tldrs finds the plugins built beside
 * it, `meson devenv` (tools/dev shell) puts it on PATH, an installed-like copy that finds no
 * plugin says what to set, and tools/dev installs packages, waiting for another apt. */

#include <signal.h>
#include <string.h>

#include <glib/gstdio.h>

#include "tldrs-test-util.h"

/* a path in the source tree: G_TEST_SRCDIR is tests/, the repository is its parent */
static char *
repo_path(const char *name)
{
	g_autofree char *root = g_path_get_dirname(g_test_get_dir(G_TEST_DIST));
	return g_build_filename(root, name, NULL);
}

/* run @argv in @cwd with the test environment, TLDRS_PLUGIN_DIR unset and @path_first
 * (if any) first on PATH; its exit status */
static int
run(const char *cwd, const char *path_first, const char *const *argv, char **out, char **err)
{
	g_autofree char *tmpdir = tldrs_test_mkdtemp();
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(tmpdir);
	int status;

	g_subprocess_launcher_unsetenv(l, "TLDRS_PLUGIN_DIR");
	/* what tools/dev sets, not what the caller has */
	g_subprocess_launcher_unsetenv(l, "DEBIAN_FRONTEND");
	g_subprocess_launcher_setenv(l, "LC_ALL", "C.UTF-8", TRUE);
	if (path_first != NULL) {
		g_autofree char *path = g_strconcat(path_first, ":", g_getenv("PATH"), NULL);
		g_subprocess_launcher_setenv(l, "PATH", path, TRUE);
	}
	if (cwd != NULL)
		g_subprocess_launcher_set_cwd(l, cwd);
	status = tldrs_test_run(l, argv, out, err);
	tldrs_test_rm_rf(tmpdir);
	return status;
}

/* the build tree's tldrs serves without TLDRS_PLUGIN_DIR */
static void
test_build_tree_plugins(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *saved = g_strdup(g_getenv("TLDRS_PLUGIN_DIR"));
	g_autofree char *out = g_build_filename(d->tmpdir, "out.json", NULL);
	g_autofree char *cmd = g_strdup_printf("OPEN tr-b\nEMIT_TEF_AT_EXIT %s\n", out);
	GSocket *s;

	g_unsetenv("TLDRS_PLUGIN_DIR");
	tldrs_test_daemon_start(d, NULL);
	g_setenv("TLDRS_PLUGIN_DIR", saved, TRUE);
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, cmd);
	tldrs_test_send(s, "{\"ph\":\"i\",\"name\":\"x\",\"ts\":1,\"pid\":1,\"tid\":0}\n");
	tldrs_test_close(s);
	g_assert_true(tldrs_test_wait_for_file(out, 5000));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* a copy of tldrs outside the build tree (as installed, but without its plugins) fails with
 * a message that says what to set */
static void
test_missing_plugins_hint(void)
{
	g_autofree char *tmp = tldrs_test_mkdtemp();
	g_autofree char *copy = g_build_filename(tmp, "tldrs", NULL);
	g_autofree char *sock = g_build_filename(tmp, "s", NULL);
	g_autofree char *data = g_build_filename(tmp, "data", NULL);
	g_autofree char *installed =
	        g_build_filename(g_getenv("TLDRS_PLUGIN_INSTALL_DIR"), "tldrs-sink-jsonl.so", NULL);
	g_autofree char *contents = NULL;
	g_autofree char *err = NULL;
	gsize len = 0;
	const char *argv[] = {copy, "serve", "-q", "--socket", sock, "-d", data, NULL};

	if (g_file_test(installed, G_FILE_TEST_EXISTS)) {
		g_test_skip("tldrs is installed: a copy would find its plugins");
		tldrs_test_rm_rf(tmp);
		return;
	}
	g_assert_true(g_file_get_contents(g_getenv("TLDRS_BIN"), &contents, &len, NULL));
	g_assert_true(g_file_set_contents_full(
	        copy, contents, (gssize)len, G_FILE_SET_CONTENTS_NONE, 0700, NULL));
	g_assert_cmpint(run(NULL, NULL, argv, NULL, &err), ==, 1);
	g_test_message("%s", err);
	g_assert_nonnull(strstr(err, "no tldrs-sink-jsonl.so in "));
	g_assert_nonnull(strstr(err, "set TLDRS_PLUGIN_DIR"));
	tldrs_test_rm_rf(tmp);
}

/* `meson devenv` (what tools/dev shell runs) has the build tree's tldrs first on PATH */
static void
test_devenv_path(void)
{
	const char *root = g_getenv("TLDRS_BUILD_ROOT");
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	g_autofree char *bin = NULL;
	const char *argv[] = {"meson",
	                      "devenv",
	                      "-C",
	                      root,
	                      "sh",
	                      "-c",
	                      "command -v tldrs && tldrs --version",
	                      NULL};

	if (!tldrs_test_have_program("meson")) {
		g_test_skip("meson is not installed");
		return;
	}
	if (run(NULL, NULL, argv, &out, &err) != 0)
		g_error("meson devenv failed: %s", err);
	bin = g_strdup_printf("%s\ntldrs ", g_getenv("TLDRS_BIN"));
	g_assert_true(g_str_has_prefix(out, bin));
}

/* a fake command in @dir that appends its name and arguments to @dir/calls */
static void
fake_command(const char *dir, const char *name, const char *extra)
{
	g_autofree char *fn = g_build_filename(dir, name, NULL);
	g_autofree char *script =
	        g_strdup_printf("#!/bin/sh\necho \"%s $* DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-}\" >> "
	                        "\"%s/calls\"\n%s",
	                        name,
	                        dir,
	                        extra != NULL ? extra : "");
	g_assert_true(
	        g_file_set_contents_full(fn, script, -1, G_FILE_SET_CONTENTS_NONE, 0700, NULL));
}

/* `bash tools/dev @args…` with the fake commands in @fake first on PATH: its exit status,
 * its standard error and what the fakes were called with */
static int
run_dev(const char *fake, const char *const *args, char **err, char **calls)
{
	g_autofree char *dev = repo_path("tools/dev");
	g_autofree char *calls_fn = g_build_filename(fake, "calls", NULL);
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	int status;

	g_ptr_array_add(argv, (gpointer) "bash");
	g_ptr_array_add(argv, dev);
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	status = run(NULL, fake, (const char *const *)argv->pdata, NULL, err);
	g_assert_true(g_file_get_contents(calls_fn, calls, NULL, NULL));
	g_test_message("%s", *calls);
	return status;
}

/* tools/dev deps, as a user with sudo: apt-get waits for another apt's lock, says so, and
 * gets DEBIAN_FRONTEND through sudo (which resets the environment) */
static void
test_dev_deps_waits_for_lock(void)
{
	g_autofree char *fake = tldrs_test_mkdtemp();
	g_autofree char *calls = NULL;
	g_autofree char *err = NULL;
	g_auto(GStrv) lines = NULL;
	const char *args[] = {"deps", NULL};
	guint apt = 0;

	/* every package missing; not root; sudo starts from an empty environment */
	fake_command(fake, "dpkg-query", "exit 1\n");
	fake_command(fake, "id", "echo 1000\n");
	fake_command(fake, "sudo", "exec env -i PATH=\"$PATH\" \"$@\"\n");
	fake_command(fake, "apt-get", NULL);
	g_assert_cmpint(run_dev(fake, args, &err, &calls), ==, 0);
	g_assert_nonnull(strstr(err, "waits for it"));
	lines = g_strsplit(calls, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		if (!g_str_has_prefix(lines[i], "apt-get "))
			continue;
		g_assert_nonnull(strstr(lines[i], " -o DPkg::Lock::Timeout="));
		g_assert_true(g_str_has_suffix(lines[i], " DEBIAN_FRONTEND=noninteractive"));
		apt++;
	}
	g_assert_cmpuint(apt, ==, 2);
	tldrs_test_rm_rf(fake);
}

/* tools/dev shell COMMAND runs COMMAND in `meson devenv` of build/ */
static void
test_dev_shell(void)
{
	g_autofree char *fake = tldrs_test_mkdtemp();
	g_autofree char *calls = NULL;
	const char *args[] = {"shell", "tldrs", "list", NULL};

	fake_command(fake, "dpkg-query", "echo 'install ok installed'\n");
	fake_command(fake, "meson", NULL);
	g_assert_cmpint(run_dev(fake, args, NULL, &calls), ==, 0);
	g_assert_true(
	        g_str_has_suffix(calls, "\nmeson devenv -C build tldrs list DEBIAN_FRONTEND=\n"));
	tldrs_test_rm_rf(fake);
}

/* what README.md says of tools/dev holds: every `tools/dev WORD` it shows (in code) is one of
 * the commands of tools/dev's usage, and every variable it sets before tools/dev is read */
static void
test_readme_dev_commands(void)
{
	g_autofree char *readme_fn = repo_path("README.md");
	g_autofree char *dev_fn = repo_path("tools/dev");
	g_autofree char *readme = NULL;
	g_autofree char *dev = NULL;
	g_autofree char *usage = NULL;
	g_autoptr(GRegex) cmd =
	        g_regex_new("(?:^|`|[A-Z_]+=\\S* )tools/dev ([a-z]+)", G_REGEX_MULTILINE, 0, NULL);
	g_autoptr(GRegex) var = g_regex_new("\\b([A-Z_]+)=[^ ]* tools/dev ", 0, 0, NULL);
	g_autoptr(GMatchInfo) m = NULL;
	const char *argv[] = {"bash", dev_fn, "no-such-command", NULL};
	guint cmds = 0, vars = 0;

	g_assert_true(g_file_get_contents(readme_fn, &readme, NULL, NULL));
	g_assert_true(g_file_get_contents(dev_fn, &dev, NULL, NULL));
	g_assert_cmpint(run(NULL, NULL, argv, NULL, &usage), ==, 2);
	for (g_regex_match(cmd, readme, 0, &m); g_match_info_matches(m);
	     g_match_info_next(m, NULL)) {
		g_autofree char *word = g_match_info_fetch(m, 1);
		g_autofree char *in_usage = g_strdup_printf("tools/dev %s", word);
		if (strstr(usage, in_usage) == NULL)
			g_error("README.md shows tools/dev %s; tools/dev knows: %s", word, usage);
		cmds++;
	}
	g_clear_pointer(&m, g_match_info_unref);
	for (g_regex_match(var, readme, 0, &m); g_match_info_matches(m);
	     g_match_info_next(m, NULL)) {
		g_autofree char *name = g_match_info_fetch(m, 1);
		g_autofree char *read = g_strdup_printf("${%s:-", name);
		if (strstr(dev, read) == NULL)
			g_error("README.md sets %s for tools/dev, which does not read it", name);
		vars++;
	}
	g_assert_cmpuint(cmds, >=, 4);
	g_assert_cmpuint(vars, >=, 1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/dev/build-tree-plugins", test_build_tree_plugins);
	g_test_add_func("/tldrs/dev/missing-plugins-hint", test_missing_plugins_hint);
	g_test_add_func("/tldrs/dev/devenv-path", test_devenv_path);
	g_test_add_func("/tldrs/dev/deps-waits-for-lock", test_dev_deps_waits_for_lock);
	g_test_add_func("/tldrs/dev/shell", test_dev_shell);
	g_test_add_func("/tldrs/dev/readme-commands", test_readme_dev_commands);
	return g_test_run();
}
