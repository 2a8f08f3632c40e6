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
 * version in g_module_check_init(). Modules register types, so they are never unloaded. */

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

TldrsSink *
tldrs_plugin_loader_load_sink(const char *plugin_dir, const char *name, GError **error)
{
	GType type;

	g_return_val_if_fail(plugin_dir != NULL, NULL);
	g_return_val_if_fail(name != NULL, NULL);

	type = tldrs_plugin_loader_load_type(plugin_dir, name, error);
	if (type == 0)
		return NULL;
	return g_object_new(type, NULL);
}

/**
 * tldrs_plugin_loader_find_info:
 *
 * Returns: (nullable): what the sink plugin @name says it is, %NULL when there is no such
 *   plugin (or it cannot be loaded)
 */
const TldrsSinkInfo *
tldrs_plugin_loader_find_info(const char *plugin_dir, const char *name)
{
	g_autoptr(GError) error = NULL;
	GType type;

	g_return_val_if_fail(plugin_dir != NULL, NULL);
	g_return_val_if_fail(name != NULL, NULL);
	type = tldrs_plugin_loader_load_type(plugin_dir, name, &error);
	if (type == 0) {
		g_debug("%s", error->message);
		return NULL;
	}
	return tldrs_sink_type_get_info(type);
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
