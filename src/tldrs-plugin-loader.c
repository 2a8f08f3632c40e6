/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

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

TldrsSink *
tldrs_plugin_loader_load_sink(const char *plugin_dir, const char *name, GError **error)
{
	static GHashTable *types = NULL; /* name -> GType, for modules already open */
	g_autofree char *path = NULL;
	GModule *module;
	GType (*get_type)(void) = NULL;
	GType type;
	TldrsSink *sink;

	g_return_val_if_fail(plugin_dir != NULL, NULL);
	g_return_val_if_fail(name != NULL, NULL);

	if (types == NULL)
		types = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	type = (GType)GPOINTER_TO_SIZE(g_hash_table_lookup(types, name));
	if (type == 0) {
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
			return NULL;
		}
		module = g_module_open(path, G_MODULE_BIND_LOCAL | G_MODULE_BIND_LAZY);
		if (module == NULL) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_FAILED,
			            _("cannot load sink plugin %s: %s"),
			            path,
			            g_module_error());
			return NULL;
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
			return NULL;
		}
		type = get_type();
		if (!g_type_is_a(type, TLDRS_TYPE_SINK) || G_TYPE_IS_ABSTRACT(type)) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_FAILED,
			            _("%s does not provide a tldrs sink"),
			            path);
			return NULL;
		}
		/* types are registered: the module stays */
		g_module_make_resident(module);
		g_hash_table_insert(types, g_strdup(name), GSIZE_TO_POINTER(type));
		g_debug("loaded sink %s from %s", name, path);
	}
	sink = g_object_new(type, NULL);
	g_object_set_data_full(G_OBJECT(sink), "tldrs-sink-name", g_strdup(name), g_free);
	return sink;
}
