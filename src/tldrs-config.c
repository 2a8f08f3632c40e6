/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gi18n.h>

#include "tldrs-config.h"
#include "tldrs-error.h"
#include "tldrs-plugin-loader.h"

/* where existing clients look: $TMPDIR/tldrs.socket, /tmp/tldrs.socket */
char *
tldrs_config_shared_socket_path(void)
{
	const char *tmpdir = g_getenv("TMPDIR");
	if (tmpdir == NULL || tmpdir[0] == '\0')
		tmpdir = "/tmp";
	return g_build_filename(tmpdir, "tldrs.socket", NULL);
}

/* $XDG_RUNTIME_DIR/tldrs.socket, in a directory no other user can enter; NULL without it */
char *
tldrs_config_private_socket_path(void)
{
	const char *runtime = g_getenv("XDG_RUNTIME_DIR");
	if (runtime == NULL || runtime[0] != '/')
		return NULL;
	return g_build_filename(runtime, "tldrs.socket", NULL);
}

char *
tldrs_config_default_socket_path(void)
{
	const char *env = g_getenv("TRACE_TEF_TLDR_SOCKET");
	if (env != NULL && env[0] != '\0')
		return g_strdup(env);
	return tldrs_config_shared_socket_path();
}

char *
tldrs_config_default_data_dir(void)
{
	const char *xdg = g_getenv("XDG_DATA_HOME");
	if (xdg != NULL && g_path_is_absolute(xdg))
		return g_build_filename(xdg, "tldrs", NULL);
	return g_build_filename(g_get_home_dir(), ".local", "share", "tldrs", NULL);
}

/* $TLDRS_PLUGIN_DIR; else, for the tldrs executable of the build tree, the plugins built
 * beside it; else the installed plugin directory */
char *
tldrs_config_default_plugin_dir(void)
{
	const char *env = g_getenv("TLDRS_PLUGIN_DIR");
	g_autofree char *exe = NULL;
	g_autofree char *build_exe = NULL;

	if (env != NULL && env[0] != '\0')
		return g_strdup(env);
	exe = g_file_read_link("/proc/self/exe", NULL);
	build_exe = realpath(TLDRS_BUILD_EXE, NULL);
	if (exe != NULL && build_exe != NULL && g_str_equal(exe, build_exe))
		return g_strdup(TLDRS_BUILD_PLUGIN_PATH);
	return g_strdup(TLDRS_PLUGIN_DIR);
}

TldrsConfig *
tldrs_config_new(void)
{
	TldrsConfig *self = g_new0(TldrsConfig, 1);
	self->socket_path = tldrs_config_default_socket_path();
	self->data_dir = tldrs_config_default_data_dir();
	self->sinks = g_strsplit(TLDRS_SINKS_DEFAULT, ";", -1);
	self->flush_interval_us = TLDRS_FLUSH_INTERVAL_DEFAULT_US;
	self->plugin_dir = tldrs_config_default_plugin_dir();
	self->max_line_bytes = TLDRS_MAX_LINE_BYTES_DEFAULT;
	self->max_backlog_bytes = TLDRS_MAX_BACKLOG_BYTES_DEFAULT;
	self->max_incomplete_lines_bytes = TLDRS_MAX_INCOMPLETE_LINES_BYTES_DEFAULT;
	self->max_at_exit_paths = TLDRS_MAX_AT_EXIT_PATHS_DEFAULT;
	self->dbus = TRUE;
	return self;
}

/* $XDG_CONFIG_HOME, then each of $XDG_CONFIG_DIRS, then the installed sysconfdir */
char *
tldrs_config_find_file(void)
{
	const char *const *dirs = g_get_system_config_dirs();
	g_autofree char *user =
	        g_build_filename(g_get_user_config_dir(), "tldrs", "tldrs.conf", NULL);
	g_autofree char *sys = g_build_filename(TLDRS_SYSCONFDIR, "tldrs", "tldrs.conf", NULL);

	if (g_file_test(user, G_FILE_TEST_IS_REGULAR))
		return g_steal_pointer(&user);
	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autofree char *fn = g_build_filename(dirs[i], "tldrs", "tldrs.conf", NULL);
		if (g_file_test(fn, G_FILE_TEST_IS_REGULAR))
			return g_steal_pointer(&fn);
	}
	if (g_file_test(sys, G_FILE_TEST_IS_REGULAR))
		return g_steal_pointer(&sys);
	return NULL;
}

/* absolute, or "~" / "~/…" (which expand to the home directory); not "~user" */
static gboolean
tldrs_config_is_absolute(const char *value)
{
	return g_path_is_absolute(value) ||
	       (value[0] == '~' && (value[1] == '/' || value[1] == '\0'));
}

static char *
tldrs_config_expand_path(const char *value)
{
	if (value[0] == '~' && (value[1] == '/' || value[1] == '\0'))
		return g_build_filename(g_get_home_dir(), value + 1, NULL);
	return g_strdup(value);
}

void
tldrs_config_set_data_dir(TldrsConfig *self, const char *dir)
{
	g_autofree char *expanded = tldrs_config_expand_path(dir);
	g_free(self->data_dir);
	if (g_path_is_absolute(expanded)) {
		self->data_dir = g_canonicalize_filename(expanded, NULL);
	} else {
		g_autofree char *cwd = g_get_current_dir();
		self->data_dir = g_canonicalize_filename(expanded, cwd);
	}
}

static gboolean
tldrs_config_fail(GError **error,
                  const char *path,
                  const char *group,
                  const char *key,
                  const char *expected,
                  const char *value)
{
	g_set_error(error,
	            TLDRS_ERROR,
	            TLDRS_ERROR_INVALID_ARGUMENT,
	            /* TRANSLATORS: file: [group] key: expected …, got "value" */
	            _("%s: [%s] %s: expected %s, got \"%s\""),
	            path,
	            group,
	            key,
	            expected,
	            value);
	return FALSE;
}

static gboolean
tldrs_config_unknown_key(GError **error, const char *path, const char *group, const char *key)
{
	g_set_error(error,
	            TLDRS_ERROR,
	            TLDRS_ERROR_INVALID_ARGUMENT,
	            _("%s: [%s] %s: unknown key"),
	            path,
	            group,
	            key);
	return FALSE;
}

/* a sink name, safe to build a plugin file name from */
static gboolean
tldrs_config_is_sink_name(const char *name)
{
	if (name[0] == '\0')
		return FALSE;
	for (const char *c = name; *c != '\0'; c++) {
		if (!g_ascii_isalnum(*c) && *c != '-' && *c != '_')
			return FALSE;
	}
	return TRUE;
}

static gboolean
tldrs_config_parse_uint(const char *value, guint64 min, guint64 max, guint64 *out)
{
	guint64 v = 0;
	if (!g_ascii_string_to_unsigned(value, 10, min, max, &v, NULL))
		return FALSE;
	*out = v;
	return TRUE;
}

/* seconds, fractional allowed, up to @max; 0 only when @zero_ok; in microseconds */
static gboolean
tldrs_config_parse_seconds(const char *value, gboolean zero_ok, double max, gint64 *us)
{
	char *end = NULL;
	double v;
	errno = 0;
	v = g_ascii_strtod(value, &end);
	if (value[0] == '\0' || end == NULL || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < 0 || (v == 0 && !zero_ok) || v > max)
		return FALSE;
	*us = (gint64)(v * G_USEC_PER_SEC);
	return TRUE;
}

static gboolean
tldrs_config_load_daemon(TldrsConfig *self, GKeyFile *kf, const char *path, GError **error)
{
	const char *group = "Daemon";
	g_auto(GStrv) keys = NULL;

	if (!g_key_file_has_group(kf, group))
		return TRUE;
	keys = g_key_file_get_keys(kf, group, NULL, NULL);
	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		const char *key = keys[i];
		g_autofree char *value = g_key_file_get_value(kf, group, key, NULL);
		g_strstrip(value);
		if (g_strcmp0(key, "Socket") == 0) {
			if (value[0] == '\0')
				continue;
			if (!tldrs_config_is_absolute(value))
				return tldrs_config_fail(
				        error, path, group, key, _("an absolute path"), value);
			g_free(self->socket_path);
			self->socket_path = tldrs_config_expand_path(value);
		} else if (g_strcmp0(key, "DataDir") == 0) {
			if (value[0] == '\0')
				continue;
			if (!tldrs_config_is_absolute(value))
				return tldrs_config_fail(
				        error, path, group, key, _("an absolute path"), value);
			tldrs_config_set_data_dir(self, value);
		} else if (g_strcmp0(key, "Sinks") == 0) {
			g_auto(GStrv) list = g_key_file_get_string_list(kf, group, key, NULL, NULL);
			g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
			for (guint j = 0; list != NULL && list[j] != NULL; j++) {
				char *name = g_strstrip(list[j]);
				if (name[0] == '\0')
					continue;
				if (!tldrs_config_is_sink_name(name))
					return tldrs_config_fail(error,
					                         path,
					                         group,
					                         key,
					                         _("sink names of letters, "
					                           "digits, '-' and '_'"),
					                         value);
				for (guint k = 0; k < names->len; k++) {
					if (g_strcmp0(g_ptr_array_index(names, k), name) == 0)
						return tldrs_config_fail(error,
						                         path,
						                         group,
						                         key,
						                         _("each sink once"),
						                         value);
				}
				g_ptr_array_add(names, g_strdup(name));
			}
			if (names->len == 0)
				return tldrs_config_fail(
				        error, path, group, key, _("at least one sink"), value);
			g_ptr_array_add(names, NULL);
			g_strfreev(self->sinks);
			self->sinks = (char **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
		} else if (g_strcmp0(key, "FlushIntervalSec") == 0) {
			gint64 us = 0;
			if (!tldrs_config_parse_seconds(value, FALSE, 3600, &us))
				return tldrs_config_fail(error,
				                         path,
				                         group,
				                         key,
				                         _("a number > 0 (seconds, at most 3600)"),
				                         value);
			self->flush_interval_us = MAX(us, 1000);
		} else if (g_strcmp0(key, "ExitIdleSec") == 0) {
			if (!tldrs_config_parse_seconds(
			            value, TRUE, 86400 * 365, &self->exit_idle_us))
				return tldrs_config_fail(error,
				                         path,
				                         group,
				                         key,
				                         _("a number of seconds >= 0 (0: never)"),
				                         value);
		} else if (g_strcmp0(key, "PluginDir") == 0) {
			if (value[0] == '\0')
				continue;
			g_free(self->plugin_dir);
			self->plugin_dir = tldrs_config_expand_path(value);
		} else if (g_strcmp0(key, "MaxLineBytes") == 0) {
			guint64 v = 0;
			if (!tldrs_config_parse_uint(value, 1024, G_GUINT64_CONSTANT(1) << 30, &v))
				return tldrs_config_fail(
				        error,
				        path,
				        group,
				        key,
				        _("a whole number from 1024 to 1073741824"),
				        value);
			self->max_line_bytes = (gsize)v;
		} else if (g_strcmp0(key, "MaxIncompleteLinesBytes") == 0) {
			guint64 v = 0;
			if (!tldrs_config_parse_uint(
			            value, 1024 * 1024, G_GUINT64_CONSTANT(1) << 40, &v))
				return tldrs_config_fail(
				        error,
				        path,
				        group,
				        key,
				        _("a whole number from 1048576 to 1099511627776"),
				        value);
			self->max_incomplete_lines_bytes = (gsize)v;
		} else if (g_strcmp0(key, "MaxClients") == 0) {
			guint64 v = 0;
			/* empty: the default, which follows the open-files limit */
			if (value[0] == '\0') {
				self->max_clients = 0;
				continue;
			}
			if (!tldrs_config_parse_uint(value, 1, TLDRS_MAX_CLIENTS_MAX, &v))
				return tldrs_config_fail(error,
				                         path,
				                         group,
				                         key,
				                         _("a whole number from 1 to 1000000"),
				                         value);
			self->max_clients = (guint)v;
		} else if (g_strcmp0(key, "MaxBacklogBytes") == 0) {
			guint64 v = 0;
			if (!tldrs_config_parse_uint(value, 65536, G_GUINT64_CONSTANT(1) << 40, &v))
				return tldrs_config_fail(
				        error,
				        path,
				        group,
				        key,
				        _("a whole number from 65536 to 1099511627776"),
				        value);
			self->max_backlog_bytes = v;
		} else if (g_strcmp0(key, "MaxAtExitPaths") == 0) {
			guint64 v = 0;
			if (!tldrs_config_parse_uint(value, 1, 65536, &v))
				return tldrs_config_fail(error,
				                         path,
				                         group,
				                         key,
				                         _("a whole number from 1 to 65536"),
				                         value);
			self->max_at_exit_paths = (guint)v;
		} else if (g_strcmp0(key, "DBus") == 0) {
			if (g_strcmp0(value, "session") == 0)
				self->dbus = TRUE;
			else if (g_strcmp0(value, "none") == 0)
				self->dbus = FALSE;
			else
				return tldrs_config_fail(
				        error, path, group, key, _("session or none"), value);
		} else {
			return tldrs_config_unknown_key(error, path, group, key);
		}
	}
	return TRUE;
}

/* [Retention]: how much the data directory may keep */
static gboolean
tldrs_config_load_retention(TldrsConfig *self, GKeyFile *kf, const char *path, GError **error)
{
	const char *group = "Retention";
	g_auto(GStrv) keys = NULL;

	if (!g_key_file_has_group(kf, group))
		return TRUE;
	keys = g_key_file_get_keys(kf, group, NULL, NULL);
	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		const char *key = keys[i];
		g_autofree char *value = g_key_file_get_value(kf, group, key, NULL);
		guint64 v = 0;
		g_strstrip(value);
		if (g_strcmp0(key, "MaxTotalBytes") == 0) {
			if (!tldrs_config_parse_uint(value, 0, G_MAXINT64, &v))
				return tldrs_config_fail(error,
				                         path,
				                         group,
				                         key,
				                         _("a whole number of bytes (0: no limit)"),
				                         value);
			self->retention_max_bytes = v;
		} else if (g_strcmp0(key, "MaxAgeSec") == 0) {
			if (!tldrs_config_parse_uint(value, 0, G_MAXINT64 / G_USEC_PER_SEC, &v))
				return tldrs_config_fail(
				        error,
				        path,
				        group,
				        key,
				        _("a whole number of seconds (0: no limit)"),
				        value);
			self->retention_max_age_us = (gint64)v * G_USEC_PER_SEC;
		} else {
			return tldrs_config_unknown_key(error, path, group, key);
		}
	}
	return TRUE;
}

static gint
tldrs_config_cmp_sink_names(gconstpointer a, gconstpointer b)
{
	const char *na = *(const char *const *)a;
	const char *nb = *(const char *const *)b;
	g_auto(GStrv) defaults = g_strsplit(TLDRS_SINKS_DEFAULT, ";", -1);
	gboolean da = g_strv_contains((const char *const *)defaults, na);
	gboolean db = g_strv_contains((const char *const *)defaults, nb);
	if (da != db)
		return da ? -1 : 1;
	return g_strcmp0(na, nb);
}

/* a sink that reads what another stored (tef) needs one that stores (jsonl, gzip) beside it */
static gboolean
tldrs_config_check_sinks(TldrsConfig *self, GKeyFile *kf, const char *path, GError **error)
{
	g_autofree char *value = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autoptr(GPtrArray) storing = NULL;
	const char *needing = NULL;

	if (!g_key_file_has_key(kf, "Daemon", "Sinks", NULL))
		return TRUE;
	for (guint i = 0; self->sinks[i] != NULL; i++) {
		const TldrsSinkInfo *info =
		        tldrs_plugin_loader_find_info(self->plugin_dir, self->sinks[i]);
		if (info == NULL)
			continue;
		if (info->flags & TLDRS_SINK_FLAG_STORES_EVENTS)
			return TRUE;
		if (needing == NULL && (info->flags & TLDRS_SINK_FLAG_NEEDS_STORED_EVENTS))
			needing = info->name;
	}
	if (needing == NULL)
		return TRUE;
	all = tldrs_plugin_loader_list(self->plugin_dir);
	storing = g_ptr_array_new();
	for (guint i = 0; i < all->len; i++) {
		const TldrsSinkInfo *info = g_ptr_array_index(all, i);
		if (info->flags & TLDRS_SINK_FLAG_STORES_EVENTS)
			g_ptr_array_add(storing, (gpointer)info->name);
	}
	/* the default sink first, then by name: the same message whatever the directories */
	g_ptr_array_sort(storing, tldrs_config_cmp_sink_names);
	g_ptr_array_add(storing, NULL);
	{
		/* TRANSLATORS: "or" between sink names, as in "jsonl or gzip" */
		g_autofree char *names = g_strjoinv(_(" or "), (char **)storing->pdata);
		/* TRANSLATORS: sinks that store events beside the sink that needs them, e.g.
		 * "jsonl or gzip beside tef" */
		g_autofree char *expected = g_strdup_printf(_("%s beside %s"), names, needing);
		value = g_key_file_get_value(kf, "Daemon", "Sinks", NULL);
		g_strstrip(value);
		return tldrs_config_fail(error, path, "Daemon", "Sinks", expected, value);
	}
}

/* one of the sinks that ship with tldrs but that this build left out */
static gboolean
tldrs_config_is_unbuilt_sink(const char *name)
{
	g_auto(GStrv) unbuilt = g_strsplit(TLDRS_UNBUILT_SINKS, ";", -1);
	return name[0] != '\0' && g_strv_contains((const char *const *)unbuilt, name);
}

gboolean
tldrs_config_load_file(TldrsConfig *self, const char *path, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	g_auto(GStrv) groups = NULL;

	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(path != NULL, FALSE);

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &error_local)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_ARGUMENT,
		            "%s: %s",
		            path,
		            error_local->message);
		return FALSE;
	}
	groups = g_key_file_get_groups(kf, NULL);
	if (!tldrs_config_load_daemon(self, kf, path, error))
		return FALSE;
	if (!tldrs_config_load_retention(self, kf, path, error))
		return FALSE;
	if (!tldrs_config_check_sinks(self, kf, path, error))
		return FALSE;
	/* [Daemon], [Retention], and a group for a sink in the plugin directory (its keys are
	 * the ones it declares, whether it is in Sinks= or not) or named in Sinks= */
	for (guint i = 0; groups[i] != NULL; i++) {
		const char *g = groups[i];
		const TldrsSinkInfo *info = NULL;
		g_auto(GStrv) keys = NULL;
		if (g_strcmp0(g, "Daemon") == 0 || g_strcmp0(g, "Retention") == 0)
			continue;
		if (g_str_has_prefix(g, "Sink ") && tldrs_config_is_sink_name(g + 5))
			info = tldrs_plugin_loader_find_info(self->plugin_dir, g + 5);
		/* a sink that ships with tldrs but was left out of this build (nats without
		 * libnats): its group may stay, empty, as in the example config */
		if (info == NULL && g_str_has_prefix(g, "Sink ") &&
		    tldrs_config_is_unbuilt_sink(g + 5)) {
			keys = g_key_file_get_keys(kf, g, NULL, NULL);
			if (keys != NULL && keys[0] != NULL) {
				g_set_error(
				        error,
				        TLDRS_ERROR,
				        TLDRS_ERROR_INVALID_ARGUMENT,
				        _("%s: [%s] %s: this tldrs was built without the %s sink"),
				        path,
				        g,
				        keys[0],
				        g + 5);
				return FALSE;
			}
			continue;
		}
		if (info == NULL && (!g_str_has_prefix(g, "Sink ") ||
		                     !g_strv_contains((const char *const *)self->sinks, g + 5))) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_INVALID_ARGUMENT,
			            _("%s: [%s]: unknown group"),
			            path,
			            g);
			return FALSE;
		}
		keys = g_key_file_get_keys(kf, g, NULL, NULL);
		for (guint j = 0; info != NULL && keys != NULL && keys[j] != NULL; j++) {
			if (info->config_keys == NULL ||
			    !g_strv_contains(info->config_keys, keys[j]))
				return tldrs_config_unknown_key(error, path, g, keys[j]);
		}
	}
	g_free(self->config_path);
	self->config_path = g_strdup(path);
	if (self->keyfile != NULL)
		g_key_file_unref(self->keyfile);
	self->keyfile = g_steal_pointer(&kf);
	return TRUE;
}

/* what SIGHUP applies at once; everything else takes effect at the next start */
static gboolean
tldrs_config_key_is_runtime(const char *group, const char *key)
{
	if (g_strcmp0(group, "Retention") == 0)
		return TRUE;
	return g_strcmp0(group, "Daemon") == 0 &&
	       (g_strcmp0(key, "FlushIntervalSec") == 0 || g_strcmp0(key, "MaxClients") == 0 ||
	        g_strcmp0(key, "ExitIdleSec") == 0);
}

static void
tldrs_config_add_keys(GHashTable *set, GKeyFile *kf, const char *group)
{
	g_auto(GStrv) keys = NULL;
	if (kf == NULL)
		return;
	keys = g_key_file_get_keys(kf, group, NULL, NULL);
	for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
		g_hash_table_add(set, g_strdup(keys[i]));
}

static char *
tldrs_config_get_stripped(GKeyFile *kf, const char *group, const char *key)
{
	char *value = kf != NULL ? g_key_file_get_value(kf, group, key, NULL) : NULL;
	return value != NULL ? g_strstrip(value) : NULL;
}

static gint
tldrs_config_cmp_strings(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* "[Group] Key" of every key whose value differs between @before and @after (either may be
 * NULL: no file) and that only the next start applies, sorted */
static char **
tldrs_config_restart_only_changes(GKeyFile *before, GKeyFile *after)
{
	g_autoptr(GHashTable) groups = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GPtrArray) changed = g_ptr_array_new_with_free_func(g_free);
	GKeyFile *files[] = {before, after};
	GHashTableIter iter;
	gpointer group;

	for (guint f = 0; f < G_N_ELEMENTS(files); f++) {
		g_auto(GStrv) names =
		        files[f] != NULL ? g_key_file_get_groups(files[f], NULL) : NULL;
		for (guint i = 0; names != NULL && names[i] != NULL; i++)
			g_hash_table_add(groups, g_strdup(names[i]));
	}
	g_hash_table_iter_init(&iter, groups);
	while (g_hash_table_iter_next(&iter, &group, NULL)) {
		g_autoptr(GHashTable) keys =
		        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		GHashTableIter kiter;
		gpointer key;
		tldrs_config_add_keys(keys, before, group);
		tldrs_config_add_keys(keys, after, group);
		g_hash_table_iter_init(&kiter, keys);
		while (g_hash_table_iter_next(&kiter, &key, NULL)) {
			g_autofree char *old = tldrs_config_get_stripped(before, group, key);
			g_autofree char *new = tldrs_config_get_stripped(after, group, key);
			if (!tldrs_config_key_is_runtime(group, key) && g_strcmp0(old, new) != 0)
				g_ptr_array_add(
				        changed,
				        g_strdup_printf("[%s] %s", (char *)group, (char *)key));
		}
	}
	g_ptr_array_sort(changed, tldrs_config_cmp_strings);
	g_ptr_array_add(changed, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&changed), FALSE);
}

/**
 * tldrs_config_reread:
 * @self: the running daemon's settings
 * @restart_only: (out): the keys, as "[Group] Key", whose value in the file changed since
 *   the daemon started but that take effect only at its next start (Socket, DataDir, Sinks,
 *   PluginDir, MaxLineBytes, DBus, the sinks' groups)
 *
 * SIGHUP: the file the daemon read at start (or, when it read none, the one it would find
 * now) read again over the defaults and the environment, checked as at start.
 *
 * Returns: (transfer full): the settings the file gives now, of which the daemon applies
 *   FlushIntervalSec, MaxClients, ExitIdleSec and [Retention]; %NULL with @error set
 *   (naming the file, group and key) when the file is wrong
 */
TldrsConfig *
tldrs_config_reread(const TldrsConfig *self, char ***restart_only, GError **error)
{
	g_autoptr(TldrsConfig) fresh = tldrs_config_new();
	g_autofree char *path = NULL;

	g_return_val_if_fail(self != NULL, NULL);
	g_return_val_if_fail(restart_only != NULL, NULL);
	path = self->config_path != NULL ? g_strdup(self->config_path) : tldrs_config_find_file();
	if (path != NULL && !tldrs_config_load_file(fresh, path, error))
		return NULL;
	*restart_only = tldrs_config_restart_only_changes(self->keyfile, fresh->keyfile);
	return g_steal_pointer(&fresh);
}

void
tldrs_config_free(TldrsConfig *self)
{
	if (self == NULL)
		return;
	g_free(self->config_path);
	if (self->keyfile != NULL)
		g_key_file_unref(self->keyfile);
	g_free(self->socket_path);
	g_free(self->data_dir);
	g_strfreev(self->sinks);
	g_free(self->plugin_dir);
	g_free(self->into_file);
	g_free(self);
}
