/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* Translations: po/POTFILES.in names every source file with translatable strings, and the
 * real binary speaks German with the catalog built in the build tree. */

#include <locale.h>
#include <string.h>

#include "tldrs-test-util.h"

/* the repository: G_TEST_SRCDIR is tests/, its parent */
static char *
repo_root(void)
{
	return g_path_get_dirname(g_test_get_dir(G_TEST_DIST));
}

/* the .c and .h files under @dir, as paths relative to @root */
static void
collect_sources(const char *root, const char *dir, GPtrArray *files)
{
	g_autofree char *path = g_build_filename(root, dir, NULL);
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *name;

	if (d == NULL)
		return;
	while ((name = g_dir_read_name(d)) != NULL) {
		g_autofree char *rel = g_build_filename(dir, name, NULL);
		g_autofree char *full = g_build_filename(root, rel, NULL);
		if (g_file_test(full, G_FILE_TEST_IS_DIR))
			collect_sources(root, rel, files);
		else if (g_str_has_suffix(name, ".c") || g_str_has_suffix(name, ".h"))
			g_ptr_array_add(files, g_steal_pointer(&rel));
	}
}

static GPtrArray *
read_potfiles(const char *root)
{
	g_autofree char *path = g_build_filename(root, "po", "POTFILES.in", NULL);
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) lines = NULL;
	GPtrArray *files = g_ptr_array_new_with_free_func(g_free);

	g_file_get_contents(path, &text, NULL, &error);
	g_assert_no_error(error);
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		char *line = g_strstrip(lines[i]);
		if (line[0] == '\0' || line[0] == '#')
			continue;
		g_ptr_array_add(files, g_strdup(line));
	}
	return files;
}

/* every source file that marks a string for translation is in POTFILES.in, and every
 * file listed there exists (xgettext fails on a missing one) */
static void
test_i18n_potfiles(void)
{
	g_autofree char *root = repo_root();
	g_autoptr(GPtrArray) listed = read_potfiles(root);
	g_autoptr(GPtrArray) sources = g_ptr_array_new_with_free_func(g_free);
	/* _("…"), N_("…"), C_("…"), NC_("…"), and the gettext calls */
	g_autoptr(GRegex) marked = g_regex_new(
	        "(^|[^A-Za-z0-9_])((N|C|NC)?_\\(\\s*\"|g_d?p?n?gettext2?\\s*\\(|ngettext\\s*\\()",
	        G_REGEX_MULTILINE,
	        0,
	        NULL);
	guint found = 0;

	for (guint i = 0; i < listed->len; i++) {
		const char *rel = g_ptr_array_index(listed, i);
		g_autofree char *full = g_build_filename(root, rel, NULL);
		if (!g_file_test(full, G_FILE_TEST_IS_REGULAR))
			g_test_message("po/POTFILES.in lists %s, which does not exist", rel);
		g_assert_true(g_file_test(full, G_FILE_TEST_IS_REGULAR));
	}

	collect_sources(root, "src", sources);
	collect_sources(root, "plugins", sources);
	g_assert_cmpuint(sources->len, >, 0);
	for (guint i = 0; i < sources->len; i++) {
		const char *rel = g_ptr_array_index(sources, i);
		g_autofree char *full = g_build_filename(root, rel, NULL);
		g_autofree char *text = NULL;
		g_autoptr(GError) error = NULL;

		g_file_get_contents(full, &text, NULL, &error);
		g_assert_no_error(error);
		if (!g_regex_match(marked, text, 0, NULL))
			continue;
		found++;
		if (!g_ptr_array_find_with_equal_func(listed, rel, g_str_equal, NULL))
			g_test_message("%s has translatable strings; add it to po/POTFILES.in",
			               rel);
		g_assert_true(g_ptr_array_find_with_equal_func(listed, rel, g_str_equal, NULL));
	}
	g_assert_cmpuint(found, >, 0);
}

/* glibc translates with LANGUAGE only when LC_MESSAGES is not "C"/"POSIX": a German
 * locale if the machine has one, else C.UTF-8 (its name is not "C", so LANGUAGE counts) */
static const char *
pick_locale(void)
{
	const char *candidates[] = {"de_DE.UTF-8", "de_DE.utf8", "C.UTF-8", "C.utf8"};
	g_autofree char *saved = g_strdup(setlocale(LC_ALL, NULL));
	const char *found = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(candidates) && found == NULL; i++) {
		if (setlocale(LC_ALL, candidates[i]) != NULL)
			found = candidates[i];
	}
	setlocale(LC_ALL, saved);
	return found;
}

/* a launcher for `tldrs` with LANGUAGE=de and the catalog from the build tree */
static GSubprocessLauncher *
german_launcher(const char *locale, const char *tmpdir, GSubprocessFlags flags)
{
	g_autofree char *build_root = g_path_get_dirname(g_test_get_dir(G_TEST_BUILT));
	g_autofree char *localedir = g_build_filename(build_root, "po", NULL);
	GSubprocessLauncher *l = tldrs_test_launcher(tmpdir);

	g_subprocess_launcher_set_flags(l, flags);
	/* src/tldrs-main.c binds the text domain to $TLDRS_LOCALEDIR when it is set */
	g_subprocess_launcher_setenv(l, "TLDRS_LOCALEDIR", localedir, TRUE);
	g_subprocess_launcher_setenv(l, "LANGUAGE", "de", TRUE);
	g_subprocess_launcher_setenv(l, "LC_ALL", locale, TRUE);
	return l;
}

/* `tldrs ARGS` in German; its standard output */
static char *
run_german(const char *locale, const char *const *args)
{
	g_autofree char *tmpdir = tldrs_test_mkdtemp();
	g_autoptr(GSubprocessLauncher) l =
	        german_launcher(locale, tmpdir, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GError) error = NULL;
	char *out = NULL;

	g_ptr_array_add(argv, (gpointer)g_getenv("TLDRS_BIN"));
	for (guint i = 0; args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)args[i]);
	g_ptr_array_add(argv, NULL);
	p = g_subprocess_launcher_spawnv(l, (const char *const *)argv->pdata, &error);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8(p, NULL, NULL, &out, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_get_successful(p));
	tldrs_test_rm_rf(tmpdir);
	return out;
}

/* `tldrs serve` with a bad config file in German: the whole error is translated */
static void
check_german_config_error(const char *locale)
{
	g_autofree char *tmpdir = tldrs_test_mkdtemp();
	g_autofree char *conf = g_build_filename(tmpdir, "bad.conf", NULL);
	g_autofree char *sock = g_build_filename(tmpdir, "s", NULL);
	g_autoptr(GSubprocessLauncher) l =
	        german_launcher(locale, tmpdir, G_SUBPROCESS_FLAGS_STDERR_PIPE);
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *err = NULL;

	g_assert_true(g_file_set_contents(conf, "[Daemon]\nFlushIntervalSec=0\n", -1, NULL));
	p = g_subprocess_launcher_spawn(l,
	                                &error,
	                                g_getenv("TLDRS_BIN"),
	                                "serve",
	                                "--config",
	                                conf,
	                                "--socket",
	                                sock,
	                                "-d",
	                                tmpdir,
	                                NULL);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8(p, NULL, NULL, NULL, &err, &error);
	g_assert_no_error(error);
	g_test_message("%s", err);
	g_assert_false(g_subprocess_get_successful(p));
	g_assert_nonnull(strstr(err,
	                        "FlushIntervalSec: eine Zahl > 0 (Sekunden, höchstens 3600) "
	                        "erwartet, „0“ erhalten"));
	tldrs_test_rm_rf(tmpdir);
}

static void
test_i18n_german(void)
{
	g_autofree char *build_root = g_path_get_dirname(g_test_get_dir(G_TEST_BUILT));
	g_autofree char *mo =
	        g_build_filename(build_root, "po", "de", "LC_MESSAGES", "tldrs.mo", NULL);
	const char *locale = pick_locale();
	const char *usage_args[] = {"--help", NULL};
	const char *get_tef_args[] = {"get-tef", "--help", NULL};
	g_autofree char *usage = NULL;
	g_autofree char *get_tef = NULL;

	g_assert_nonnull(g_getenv("TLDRS_BIN"));
	if (locale == NULL) {
		g_test_skip("no locale other than C/POSIX here (neither de_DE.UTF-8 nor C.UTF-8), "
		            "so gettext ignores LANGUAGE");
		return;
	}
	if (!g_file_test(mo, G_FILE_TEST_IS_REGULAR))
		g_test_message("%s is missing: is \"de\" in po/LINGUAS, and the build current?",
		               mo);
	g_assert_true(g_file_test(mo, G_FILE_TEST_IS_REGULAR));
	g_test_message("LANGUAGE=de LC_ALL=%s", locale);

	/* the command list (tldrs_usage) */
	usage = run_german(locale, usage_args);
	g_assert_nonnull(strstr(usage, "Befehle:"));
	g_assert_nonnull(strstr(usage, "Das Datenverzeichnis ausgeben"));
	g_assert_null(strstr(usage, "Commands:"));
	g_assert_null(strstr(usage, "Print the data directory"));

	/* a command's GOption help: summary and option descriptions */
	get_tef = run_german(locale, get_tef_args);
	g_assert_nonnull(strstr(get_tef, "Datenverzeichnis"));
	g_assert_nonnull(strstr(get_tef, "--output=AUSGABE"));
	g_assert_nonnull(strstr(get_tef, "„latest“"));
	g_assert_null(strstr(get_tef, "Data directory"));
	g_assert_null(strstr(get_tef, "Write a trace as one TEF JSON file."));

	check_german_config_error(locale);

	/* `list -l`: translated headings stay over their columns (padded by characters) */
	{
		g_autofree char *dir = tldrs_test_mkdtemp();
		g_autofree char *trace = g_build_filename(dir, "t1.jsonl", NULL);
		const char *list_args[] = {"list", "-l", "-d", dir, NULL};
		g_autofree char *list = NULL;
		g_auto(GStrv) lines = NULL;

		g_assert_true(g_file_set_contents(trace, "{\"ph\":\"i\"}\n", -1, NULL));
		list = run_german(locale, list_args);
		lines = g_strsplit(list, "\n", -1);
		g_test_message("%s", list);
		g_assert_cmpuint(g_strv_length(lines), ==, 3);
		g_assert_nonnull(strstr(lines[0], "GRÖSSE"));
		g_assert_nonnull(strstr(lines[0], "ZULETZT GESCHRIEBEN"));
		g_assert_cmpint(g_utf8_strlen(lines[0], -1), ==, g_utf8_strlen(lines[1], -1));
		/* the size column ("11 Bytes") ends where its heading ends */
		{
			glong end =
			        g_utf8_pointer_to_offset(lines[0], strstr(lines[0], "GRÖSSE")) + 6;
			const char *cell_end = g_utf8_offset_to_pointer(lines[1], end);
			g_assert_true(g_str_has_prefix(cell_end - 8, "11 Bytes "));
		}
		tldrs_test_rm_rf(dir);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/i18n/potfiles", test_i18n_potfiles);
	g_test_add_func("/tldrs/i18n/german", test_i18n_german);
	return g_test_run();
}
