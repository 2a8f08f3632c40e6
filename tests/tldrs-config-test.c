/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gmodule.h>

#include "tldrs-config.h"
#include "tldrs-error.h"
#include "tldrs-test-util.h"

/* a private HOME and XDG tree, set up before GLib caches any of it */
static char *test_root;
static char *test_home;
static char *config_home;
static char *config_sys1;
static char *config_sys2;
static guint conf_serial;

static char *
write_conf(const char *content)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *name = g_strdup_printf("conf-%u.conf", conf_serial++);
	char *path = g_build_filename(test_root, name, NULL);
	g_file_set_contents(path, content, -1, &error);
	g_assert_no_error(error);
	return path;
}

static TldrsConfig *
load_ok(const char *content)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = write_conf(content);
	TldrsConfig *config = tldrs_config_new();

	if (!tldrs_config_load_file(config, path, &error))
		g_error("%s: %s", content, error->message);
	g_assert_cmpstr(config->config_path, ==, path);
	g_assert_nonnull(config->keyfile);
	return config;
}

/* loading @content fails with "PATH: @message" */
static void
assert_load_error(const char *content, const char *message)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = write_conf(content);
	g_autoptr(TldrsConfig) config = tldrs_config_new();
	g_autofree char *want = g_strdup_printf("%s: %s", path, message);

	if (tldrs_config_load_file(config, path, &error))
		g_error("expected an error for:\n%s", content);
	g_assert_error(error, TLDRS_ERROR, TLDRS_ERROR_INVALID_ARGUMENT);
	g_assert_cmpstr(error->message, ==, want);
	/* a failed load does not claim the file */
	g_assert_null(config->config_path);
}

static void
test_default_socket(void)
{
	g_autofree char *saved_tmpdir = g_strdup(g_getenv("TMPDIR"));
	struct {
		const char *env_socket;
		const char *tmpdir;
		const char *want;
	} cases[] = {
	        {"/run/user/1000/my.socket", "/var/tmp", "/run/user/1000/my.socket"},
	        {"/run/user/1000/my.socket", NULL, "/run/user/1000/my.socket"},
	        {"", "/var/tmp", "/var/tmp/tldrs.socket"},
	        {NULL, "/var/tmp", "/var/tmp/tldrs.socket"},
	        {NULL, "/var/tmp/", "/var/tmp/tldrs.socket"},
	        {NULL, "", "/tmp/tldrs.socket"},
	        {NULL, NULL, "/tmp/tldrs.socket"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(TldrsConfig) config = NULL;
		g_autofree char *socket = NULL;
		if (cases[i].env_socket != NULL)
			g_setenv("TRACE_TEF_TLDR_SOCKET", cases[i].env_socket, TRUE);
		else
			g_unsetenv("TRACE_TEF_TLDR_SOCKET");
		if (cases[i].tmpdir != NULL)
			g_setenv("TMPDIR", cases[i].tmpdir, TRUE);
		else
			g_unsetenv("TMPDIR");
		socket = tldrs_config_default_socket_path();
		config = tldrs_config_new();
		g_assert_cmpstr(socket, ==, cases[i].want);
		g_assert_cmpstr(config->socket_path, ==, cases[i].want);
	}
	g_unsetenv("TRACE_TEF_TLDR_SOCKET");
	if (saved_tmpdir != NULL)
		g_setenv("TMPDIR", saved_tmpdir, TRUE);
	else
		g_unsetenv("TMPDIR");
}

static void
test_default_data_dir(void)
{
	g_autofree char *xdg = g_build_filename(test_root, "data-home", NULL);
	g_autofree char *xdg_want = g_build_filename(xdg, "tldrs", NULL);
	g_autofree char *home_want = g_build_filename(test_home, ".local", "share", "tldrs", NULL);
	struct {
		const char *xdg;
		const char *want;
	} cases[] = {
	        {xdg, xdg_want},
	        /* not absolute: ignored, as the XDG spec says */
	        {"relative/data", home_want},
	        {"", home_want},
	        {NULL, home_want},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(TldrsConfig) config = NULL;
		g_autofree char *dir = NULL;
		if (cases[i].xdg != NULL)
			g_setenv("XDG_DATA_HOME", cases[i].xdg, TRUE);
		else
			g_unsetenv("XDG_DATA_HOME");
		dir = tldrs_config_default_data_dir();
		config = tldrs_config_new();
		g_assert_cmpstr(dir, ==, cases[i].want);
		g_assert_cmpstr(config->data_dir, ==, cases[i].want);
	}
	g_setenv("XDG_DATA_HOME", xdg, TRUE);
}

static void
test_defaults(void)
{
	g_autofree char *saved_plugin_dir = g_strdup(g_getenv("TLDRS_PLUGIN_DIR"));

	g_unsetenv("TLDRS_PLUGIN_DIR");
	{
		g_autoptr(TldrsConfig) config = tldrs_config_new();
		const char *want_sinks[] = {"jsonl", NULL};
		g_assert_null(config->config_path);
		g_assert_null(config->keyfile);
		g_assert_null(config->into_file);
		g_assert_cmpstrv(config->sinks, want_sinks);
		g_assert_cmpint(config->flush_interval_us, ==, 2 * G_USEC_PER_SEC);
		g_assert_cmpuint(config->max_line_bytes, ==, 8 * 1024 * 1024);
		/* from the open-files limit, when the daemon starts */
		g_assert_cmpuint(config->max_clients, ==, 0);
		g_assert_cmpuint(config->max_at_exit_paths, ==, 64);
		g_assert_true(config->dbus);
		g_assert_cmpint(config->exit_idle_us, ==, 0);
		g_assert_cmpstr(config->plugin_dir, ==, TLDRS_PLUGIN_DIR);
	}
	g_setenv("TLDRS_PLUGIN_DIR", "", TRUE);
	{
		g_autoptr(TldrsConfig) config = tldrs_config_new();
		g_assert_cmpstr(config->plugin_dir, ==, TLDRS_PLUGIN_DIR);
	}
	g_setenv("TLDRS_PLUGIN_DIR", "/opt/tldrs-plugins", TRUE);
	{
		g_autoptr(TldrsConfig) config = tldrs_config_new();
		g_assert_cmpstr(config->plugin_dir, ==, "/opt/tldrs-plugins");
	}
	if (saved_plugin_dir != NULL)
		g_setenv("TLDRS_PLUGIN_DIR", saved_plugin_dir, TRUE);
	else
		g_unsetenv("TLDRS_PLUGIN_DIR");
}

static void
test_load_every_key(void)
{
	g_autoptr(TldrsConfig) config = load_ok("# a comment\n"
	                                        "[Daemon]\n"
	                                        "Socket=/run/tldrs/test.socket\n"
	                                        "DataDir=~/traces\n"
	                                        "Sinks=jsonl;gzip;tef\n"
	                                        "FlushIntervalSec=0.25\n"
	                                        "PluginDir=~/plugins\n"
	                                        "MaxLineBytes=1024\n"
	                                        "MaxClients=7\n"
	                                        "MaxBacklogBytes=65536\n"
	                                        "MaxAtExitPaths=3\n"
	                                        "DBus=none\n"
	                                        "ExitIdleSec=2.5\n");
	g_autofree char *data_dir = g_build_filename(test_home, "traces", NULL);
	g_autofree char *plugin_dir = g_build_filename(test_home, "plugins", NULL);
	const char *want_sinks[] = {"jsonl", "gzip", "tef", NULL};

	g_assert_cmpstr(config->socket_path, ==, "/run/tldrs/test.socket");
	g_assert_cmpstr(config->data_dir, ==, data_dir);
	g_assert_cmpstrv(config->sinks, want_sinks);
	g_assert_cmpint(config->flush_interval_us, ==, 250000);
	g_assert_cmpstr(config->plugin_dir, ==, plugin_dir);
	g_assert_cmpuint(config->max_line_bytes, ==, 1024);
	g_assert_cmpuint(config->max_clients, ==, 7);
	g_assert_cmpuint(config->max_backlog_bytes, ==, 65536);
	g_assert_cmpuint(config->max_at_exit_paths, ==, 3);
	g_assert_false(config->dbus);
	g_assert_cmpint(config->exit_idle_us, ==, 2500000);
}

static void
test_load_values(void)
{
	/* an empty file, a file without [Daemon]: the defaults */
	{
		g_autoptr(TldrsConfig) defaults = tldrs_config_new();
		g_autoptr(TldrsConfig) config = load_ok("");
		g_autoptr(TldrsConfig) config2 = load_ok("[Daemon]\n");
		g_assert_cmpstr(config->socket_path, ==, defaults->socket_path);
		g_assert_cmpstr(config->data_dir, ==, defaults->data_dir);
		g_assert_cmpstr(config2->data_dir, ==, defaults->data_dir);
		g_assert_cmpint(config2->flush_interval_us, ==, defaults->flush_interval_us);
	}
	/* an empty Socket, DataDir or PluginDir keeps the default */
	{
		g_autoptr(TldrsConfig) defaults = tldrs_config_new();
		g_autoptr(TldrsConfig) config =
		        load_ok("[Daemon]\nSocket=\nDataDir=\nPluginDir=\n");
		g_assert_cmpstr(config->socket_path, ==, defaults->socket_path);
		g_assert_cmpstr(config->data_dir, ==, defaults->data_dir);
		g_assert_cmpstr(config->plugin_dir, ==, defaults->plugin_dir);
	}
	/* ~ alone, ~/ paths, and a canonical data dir */
	{
		g_autoptr(TldrsConfig) config =
		        load_ok("[Daemon]\nSocket=~/s.socket\nDataDir=~\nPluginDir=/p/../q\n");
		g_autofree char *socket = g_build_filename(test_home, "s.socket", NULL);
		g_assert_cmpstr(config->socket_path, ==, socket);
		g_assert_cmpstr(config->data_dir, ==, test_home);
		/* PluginDir is taken as written */
		g_assert_cmpstr(config->plugin_dir, ==, "/p/../q");
	}
	{
		g_autoptr(TldrsConfig) config = load_ok("[Daemon]\nDataDir=/a/./b/../c//d/\n");
		g_assert_cmpstr(config->data_dir, ==, "/a/c/d");
	}
	/* blanks around values and list items */
	{
		g_autoptr(TldrsConfig) config = load_ok("[Daemon]\n"
		                                        "Socket =   /x/y.socket  \n"
		                                        "Sinks= gzip ; jsonl ;\n"
		                                        "MaxClients= 1000000 \n"
		                                        "MaxLineBytes=1073741824\n");
		const char *want_sinks[] = {"gzip", "jsonl", NULL};
		g_assert_cmpstr(config->socket_path, ==, "/x/y.socket");
		g_assert_cmpstrv(config->sinks, want_sinks);
		g_assert_cmpuint(config->max_clients, ==, 1000000);
		g_assert_cmpuint(config->max_line_bytes, ==, 1073741824);
	}
	{
		g_autoptr(TldrsConfig) config = load_ok("[Daemon]\nSinks=gzip;tef\n");
		const char *want_sinks[] = {"gzip", "tef", NULL};
		g_assert_cmpstrv(config->sinks, want_sinks);
	}
	{
		g_autoptr(TldrsConfig) config =
		        load_ok("[Daemon]\nSinks=my-sink_2\nMaxClients=1\n");
		const char *want_sinks[] = {"my-sink_2", NULL};
		g_assert_cmpstrv(config->sinks, want_sinks);
		g_assert_cmpuint(config->max_clients, ==, 1);
	}
	/* FlushIntervalSec: fractional, whole, at the top, and at least 1 ms */
	{
		struct {
			const char *value;
			gint64 want_us;
		} cases[] = {
		        {"2", 2000000},
		        {"1.5", 1500000},
		        {"0.001", 1000},
		        {"0.0000001", 1000},
		        {"3600", G_GINT64_CONSTANT(3600) * G_USEC_PER_SEC},
		        {"  7  ", 7000000},
		};
		for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
			g_autofree char *content =
			        g_strdup_printf("[Daemon]\nFlushIntervalSec=%s\n", cases[i].value);
			g_autoptr(TldrsConfig) config = load_ok(content);
			g_assert_cmpint(config->flush_interval_us, ==, cases[i].want_us);
		}
	}
	{
		g_autoptr(TldrsConfig) config = load_ok("[Daemon]\nDBus=session\nExitIdleSec=0\n");
		g_assert_true(config->dbus);
		g_assert_cmpint(config->exit_idle_us, ==, 0);
	}
	{
		g_autoptr(TldrsConfig) config = load_ok("[Daemon]\nExitIdleSec=31536000\n");
		g_assert_cmpint(
		        config->exit_idle_us, ==, G_GINT64_CONSTANT(31536000) * G_USEC_PER_SEC);
	}
	/* the last of a repeated key wins */
	{
		g_autoptr(TldrsConfig) config = load_ok("[Daemon]\nMaxClients=3\nMaxClients=5\n");
		g_assert_cmpuint(config->max_clients, ==, 5);
	}
	/* empty: the default */
	{
		g_autoptr(TldrsConfig) config = load_ok("[Daemon]\nMaxClients=\n");
		g_assert_cmpuint(config->max_clients, ==, 0);
	}
}

static void
test_load_errors(void)
{
	const char *flush = "a number > 0 (seconds, at most 3600)";
	const char *line = "a whole number from 1024 to 1073741824";
	const char *clients = "a whole number from 1 to 1000000";
	const char *names = "sink names of letters, digits, '-' and '_'";
	const char *idle = "a number of seconds >= 0 (0: never)";
	const char *backlog = "a whole number from 65536 to 1099511627776";
	const char *at_exit = "a whole number from 1 to 65536";
	struct {
		const char *content;
		const char *key;
		const char *expected;
		const char *got;
	} cases[] = {
	        {"FlushIntervalSec=soon", "FlushIntervalSec", flush, "soon"},
	        {"FlushIntervalSec=", "FlushIntervalSec", flush, ""},
	        {"FlushIntervalSec=0", "FlushIntervalSec", flush, "0"},
	        {"FlushIntervalSec=-1", "FlushIntervalSec", flush, "-1"},
	        {"FlushIntervalSec=3600.5", "FlushIntervalSec", flush, "3600.5"},
	        {"FlushIntervalSec=nan", "FlushIntervalSec", flush, "nan"},
	        {"FlushIntervalSec=inf", "FlushIntervalSec", flush, "inf"},
	        {"FlushIntervalSec=2s", "FlushIntervalSec", flush, "2s"},
	        {"FlushIntervalSec=1e999", "FlushIntervalSec", flush, "1e999"},
	        {"FlushIntervalSec=2 # seconds", "FlushIntervalSec", flush, "2 # seconds"},
	        {"Socket=relative.socket", "Socket", "an absolute path", "relative.socket"},
	        {"Socket=./x", "Socket", "an absolute path", "./x"},
	        {"DataDir=traces", "DataDir", "an absolute path", "traces"},
	        {"Sinks=", "Sinks", "at least one sink", ""},
	        {"Sinks= ; ;", "Sinks", "at least one sink", "; ;"},
	        {"Sinks=jsonl;jsonl", "Sinks", "each sink once", "jsonl;jsonl"},
	        {"Sinks=gzip; jsonl ;gzip", "Sinks", "each sink once", "gzip; jsonl ;gzip"},
	        {"Sinks=jsonl,gzip", "Sinks", names, "jsonl,gzip"},
	        {"Sinks=../evil", "Sinks", names, "../evil"},
	        {"Sinks=a b", "Sinks", names, "a b"},
	        {"Sinks=tef", "Sinks", "jsonl or gzip beside tef", "tef"},
	        {"Sinks=tef;custom", "Sinks", "jsonl or gzip beside tef", "tef;custom"},
	        {"MaxLineBytes=1023", "MaxLineBytes", line, "1023"},
	        {"MaxLineBytes=1073741825", "MaxLineBytes", line, "1073741825"},
	        {"MaxLineBytes=8M", "MaxLineBytes", line, "8M"},
	        {"MaxLineBytes=-4096", "MaxLineBytes", line, "-4096"},
	        {"MaxLineBytes=+4096", "MaxLineBytes", line, "+4096"},
	        {"MaxLineBytes=", "MaxLineBytes", line, ""},
	        {"MaxLineBytes=99999999999999999999999",
	         "MaxLineBytes",
	         line,
	         "99999999999999999999999"},
	        {"MaxClients=0", "MaxClients", clients, "0"},
	        {"MaxClients=1000001", "MaxClients", clients, "1000001"},
	        {"MaxClients=many", "MaxClients", clients, "many"},
	        {"MaxClients=0x10", "MaxClients", clients, "0x10"},
	        {"MaxBacklogBytes=65535", "MaxBacklogBytes", backlog, "65535"},
	        {"MaxBacklogBytes=1099511627777", "MaxBacklogBytes", backlog, "1099511627777"},
	        {"MaxBacklogBytes=8M", "MaxBacklogBytes", backlog, "8M"},
	        {"MaxAtExitPaths=0", "MaxAtExitPaths", at_exit, "0"},
	        {"MaxAtExitPaths=65537", "MaxAtExitPaths", at_exit, "65537"},
	        {"MaxAtExitPaths=", "MaxAtExitPaths", at_exit, ""},
	        {"DBus=yes", "DBus", "session or none", "yes"},
	        {"ExitIdleSec=-1", "ExitIdleSec", idle, "-1"},
	        {"ExitIdleSec=", "ExitIdleSec", idle, ""},
	        {"ExitIdleSec=soon", "ExitIdleSec", idle, "soon"},
	        {"ExitIdleSec=31536001", "ExitIdleSec", idle, "31536001"},
	        {"ExitIdleSec=nan", "ExitIdleSec", idle, "nan"},
	        {"DBus=", "DBus", "session or none", ""},
	        {"DBus=system", "DBus", "session or none", "system"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *content = g_strdup_printf("[Daemon]\n%s\n", cases[i].content);
		g_autofree char *message = g_strdup_printf("[Daemon] %s: expected %s, got \"%s\"",
		                                           cases[i].key,
		                                           cases[i].expected,
		                                           cases[i].got);
		assert_load_error(content, message);
	}

	assert_load_error("[Daemon]\nMaxClients=3\nBogus=1\n", "[Daemon] Bogus: unknown key");
	assert_load_error("[Daemon]\nsocket=/x\n", "[Daemon] socket: unknown key");
	assert_load_error("[Daemon]\n[Foo]\nKey=1\n", "[Foo]: unknown group");
	assert_load_error("[daemon]\n", "[daemon]: unknown group");
	assert_load_error("[Sink nosuch]\n", "[Sink nosuch]: unknown group");
	/* a sink's keys are checked whether it is in Sinks= or not: it says which it has */
	assert_load_error("[Sink gzip]\nLevl=1\n", "[Sink gzip] Levl: unknown key");
	assert_load_error("[Daemon]\nSinks=jsonl\n[Sink tef]\nFormat=array\nOutputdir=/x\n",
	                  "[Sink tef] Outputdir: unknown key");
	assert_load_error("[Sink jsonl]\nLevel=1\n", "[Sink jsonl] Level: unknown key");
	assert_load_error("[Sink ../jsonl]\n", "[Sink ../jsonl]: unknown group");
	{
		/* the installed layout, every plugin in one directory: the same message */
		g_autofree char *dir = tldrs_test_mkdtemp();
		g_auto(GStrv) build_dirs = g_strsplit(g_getenv("TLDRS_PLUGIN_DIR"), ":", -1);
		g_autofree char *conf = g_strdup_printf("[Daemon]\nPluginDir=%s\nSinks=tef\n", dir);
		for (guint i = 0; build_dirs[i] != NULL; i++) {
			g_autoptr(GDir) d = g_dir_open(build_dirs[i], 0, NULL);
			const char *fn;
			while (d != NULL && (fn = g_dir_read_name(d)) != NULL) {
				g_autofree char *from = g_build_filename(build_dirs[i], fn, NULL);
				g_autofree char *to = g_build_filename(dir, fn, NULL);
				if (g_str_has_prefix(fn, "tldrs-sink-") &&
				    g_str_has_suffix(fn, "." G_MODULE_SUFFIX))
					g_assert_cmpint(symlink(from, to), ==, 0);
			}
		}
		assert_load_error(conf,
		                  "[Daemon] Sinks: expected jsonl or gzip beside tef, got \"tef\"");
		tldrs_test_rm_rf(dir);
	}
	assert_load_error("[Sink]\n", "[Sink]: unknown group");
	assert_load_error("[Sinkgzip]\n", "[Sinkgzip]: unknown group");
}

static void
test_load_file_errors(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(TldrsConfig) config = tldrs_config_new();
	g_autofree char *missing = g_build_filename(test_root, "missing.conf", NULL);
	g_autofree char *bad = write_conf("this is not a key file\n");

	g_assert_false(tldrs_config_load_file(config, missing, &error));
	g_assert_error(error, TLDRS_ERROR, TLDRS_ERROR_INVALID_ARGUMENT);
	g_assert_true(g_str_has_prefix(error->message, missing));
	g_assert_nonnull(strstr(error->message, ": "));
	g_clear_error(&error);

	g_assert_false(tldrs_config_load_file(config, bad, &error));
	g_assert_error(error, TLDRS_ERROR, TLDRS_ERROR_INVALID_ARGUMENT);
	g_assert_true(g_str_has_prefix(error->message, bad));
	g_assert_null(config->config_path);
}

static void
test_sink_groups(void)
{
	g_autoptr(TldrsConfig) config = load_ok("[Daemon]\n"
	                                        "Sinks=jsonl;gzip\n"
	                                        "[Sink gzip]\n"
	                                        "Level=6\n"
	                                        "[Sink jsonl]\n"
	                                        "[Sink tef]\n");
	/* the group's keys are the sink's business, kept in the key file */
	g_assert_true(g_key_file_has_group(config->keyfile, "Sink gzip"));
	g_assert_cmpint(g_key_file_get_integer(config->keyfile, "Sink gzip", "Level", NULL), ==, 6);

	/* a known sink's group without [Daemon] at all */
	{
		g_autoptr(TldrsConfig) config2 = load_ok("[Sink gzip]\nLevel=1\n");
		g_assert_true(g_key_file_has_group(config2->keyfile, "Sink gzip"));
	}
}

/* SIGHUP: the same file read again; the runtime keys are taken, the others that changed are
 * named; a wrong file is an error naming file, group and key */
static void
test_reread(void)
{
	g_autoptr(TldrsConfig) config = load_ok("[Daemon]\n"
	                                        "Sinks=jsonl;gzip\n"
	                                        "MaxLineBytes=4096\n"
	                                        "[Sink gzip]\n"
	                                        "Level=6\n");
	g_autoptr(TldrsConfig) fresh = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) restart_only = NULL;

	/* unchanged: nothing waits for a restart */
	fresh = tldrs_config_reread(config, &restart_only, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(fresh->config_path, ==, config->config_path);
	g_assert_cmpuint(g_strv_length(restart_only), ==, 0);
	g_clear_pointer(&fresh, tldrs_config_free);
	g_clear_pointer(&restart_only, g_strfreev);

	g_file_set_contents(config->config_path,
	                    "[Daemon]\n"
	                    "Sinks=jsonl\n"
	                    "FlushIntervalSec=0.5\n"
	                    "MaxClients=7\n"
	                    "ExitIdleSec=60\n"
	                    "[Retention]\n"
	                    "MaxTotalBytes=1000\n"
	                    "MaxAgeSec=10\n"
	                    "[Sink gzip]\n"
	                    "Level=1\n",
	                    -1,
	                    NULL);
	fresh = tldrs_config_reread(config, &restart_only, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fresh->flush_interval_us, ==, G_USEC_PER_SEC / 2);
	g_assert_cmpuint(fresh->max_clients, ==, 7);
	g_assert_cmpint(fresh->exit_idle_us, ==, 60 * G_USEC_PER_SEC);
	g_assert_cmpuint(fresh->retention_max_bytes, ==, 1000);
	g_assert_cmpint(fresh->retention_max_age_us, ==, 10 * G_USEC_PER_SEC);
	/* a removed key counts as changed, runtime keys never do */
	{
		const char *changed[] = {
		        "[Daemon] MaxLineBytes", "[Daemon] Sinks", "[Sink gzip] Level", NULL};
		g_assert_cmpstrv(restart_only, changed);
	}
	g_clear_pointer(&fresh, tldrs_config_free);
	g_clear_pointer(&restart_only, g_strfreev);

	/* a wrong file */
	g_file_set_contents(config->config_path, "[Daemon]\nMaxClients=0\n", -1, NULL);
	g_assert_null(tldrs_config_reread(config, &restart_only, &error));
	g_assert_error(error, TLDRS_ERROR, TLDRS_ERROR_INVALID_ARGUMENT);
	g_assert_true(g_str_has_prefix(error->message, config->config_path));
	g_assert_nonnull(strstr(error->message, ": [Daemon] MaxClients: expected"));
}

/* data/tldrs.conf: "a [Sink NAME] group must name one of these or a listed sink" */
static void
test_sink_group_listed(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path =
	        write_conf("[Daemon]\nSinks=jsonl;custom\n[Sink custom]\nKey=value\n");
	g_autoptr(TldrsConfig) config = tldrs_config_new();

	g_assert_true(tldrs_config_load_file(config, path, &error));
	g_assert_no_error(error);
	g_assert_true(g_key_file_has_group(config->keyfile, "Sink custom"));
}

/* only "~" and "~/..." expand; "~user" is not absolute and must be refused, not taken as a
 * path relative to the daemon's working directory */
static void
test_tilde_user(void)
{
	assert_load_error("[Daemon]\nDataDir=~other/traces\n",
	                  "[Daemon] DataDir: expected an absolute path, got \"~other/traces\"");
	assert_load_error("[Daemon]\nSocket=~other.socket\n",
	                  "[Daemon] Socket: expected an absolute path, got \"~other.socket\"");
}

static const char *const daemon_keys[] = {"Socket",
                                          "DataDir",
                                          "Sinks",
                                          "FlushIntervalSec",
                                          "PluginDir",
                                          "MaxLineBytes",
                                          "MaxClients",
                                          "MaxBacklogBytes",
                                          "MaxAtExitPaths",
                                          "DBus",
                                          "ExitIdleSec",
                                          NULL};

/* data/tldrs.conf loads, and with every key uncommented it is the built-in defaults */
static void
test_shipped_example(void)
{
	g_autofree char *example =
	        g_test_build_filename(G_TEST_DIST, "..", "data", "tldrs.conf", NULL);
	g_autofree char *contents = NULL;
	g_autofree char *uncommented = NULL;
	g_autofree char *path = NULL;
	g_autofree char *saved_tmpdir = g_strdup(g_getenv("TMPDIR"));
	g_autofree char *saved_xdg = g_strdup(g_getenv("XDG_DATA_HOME"));
	g_autoptr(GRegex) regex = NULL;
	g_autoptr(GError) error = NULL;

	if (!g_file_get_contents(example, &contents, NULL, NULL)) {
		g_test_skip("no data/tldrs.conf");
		return;
	}
	/* the defaults that the example spells out: no TMPDIR, no XDG_DATA_HOME */
	g_unsetenv("TMPDIR");
	g_unsetenv("XDG_DATA_HOME");
	g_unsetenv("TRACE_TEF_TLDR_SOCKET");
	{
		g_autoptr(TldrsConfig) defaults = tldrs_config_new();
		g_autoptr(TldrsConfig) config = tldrs_config_new();
		g_autoptr(TldrsConfig) all = tldrs_config_new();
		g_auto(GStrv) keys = NULL;

		g_assert_true(tldrs_config_load_file(config, example, &error));
		g_assert_no_error(error);

		regex = g_regex_new("^#([A-Za-z]+=)", G_REGEX_MULTILINE, 0, &error);
		g_assert_no_error(error);
		uncommented = g_regex_replace(regex, contents, -1, 0, "\\1", 0, &error);
		g_assert_no_error(error);
		tldrs_test_drop_unbuilt_sinks(uncommented);
		path = write_conf(uncommented);
		g_assert_true(tldrs_config_load_file(all, path, &error));
		g_assert_no_error(error);
		/* every [Daemon] key is in the example */
		keys = g_key_file_get_keys(all->keyfile, "Daemon", NULL, NULL);
		g_assert_nonnull(keys);
		for (guint i = 0; daemon_keys[i] != NULL; i++) {
			if (!g_strv_contains((const char *const *)keys, daemon_keys[i]))
				g_error("%s: no #%s=", example, daemon_keys[i]);
		}

		g_assert_cmpstr(all->socket_path, ==, defaults->socket_path);
		g_assert_cmpstr(all->data_dir, ==, defaults->data_dir);
		g_assert_cmpstrv(all->sinks, defaults->sinks);
		g_assert_cmpint(all->flush_interval_us, ==, defaults->flush_interval_us);
		g_assert_cmpstr(all->plugin_dir, ==, defaults->plugin_dir);
		g_assert_cmpuint(all->max_line_bytes, ==, defaults->max_line_bytes);
		g_assert_cmpuint(all->max_clients, ==, defaults->max_clients);
		g_assert_cmpuint(all->max_backlog_bytes, ==, defaults->max_backlog_bytes);
		g_assert_cmpuint(all->max_at_exit_paths, ==, defaults->max_at_exit_paths);
		g_assert_cmpint(all->dbus, ==, defaults->dbus);
		g_assert_cmpint(all->exit_idle_us, ==, defaults->exit_idle_us);
	}
	if (saved_tmpdir != NULL)
		g_setenv("TMPDIR", saved_tmpdir, TRUE);
	if (saved_xdg != NULL)
		g_setenv("XDG_DATA_HOME", saved_xdg, TRUE);
}

static void
test_set_data_dir(void)
{
	g_autoptr(TldrsConfig) config = tldrs_config_new();
	g_autofree char *cwd = g_get_current_dir();
	g_autofree char *rel = g_build_filename(cwd, "some", "dir", NULL);
	g_autofree char *home_dir = g_build_filename(test_home, "x", NULL);

	tldrs_config_set_data_dir(config, "/a/b/../c");
	g_assert_cmpstr(config->data_dir, ==, "/a/c");
	tldrs_config_set_data_dir(config, "some/./dir/");
	g_assert_cmpstr(config->data_dir, ==, rel);
	tldrs_config_set_data_dir(config, "~/x");
	g_assert_cmpstr(config->data_dir, ==, home_dir);
}

static void
put_conf(const char *dir)
{
	g_autofree char *sub = g_build_filename(dir, "tldrs", NULL);
	g_autofree char *fn = g_build_filename(sub, "tldrs.conf", NULL);
	g_assert_cmpint(g_mkdir_with_parents(sub, 0700), ==, 0);
	g_assert_true(g_file_set_contents(fn, "[Daemon]\n", -1, NULL));
}

static void
test_find_file(void)
{
	g_autofree char *sys_fn = g_build_filename(TLDRS_SYSCONFDIR, "tldrs", "tldrs.conf", NULL);
	g_autofree char *home_fn = g_build_filename(config_home, "tldrs", "tldrs.conf", NULL);
	g_autofree char *sys1_fn = g_build_filename(config_sys1, "tldrs", "tldrs.conf", NULL);
	g_autofree char *sys2_fn = g_build_filename(config_sys2, "tldrs", "tldrs.conf", NULL);
	char *found;

	/* the environment set in main() is what GLib sees */
	g_assert_cmpstr(g_get_user_config_dir(), ==, config_home);
	g_assert_cmpstr(g_get_system_config_dirs()[0], ==, config_sys1);
	g_assert_cmpstr(g_get_system_config_dirs()[1], ==, config_sys2);

	found = tldrs_config_find_file();
	if (g_file_test(sys_fn, G_FILE_TEST_EXISTS))
		g_assert_cmpstr(found, ==, sys_fn);
	else
		g_assert_null(found);
	g_free(found);

	/* a directory in the way is not a config file */
	g_assert_cmpint(g_mkdir_with_parents(home_fn, 0700), ==, 0);
	put_conf(config_sys2);
	found = tldrs_config_find_file();
	g_assert_cmpstr(found, ==, sys2_fn);
	g_free(found);
	g_assert_cmpint(g_rmdir(home_fn), ==, 0);

	put_conf(config_sys1);
	found = tldrs_config_find_file();
	g_assert_cmpstr(found, ==, sys1_fn);
	g_free(found);

	put_conf(config_home);
	found = tldrs_config_find_file();
	g_assert_cmpstr(found, ==, home_fn);
	g_free(found);

	/* each file found loads */
	{
		g_autoptr(TldrsConfig) config = tldrs_config_new();
		g_autoptr(GError) error = NULL;
		g_assert_true(tldrs_config_load_file(config, home_fn, &error));
		g_assert_no_error(error);
	}

	g_unlink(home_fn);
	g_unlink(sys1_fn);
	found = tldrs_config_find_file();
	g_assert_cmpstr(found, ==, sys2_fn);
	g_free(found);
	g_unlink(sys2_fn);
}

/* also when g_test_init() exits early (-l, --help) */
static void
cleanup_root(void)
{
	tldrs_test_rm_rf(test_root);
	g_clear_pointer(&test_root, g_free);
	g_clear_pointer(&test_home, g_free);
	g_clear_pointer(&config_home, g_free);
	g_clear_pointer(&config_sys1, g_free);
	g_clear_pointer(&config_sys2, g_free);
}

/* a sink that ships with tldrs but was left out of this build: its group may stay empty, a key
 * in it is refused saying so */
static void
test_unbuilt_sink(void)
{
	g_autoptr(TldrsConfig) config = NULL;
	if (TLDRS_HAVE_NATS) {
		g_test_skip("the nats sink is built");
		return;
	}
	config = load_ok("[Sink nats]\n# URL=nats://h:4222\n");
	assert_load_error("[Sink nats]\nURL=nats://h:4222\n",
	                  "[Sink nats] URL: this tldrs was built without the nats sink");
}

int
main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char *root;
	int rc;

	/* before any GLib call: g_get_home_dir() and the XDG directories are cached */
	root = g_strdup_printf("%s/tldrs-config-test-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_root = root;
	atexit(cleanup_root);
	test_home = g_build_filename(root, "home", NULL);
	config_home = g_build_filename(root, "config-home", NULL);
	config_sys1 = g_build_filename(root, "config-sys1", NULL);
	config_sys2 = g_build_filename(root, "config-sys2", NULL);
	{
		g_autofree char *dirs = g_strdup_printf("%s:%s", config_sys1, config_sys2);
		g_autofree char *data = g_build_filename(root, "data-home", NULL);
		g_setenv("HOME", test_home, TRUE);
		g_setenv("XDG_CONFIG_HOME", config_home, TRUE);
		g_setenv("XDG_CONFIG_DIRS", dirs, TRUE);
		g_setenv("XDG_DATA_HOME", data, TRUE);
	}
	g_mkdir_with_parents(test_home, 0700);

	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/tldrs/config/default-socket", test_default_socket);
	g_test_add_func("/tldrs/config/default-data-dir", test_default_data_dir);
	g_test_add_func("/tldrs/config/defaults", test_defaults);
	g_test_add_func("/tldrs/config/load-every-key", test_load_every_key);
	g_test_add_func("/tldrs/config/load-values", test_load_values);
	g_test_add_func("/tldrs/config/load-errors", test_load_errors);
	g_test_add_func("/tldrs/config/load-file-errors", test_load_file_errors);
	g_test_add_func("/tldrs/config/sink-groups", test_sink_groups);
	g_test_add_func("/tldrs/config/sink-group-listed", test_sink_group_listed);
	g_test_add_func("/tldrs/config/reread", test_reread);
	g_test_add_func("/tldrs/config/tilde-user", test_tilde_user);
	g_test_add_func("/tldrs/config/shipped-example", test_shipped_example);
	g_test_add_func("/tldrs/config/unbuilt-sink", test_unbuilt_sink);
	g_test_add_func("/tldrs/config/set-data-dir", test_set_data_dir);
	g_test_add_func("/tldrs/config/find-file", test_find_file);

	rc = g_test_run();
	cleanup_root();
	return rc;
}
