/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The man pages and the bash completion against the real binary: the pages render without
 * warnings, document every option that `tldrs COMMAND --help` shows and every key of
 * data/tldrs.conf, and the completion completes commands, options and trace ids. */

#include <string.h>

#include <glib/gstdio.h>

#include "tldrs-test-util.h"

/* the commands of `tldrs --help`, each documented in its own .SS section of tldrs.1 */
static const char *const commands[] = {"serve", "list", "get-tef", "clear", "dir", "send", "run"};

static char *
repo_path(const char *first, ...) G_GNUC_NULL_TERMINATED;

/* a path in the source tree: G_TEST_SRCDIR is tests/, the repository is its parent */
static char *
repo_path(const char *first, ...)
{
	g_autofree char *root = g_path_get_dirname(g_test_get_dir(G_TEST_DIST));
	g_autoptr(GPtrArray) parts = g_ptr_array_new();
	va_list ap;
	g_ptr_array_add(parts, root);
	va_start(ap, first);
	for (const char *p = first; p != NULL; p = va_arg(ap, const char *))
		g_ptr_array_add(parts, (gpointer)p);
	va_end(ap);
	g_ptr_array_add(parts, NULL);
	return g_build_filenamev((char **)parts->pdata);
}

/* the same in the build tree: G_TEST_BUILDDIR is build/tests/ */
static char *
build_path(const char *first, const char *second)
{
	g_autofree char *root = g_path_get_dirname(g_test_get_dir(G_TEST_BUILT));
	return g_build_filename(root, first, second, NULL);
}

/* run @argv with the test environment (no real ~/.config); its exit status */
static int
run(const char *const *argv, char **out, char **err)
{
	g_autofree char *tmpdir = tldrs_test_mkdtemp();
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(tmpdir);
	int status;

	/* English help, whatever the caller's language */
	g_subprocess_launcher_setenv(l, "LC_ALL", "C.UTF-8", TRUE);
	g_subprocess_launcher_unsetenv(l, "LANGUAGE");
	status = tldrs_test_run(l, argv, out, err);
	tldrs_test_rm_rf(tmpdir);
	return status;
}

/* a man page as plain text to search: roff's escaped minus and zero-width marks removed */
static char *
load_page(const char *name)
{
	g_autofree char *path = repo_path("docs", name, NULL);
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) s = NULL;

	g_file_get_contents(path, &text, NULL, &error);
	g_assert_no_error(error);
	s = g_string_new(text);
	g_string_replace(s, "\\-", "-", 0);
	g_string_replace(s, "\\%", "", 0);
	g_string_replace(s, "\\&", "", 0);
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* the part of @page from the line starting with @head up to the next .SH or .SS, or NULL */
static char *
page_section(const char *page, const char *head)
{
	g_autofree char *needle = g_strconcat("\n", head, NULL);
	const char *start = strstr(page, needle);
	const char *end;
	if (start == NULL)
		return NULL;
	start++;
	end = start + strlen(head);
	while ((end = strchr(end, '\n')) != NULL) {
		if (g_str_has_prefix(end, "\n.SH") || g_str_has_prefix(end, "\n.SS"))
			break;
		end++;
	}
	return end != NULL ? g_strndup(start, (gsize)(end - start)) : g_strdup(start);
}

/* @option ("--dir", "-d") appears in @text as a whole option, not as the start of another */
static gboolean
has_option(const char *text, const char *option)
{
	g_autofree char *escaped = g_regex_escape_string(option, -1);
	g_autofree char *pattern = g_strdup_printf("(^|[^a-zA-Z0-9-])%s($|[^a-zA-Z0-9-])", escaped);
	return g_regex_match_simple(pattern, text, G_REGEX_MULTILINE, 0);
}

/* the options in a GOption --help text: "-d, --dir=DIR", "--daemonize", "-h, --help" */
static GPtrArray *
help_options(const char *help)
{
	g_autoptr(GRegex) re = g_regex_new(
	        "^\\s+(?:(-[a-zA-Z]),\\s+)?(--[a-z][a-z0-9-]*)", G_REGEX_MULTILINE, 0, NULL);
	g_autoptr(GMatchInfo) m = NULL;
	GPtrArray *options = g_ptr_array_new_with_free_func(g_free);
	g_regex_match(re, help, 0, &m);
	while (g_match_info_matches(m)) {
		g_autofree char *shortopt = g_match_info_fetch(m, 1);
		if (shortopt != NULL && shortopt[0] != '\0')
			g_ptr_array_add(options, g_steal_pointer(&shortopt));
		g_ptr_array_add(options, g_match_info_fetch(m, 2));
		g_match_info_next(m, NULL);
	}
	return options;
}

static void
lint_page(const char *mandoc, const char *path)
{
	const char *argv[] = {mandoc, "-Tlint", path, NULL};
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	int status;

	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
	status = run(argv, &out, &err);
	if (out[0] != '\0' || err[0] != '\0')
		g_test_message("mandoc -Tlint %s:\n%s%s", path, out, err);
	g_assert_cmpstr(out, ==, "");
	g_assert_cmpstr(err, ==, "");
	g_assert_cmpint(status, ==, 0);
}

/* the pages meson configured: what gets installed, and the same with every path under a
 * prefix longer than a line (docs/meson.build), so that any prefix renders cleanly */
static const char *const built_pages[] = {"tldrs.1",
                                          "tldrs.conf.5",
                                          "long-prefix-tldrs.1",
                                          "long-prefix-tldrs.conf.5"};

/* the source pages and the ones meson configured */
static void
test_docs_mandoc_lint(void)
{
	g_autofree char *mandoc = g_find_program_in_path("mandoc");
	const char *pages[] = {"tldrs.1", "tldrs.conf.5"};

	if (mandoc == NULL) {
		g_test_skip("mandoc is not installed (apt-get install mandoc)");
		return;
	}
	for (guint i = 0; i < G_N_ELEMENTS(pages); i++) {
		g_autofree char *src = repo_path("docs", pages[i], NULL);
		lint_page(mandoc, src);
	}
	for (guint i = 0; i < G_N_ELEMENTS(built_pages); i++) {
		g_autofree char *built = build_path("docs", built_pages[i]);
		lint_page(mandoc, built);
	}
}

static void
test_docs_groff(void)
{
	g_autofree char *groff = g_find_program_in_path("groff");

	if (groff == NULL) {
		g_test_skip("groff is not installed (apt-get install groff-base)");
		return;
	}
	for (guint i = 0; i < G_N_ELEMENTS(built_pages); i++) {
		g_autofree char *path = build_path("docs", built_pages[i]);
		const char *argv[] = {groff, "-ww", "-man", "-Tutf8", path, NULL};
		g_autofree char *out = NULL;
		g_autofree char *err = NULL;
		g_assert_cmpint(run(argv, &out, &err), ==, 0);
		g_assert_cmpstr(err, ==, "");
		g_assert_cmpuint(strlen(out), >, 1000);
	}
}

/* every command of `tldrs --help` has a section, and every option its --help shows is in
 * that section (-h/--help once for all) */
static void
test_docs_options(void)
{
	const char *bin = g_getenv("TLDRS_BIN");
	g_autofree char *page = load_page("tldrs.1");
	g_autofree char *usage = NULL;
	const char *top[] = {bin, "--help", NULL};

	g_assert_nonnull(bin);
	g_assert_cmpint(run(top, &usage, NULL), ==, 0);
	for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
		g_autofree char *listed = g_strdup_printf("\n  %s ", commands[i]);
		g_assert_nonnull(strstr(usage, listed));
	}
	g_assert_true(has_option(page, "--help"));
	g_assert_true(has_option(page, "--version"));

	for (guint i = 0; i < G_N_ELEMENTS(commands); i++) {
		const char *argv[] = {bin, commands[i], "--help", NULL};
		g_autofree char *help = NULL;
		g_autofree char *head = g_strdup_printf(".SS \"tldrs %s ", commands[i]);
		g_autofree char *section = page_section(page, head);
		g_autoptr(GPtrArray) options = NULL;

		g_assert_cmpint(run(argv, &help, NULL), ==, 0);
		options = help_options(help);
		g_assert_cmpuint(options->len, >, 0);
		if (section == NULL)
			g_test_message("tldrs.1 has no section %s…\"", head);
		g_assert_nonnull(section);
		/* the synopsis shows the command too */
		{
			g_autofree char *synopsis = page_section(page, ".SH SYNOPSIS");
			g_autofree char *b = g_strdup_printf(".B tldrs %s\n", commands[i]);
			g_assert_nonnull(synopsis);
			g_assert_nonnull(strstr(synopsis, b));
		}
		for (guint j = 0; j < options->len; j++) {
			const char *opt = g_ptr_array_index(options, j);
			if (g_str_equal(opt, "-h") || g_str_equal(opt, "--help"))
				continue;
			if (!has_option(section, opt))
				g_test_message(
				        "tldrs.1: %s %s is not documented", commands[i], opt);
			g_assert_true(has_option(section, opt));
		}
	}
}

/* every group and key of data/tldrs.conf has its place in tldrs.conf.5 */
static void
test_docs_config_keys(void)
{
	g_autofree char *page = load_page("tldrs.conf.5");
	g_autofree char *conf_path = repo_path("data", "tldrs.conf", NULL);
	g_autofree char *conf = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GRegex) group_re = g_regex_new("^\\[([^]]+)\\]\\s*$", 0, 0, NULL);
	g_autoptr(GRegex) key_re = g_regex_new("^#?\\s*([A-Za-z][A-Za-z0-9]*)=", 0, 0, NULL);
	g_auto(GStrv) lines = NULL;
	g_autofree char *section = NULL;
	g_autofree char *group = NULL;
	guint keys = 0;

	g_file_get_contents(conf_path, &conf, NULL, &error);
	g_assert_no_error(error);
	lines = g_strsplit(conf, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autoptr(GMatchInfo) m = NULL;
		if (g_regex_match(group_re, lines[i], 0, &m)) {
			g_autofree char *head = NULL;
			g_free(group);
			group = g_match_info_fetch(m, 1);
			head = g_strdup_printf(".SH \"[%s]\"", group);
			g_free(section);
			section = page_section(page, head);
			if (section == NULL)
				g_test_message("tldrs.conf.5 has no section %s", head);
			g_assert_nonnull(section);
			continue;
		}
		g_clear_pointer(&m, g_match_info_unref);
		if (g_regex_match(key_re, lines[i], 0, &m)) {
			g_autofree char *key = g_match_info_fetch(m, 1);
			g_autofree char *entry = g_strdup_printf("\n.BI %s= ", key);
			g_assert_nonnull(group);
			if (strstr(section, entry) == NULL)
				g_test_message(
				        "tldrs.conf.5: [%s] %s= is not documented", group, key);
			g_assert_nonnull(strstr(section, entry));
			keys++;
		}
	}
	g_assert_cmpuint(keys, >=, 10);
}

/* the documents point only to what a reader of the repository can open: no "SPEC §1" or
 * "issue 7" of a tracker they cannot see, and every relative link of a Markdown file names
 * a file that exists */
static void
test_docs_references(void)
{
	const char *dirs[] = {
	        "", "docs", "data", "plugins/jsonl", "plugins/gzip", "plugins/tef", "plugins/nats"};
	g_autoptr(GRegex) unfindable =
	        g_regex_new("\\bSPEC\\b|§|\\b[Ii]ssues? #?[0-9]+|#[0-9]+\\b", 0, 0, NULL);
	g_autoptr(GRegex) link = g_regex_new("\\]\\(([^)#\\s]+)[^)]*\\)", 0, 0, NULL);
	guint checked = 0;
	guint links = 0;

	for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
		g_autofree char *dir = repo_path(dirs[i], NULL);
		g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
		const char *name;

		g_assert_nonnull(d);
		while ((name = g_dir_read_name(d)) != NULL) {
			g_autofree char *path = g_build_filename(dir, name, NULL);
			g_autofree char *text = NULL;
			g_autoptr(GMatchInfo) m = NULL;
			gboolean markdown = g_str_has_suffix(name, ".md");

			if (!markdown && !g_str_has_suffix(name, ".1") &&
			    !g_str_has_suffix(name, ".5") && !g_str_equal(name, "tldrs.conf") &&
			    !g_str_has_suffix(name, ".xml"))
				continue;
			g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
			if (g_regex_match(unfindable, text, 0, &m)) {
				g_autofree char *what = g_match_info_fetch(m, 0);
				g_error("%s refers to \"%s\", which the repository does not hold",
				        path,
				        what);
			}
			g_clear_pointer(&m, g_match_info_unref);
			checked++;
			if (!markdown)
				continue;
			g_regex_match(link, text, 0, &m);
			for (; g_match_info_matches(m); g_match_info_next(m, NULL)) {
				g_autofree char *target = g_match_info_fetch(m, 1);
				g_autofree char *full = NULL;
				if (strstr(target, "://") != NULL ||
				    g_str_has_prefix(target, "mailto:"))
					continue;
				full = g_build_filename(dir, target, NULL);
				if (!g_file_test(full, G_FILE_TEST_EXISTS))
					g_error("%s links to %s, which does not exist",
					        path,
					        target);
				links++;
			}
		}
	}
	g_assert_cmpuint(checked, >=, 10);
	g_assert_cmpuint(links, >=, 5);
}

/* `tldrs ge<TAB>`, `tldrs list -<TAB>` and trace ids from a -d given on the line */
static void
test_docs_bash_completion(void)
{
	g_autofree char *bash = g_find_program_in_path("bash");
	g_autofree char *script = repo_path("data", "tldrs.bash-completion", NULL);
	g_autofree char *tmpdir = NULL;
	g_autofree char *data = NULL;
	g_autofree char *out = NULL;
	g_autofree char *err = NULL;
	g_auto(GStrv) answers = NULL;
	const char *bin = g_getenv("TLDRS_BIN");
	/* each case: the words, the last one being completed; answers separated by "--" */
	const char *prog = "f=$1 bin=$2 dir=$3\n"
	                   "source \"$f\" || exit 1\n"
	                   "complete -p tldrs || exit 1\n"
	                   "comp() {\n"
	                   "  COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1))\n"
	                   "  COMP_LINE=\"$*\"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()\n"
	                   "  _tldrs \"$1\" \"${COMP_WORDS[COMP_CWORD]}\" "
	                   "\"${COMP_WORDS[COMP_CWORD - 1]}\"\n"
	                   "  printf '%s\\n' \"${COMPREPLY[@]}\"; echo --\n"
	                   "}\n"
	                   "comp tldrs ge\n"
	                   "comp tldrs list -\n"
	                   "comp \"$bin\" get-tef -d \"$dir\" ''\n"
	                   "comp \"$bin\" get-tef --dir = \"$dir\" a\n"
	                   "comp tldrs get-tef --format ''\n";

	if (bash == NULL) {
		g_test_skip("bash is not installed");
		return;
	}
	g_assert_nonnull(bin);
	tmpdir = tldrs_test_mkdtemp();
	data = g_build_filename(tmpdir, "data", NULL);
	g_assert_cmpint(g_mkdir(data, 0700), ==, 0);
	for (guint i = 0; i < 2; i++) {
		const char *names[] = {"alpha.jsonl", "beta.jsonl.gz"};
		g_autofree char *fn = g_build_filename(data, names[i], NULL);
		g_assert_true(g_file_set_contents(fn, "", 0, NULL));
	}
	{
		const char *argv[] = {
		        bash, "--norc", "--noprofile", "-c", prog, "bash", script, bin, data, NULL};
		int status = run(argv, &out, &err);
		if (status != 0 || err[0] != '\0')
			g_test_message("bash: %s", err);
		g_assert_cmpint(status, ==, 0);
		g_assert_cmpstr(err, ==, "");
	}
	tldrs_test_rm_rf(tmpdir);

	answers = g_strsplit(out, "--\n", -1);
	g_assert_cmpuint(g_strv_length(answers), ==, 6);
	g_assert_true(g_str_has_prefix(answers[0], "complete -F _tldrs tldrs\n"));
	g_assert_true(g_str_has_suffix(answers[0], "\nget-tef\n"));
	g_assert_nonnull(strstr(answers[1], "--long\n"));
	g_assert_nonnull(strstr(answers[1], "--dir\n"));
	g_assert_cmpstr(answers[2], ==, "latest\nalpha\nbeta\n");
	g_assert_cmpstr(answers[3], ==, "alpha\n");
	g_assert_cmpstr(answers[4], ==, "object\narray\n");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/docs/mandoc-lint", test_docs_mandoc_lint);
	g_test_add_func("/tldrs/docs/groff", test_docs_groff);
	g_test_add_func("/tldrs/docs/options", test_docs_options);
	g_test_add_func("/tldrs/docs/config-keys", test_docs_config_keys);
	g_test_add_func("/tldrs/docs/references", test_docs_references);
	g_test_add_func("/tldrs/docs/bash-completion", test_docs_bash_completion);
	return g_test_run();
}
