/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include <string.h>

#include <gmodule.h>

#include <glib/gi18n.h>

#include "tldrs-error.h"
#include "tldrs-plugin-loader.h"

/* Sink plugins are `tldrs-sink-NAME.so` files in the plugin directory. Each exports
 * tldrs_sink_plugin_get_type() (see TLDRS_SINK_PLUGIN_DEFINE) and checks the sink ABI
 * version in g_module_check_init(). Modules register types, so they are never unloaded.
 *
 * What a plugin says it is (TldrsSinkInfo) is also in `tldrs-sink-NAME.sink` beside it, a
 * key file the build writes (tldrs-sink-describe): the daemon reads that and opens only the
 * modules of the sinks it runs, so that an installed plugin it does not use (nats, which
 * maps libnats and OpenSSL) costs it nothing. A plugin without one is opened to read it;
 * a module that does not match its description is refused when it is loaded. */

#define TLDRS_PLUGIN_LOADER_GROUP "Sink Plugin"

static const struct {
	TldrsSinkFlags flag;
	const char *name;
} tldrs_plugin_loader_flags[] = {
        {TLDRS_SINK_FLAG_STORES_EVENTS, "stores-events"},
        {TLDRS_SINK_FLAG_APPENDS_VERBATIM, "appends-verbatim"},
        {TLDRS_SINK_FLAG_INTO_FILE, "into-file"},
        {TLDRS_SINK_FLAG_NEEDS_STORED_EVENTS, "needs-stored-events"},
};

/* @plugin_dir may list several directories, separated by ':'; the first that has the
 * plugin wins (the build tree keeps each plugin in its own directory) */
char *
tldrs_plugin_loader_path(const char *plugin_dir, const char *name)
{
	g_autofree char *fn = g_strdup_printf("tldrs-sink-%s.%s", name, G_MODULE_SUFFIX);
	g_auto(GStrv) dirs = g_strsplit(plugin_dir, G_SEARCHPATH_SEPARATOR_S, -1);
	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autofree char *path = NULL;
		if (dirs[i][0] == '\0')
			continue;
		path = g_build_filename(dirs[i], fn, NULL);
		if (g_file_test(path, G_FILE_TEST_EXISTS) || dirs[i + 1] == NULL)
			return g_steal_pointer(&path);
	}
	return g_build_filename(plugin_dir, fn, NULL);
}

static gint
tldrs_plugin_loader_cmp_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* the sink type of plugin @name, its module opened once and kept */
static GType
tldrs_plugin_loader_load_type(const char *plugin_dir, const char *name, GError **error)
{
	static GHashTable *types = NULL; /* name -> GType, for modules already open */
	g_autofree char *path = NULL;
	const TldrsSinkInfo *info;
	GModule *module;
	GType (*get_type)(void) = NULL;
	GType type;

	if (types == NULL)
		types = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	type = (GType)GPOINTER_TO_SIZE(g_hash_table_lookup(types, name));
	if (type != 0)
		return type;
	path = tldrs_plugin_loader_path(plugin_dir, name);
	if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_autofree char *base = g_path_get_basename(path);
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_ARGUMENT,
		            /* a build-tree copy or a moved install lands here too: say what
		             * to set */
		            _("unknown sink \"%s\": no %s in %s (set TLDRS_PLUGIN_DIR or "
		              "PluginDir= to the directory of the sink plugins)"),
		            name,
		            base,
		            plugin_dir);
		return 0;
	}
	module = g_module_open(path, G_MODULE_BIND_LOCAL | G_MODULE_BIND_LAZY);
	if (module == NULL) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("cannot load sink plugin %s: %s"),
		            path,
		            g_module_error());
		return 0;
	}
	if (!g_module_symbol(module, "tldrs_sink_plugin_get_type", (gpointer *)&get_type) ||
	    get_type == NULL) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("%s is not a tldrs sink plugin: %s"),
		            path,
		            g_module_error());
		g_module_close(module);
		return 0;
	}
	type = get_type();
	/* types are registered: the module stays */
	g_module_make_resident(module);
	if (!g_type_is_a(type, TLDRS_TYPE_SINK) || G_TYPE_IS_ABSTRACT(type)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("%s does not provide a tldrs sink"),
		            path);
		return 0;
	}
	info = tldrs_sink_type_get_info(type);
	if (info == NULL || g_strcmp0(info->name, name) != 0) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("%s does not describe itself as sink \"%s\""),
		            path,
		            name);
		return 0;
	}
	g_hash_table_insert(types, g_strdup(name), GSIZE_TO_POINTER(type));
	g_debug("loaded sink %s from %s", name, path);
	return type;
}

/* tldrs-sink-NAME.sink for tldrs-sink-NAME.so */
static char *
tldrs_plugin_loader_description_path(const char *module_path)
{
	g_autofree char *stem = NULL;
	if (g_str_has_suffix(module_path, "." G_MODULE_SUFFIX))
		stem = g_strndup(module_path, strlen(module_path) - strlen("." G_MODULE_SUFFIX));
	else
		stem = g_strdup(module_path);
	return g_strconcat(stem, ".sink", NULL);
}

/**
 * tldrs_plugin_loader_describe:
 *
 * Returns: (transfer full) (nullable): @info as the key file installed beside the plugin;
 *   %NULL when it has a flag that the key file cannot say
 */
char *
tldrs_plugin_loader_describe(const TldrsSinkInfo *info)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GPtrArray) flags = g_ptr_array_new();
	guint known = 0;
	guint n_keys;

	g_return_val_if_fail(info != NULL && info->name != NULL, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(tldrs_plugin_loader_flags); i++)
		known |= tldrs_plugin_loader_flags[i].flag;
	/* a flag the file cannot say would make every load of the plugin a mismatch */
	if ((info->flags & ~known) != 0)
		return NULL;
	n_keys = info->config_keys != NULL ? g_strv_length((char **)info->config_keys) : 0;
	g_key_file_set_string(kf, TLDRS_PLUGIN_LOADER_GROUP, "Name", info->name);
	g_key_file_set_comment(
	        kf,
	        TLDRS_PLUGIN_LOADER_GROUP,
	        NULL,
	        " What the sink plugin beside this file says it is (its TldrsSinkInfo):\n"
	        " the daemon reads it instead of opening plugins it does not run.\n"
	        " Written by the build; see docs/writing-a-sink.md.",
	        NULL);
	if (info->suffix != NULL)
		g_key_file_set_string(kf, TLDRS_PLUGIN_LOADER_GROUP, "Suffix", info->suffix);
	for (guint i = 0; i < G_N_ELEMENTS(tldrs_plugin_loader_flags); i++) {
		if (info->flags & tldrs_plugin_loader_flags[i].flag)
			g_ptr_array_add(flags, (gpointer)tldrs_plugin_loader_flags[i].name);
	}
	g_key_file_set_string_list(kf,
	                           TLDRS_PLUGIN_LOADER_GROUP,
	                           "Flags",
	                           (const char *const *)flags->pdata,
	                           flags->len);
	g_key_file_set_string_list(
	        kf, TLDRS_PLUGIN_LOADER_GROUP, "ConfigKeys", info->config_keys, n_keys);
	g_key_file_set_integer(kf, TLDRS_PLUGIN_LOADER_GROUP, "AbiVersion", TLDRS_SINK_ABI_VERSION);
	return g_key_file_to_data(kf, NULL, NULL);
}

/* what the key file @path says a plugin is; never freed, as a module's own info */
static TldrsSinkInfo *
tldrs_plugin_loader_read_description(const char *path, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) error_local = NULL;
	g_autofree char *name = NULL;
	g_auto(GStrv) flags = NULL;
	g_auto(GStrv) keys = NULL;
	TldrsSinkFlags mask = TLDRS_SINK_FLAG_NONE;
	TldrsSinkInfo *info;
	gint abi;

	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, error))
		return NULL;
	abi = g_key_file_get_integer(kf, TLDRS_PLUGIN_LOADER_GROUP, "AbiVersion", &error_local);
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return NULL;
	}
	if (abi != TLDRS_SINK_ABI_VERSION) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            "written for sink ABI version %d, not %d",
		            abi,
		            TLDRS_SINK_ABI_VERSION);
		return NULL;
	}
	name = g_key_file_get_string(kf, TLDRS_PLUGIN_LOADER_GROUP, "Name", error);
	if (name == NULL)
		return NULL;
	flags = g_key_file_get_string_list(kf, TLDRS_PLUGIN_LOADER_GROUP, "Flags", NULL, NULL);
	for (guint i = 0; flags != NULL && flags[i] != NULL; i++) {
		guint j;
		for (j = 0; j < G_N_ELEMENTS(tldrs_plugin_loader_flags); j++) {
			if (g_strcmp0(flags[i], tldrs_plugin_loader_flags[j].name) == 0)
				break;
		}
		if (j == G_N_ELEMENTS(tldrs_plugin_loader_flags)) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_FAILED,
			            "unknown flag \"%s\"",
			            flags[i]);
			return NULL;
		}
		mask |= tldrs_plugin_loader_flags[j].flag;
	}
	keys = g_key_file_get_string_list(kf, TLDRS_PLUGIN_LOADER_GROUP, "ConfigKeys", NULL, NULL);
	info = g_new0(TldrsSinkInfo, 1);
	info->name = g_steal_pointer(&name);
	info->suffix = g_key_file_get_string(kf, TLDRS_PLUGIN_LOADER_GROUP, "Suffix", NULL);
	info->flags = mask;
	info->config_keys = keys != NULL ? (const char *const *)g_steal_pointer(&keys)
	                                 : (const char *const *)g_new0(char *, 1);
	return info;
}

/* what the description beside the module @path says, read once; %NULL if there is none
 * (or it cannot be read: then the module itself is asked) */
static const TldrsSinkInfo *
tldrs_plugin_loader_get_description(const char *path)
{
	static GHashTable *descriptions = NULL; /* module path -> TldrsSinkInfo or NULL */
	g_autofree char *desc_path = tldrs_plugin_loader_description_path(path);
	g_autoptr(GError) error = NULL;
	TldrsSinkInfo *info;

	if (descriptions == NULL)
		descriptions = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (g_hash_table_lookup_extended(descriptions, path, NULL, (gpointer *)&info))
		return info;
	if (!g_file_test(desc_path, G_FILE_TEST_EXISTS)) {
		info = NULL;
	} else {
		info = tldrs_plugin_loader_read_description(desc_path, &error);
		if (info == NULL)
			g_warning("ignoring %s (opening %s instead): %s",
			          desc_path,
			          path,
			          error->message);
	}
	g_hash_table_insert(descriptions, g_strdup(path), info);
	return info;
}

static gboolean
tldrs_plugin_loader_info_equal(const TldrsSinkInfo *a, const TldrsSinkInfo *b)
{
	const char *const none[] = {NULL};
	const char *const *ka = a->config_keys != NULL ? a->config_keys : none;
	const char *const *kb = b->config_keys != NULL ? b->config_keys : none;

	if (g_strcmp0(a->name, b->name) != 0 || g_strcmp0(a->suffix, b->suffix) != 0 ||
	    a->flags != b->flags || g_strv_length((char **)ka) != g_strv_length((char **)kb))
		return FALSE;
	for (guint i = 0; ka[i] != NULL; i++) {
		if (!g_strv_contains(kb, ka[i]))
			return FALSE;
	}
	return TRUE;
}

TldrsSink *
tldrs_plugin_loader_load_sink(const char *plugin_dir, const char *name, GError **error)
{
	g_autofree char *path = NULL;
	const TldrsSinkInfo *desc;
	GType type;

	g_return_val_if_fail(plugin_dir != NULL, NULL);
	g_return_val_if_fail(name != NULL, NULL);

	type = tldrs_plugin_loader_load_type(plugin_dir, name, error);
	if (type == 0)
		return NULL;
	/* the daemon may have gone by the description (config keys, suffixes): it must be
	 * this plugin's */
	path = tldrs_plugin_loader_path(plugin_dir, name);
	desc = tldrs_plugin_loader_get_description(path);
	if (desc != NULL && !tldrs_plugin_loader_info_equal(desc, tldrs_sink_type_get_info(type))) {
		g_autofree char *desc_path = tldrs_plugin_loader_description_path(path);
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("%s does not match what %s says it is (reinstall the plugin)"),
		            desc_path,
		            path);
		return NULL;
	}
	return g_object_new(type, NULL);
}

/**
 * tldrs_plugin_loader_load_info:
 *
 * Opens the module of the sink plugin @name, whatever its description says.
 *
 * Returns: (nullable): what the plugin says it is
 */
const TldrsSinkInfo *
tldrs_plugin_loader_load_info(const char *plugin_dir, const char *name, GError **error)
{
	GType type;

	g_return_val_if_fail(plugin_dir != NULL, NULL);
	g_return_val_if_fail(name != NULL, NULL);
	type = tldrs_plugin_loader_load_type(plugin_dir, name, error);
	return type != 0 ? tldrs_sink_type_get_info(type) : NULL;
}

/**
 * tldrs_plugin_loader_find_info:
 *
 * What the sink plugin @name says it is: its description, without opening the module
 * when there is one.
 *
 * Returns: (nullable): what the sink plugin @name says it is, %NULL when there is no such
 *   plugin (or it cannot be loaded)
 */
const TldrsSinkInfo *
tldrs_plugin_loader_find_info(const char *plugin_dir, const char *name)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	const TldrsSinkInfo *info;

	g_return_val_if_fail(plugin_dir != NULL, NULL);
	g_return_val_if_fail(name != NULL, NULL);
	path = tldrs_plugin_loader_path(plugin_dir, name);
	if (g_file_test(path, G_FILE_TEST_EXISTS)) {
		info = tldrs_plugin_loader_get_description(path);
		if (info != NULL && g_strcmp0(info->name, name) == 0)
			return info;
	}
	info = tldrs_plugin_loader_load_info(plugin_dir, name, &error);
	if (info == NULL)
		g_debug("%s", error->message);
	return info;
}

/**
 * tldrs_plugin_loader_list:
 *
 * Returns: (transfer full): what every sink plugin in @plugin_dir says it is (const
 *   #TldrsSinkInfo), in the order of the directories, by name within one; a name found
 *   twice counts once, as for loading
 */
GPtrArray *
tldrs_plugin_loader_list(const char *plugin_dir)
{
	g_auto(GStrv) dirs = NULL;
	g_autoptr(GPtrArray) infos = g_ptr_array_new();
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *suffix = g_strconcat(".", G_MODULE_SUFFIX, NULL);

	g_return_val_if_fail(plugin_dir != NULL, NULL);
	dirs = g_strsplit(plugin_dir, G_SEARCHPATH_SEPARATOR_S, -1);
	for (guint i = 0; dirs[i] != NULL; i++) {
		g_autoptr(GDir) dir = NULL;
		g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
		const char *fn;
		if (dirs[i][0] == '\0')
			continue;
		dir = g_dir_open(dirs[i], 0, NULL);
		while (dir != NULL && (fn = g_dir_read_name(dir)) != NULL) {
			if (g_str_has_prefix(fn, "tldrs-sink-") && g_str_has_suffix(fn, suffix))
				g_ptr_array_add(names,
				                g_strndup(fn + strlen("tldrs-sink-"),
				                          strlen(fn) - strlen("tldrs-sink-") -
				                                  strlen(suffix)));
		}
		g_ptr_array_sort(names, tldrs_plugin_loader_cmp_names);
		for (guint j = 0; j < names->len; j++) {
			const char *name = g_ptr_array_index(names, j);
			const TldrsSinkInfo *info;
			if (!g_hash_table_add(seen, g_strdup(name)))
				continue;
			info = tldrs_plugin_loader_find_info(plugin_dir, name);
			if (info != NULL)
				g_ptr_array_add(infos, (gpointer)info);
		}
	}
	return g_steal_pointer(&infos);
}
