/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include "tldrs-error.h"
#include "tldrs-plugin-loader.h"
#include "tldrs-sink-set.h"

/* The sink set: the sinks of `Sinks=` (or, for `serve --into-file`, the one sink that can
 * store into a given file), loaded and set up in order, and what the daemon needs to know of
 * the sinks in the plugin directory: the suffixes of the files that hold stored events,
 * which a TEF file must never replace. Every sink says what it is (TldrsSinkInfo): nothing
 * here names one. Every trace hands its lines to every sink of the set. */

struct _TldrsSinkSet {
	GPtrArray *sinks;    /* of TldrsSink, in Sinks= order */
	char **own_suffixes; /* of the files of every sink that stores events */
};

/* every sink plugin says what it is; *@into: the first that can store into a given file */
static void
tldrs_sink_set_describe(TldrsSinkSet *self, const char *plugin_dir, char **into)
{
	g_autoptr(GPtrArray) infos = tldrs_plugin_loader_list(plugin_dir);
	g_autoptr(GPtrArray) suffixes = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < infos->len; i++) {
		const TldrsSinkInfo *info = g_ptr_array_index(infos, i);
		if ((info->flags & TLDRS_SINK_FLAG_STORES_EVENTS) && info->suffix != NULL)
			g_ptr_array_add(suffixes, g_strdup(info->suffix));
		if (*into == NULL && (info->flags & TLDRS_SINK_FLAG_INTO_FILE))
			*into = g_strdup(info->name);
	}
	g_ptr_array_add(suffixes, NULL);
	self->own_suffixes = (char **)g_ptr_array_free(g_steal_pointer(&suffixes), FALSE);
}

/**
 * tldrs_sink_set_new:
 * @start_tef: the daemon's TEF writer, for the sinks (TldrsSinkSetup.start_tef)
 *
 * Loads and sets up the configured sinks. An error names the config key at fault.
 */
TldrsSinkSet *
tldrs_sink_set_new(const TldrsConfig *config,
                   TldrsSinkSetStartTefFunc start_tef,
                   gpointer tef_writer,
                   GError **error)
{
	g_autoptr(TldrsSinkSet) self = g_new0(TldrsSinkSet, 1);
	g_autofree char *into = NULL;
	const char *into_sinks[2] = {NULL, NULL};
	const char *const *names;

	g_return_val_if_fail(config != NULL, NULL);
	self->sinks = g_ptr_array_new_with_free_func(g_object_unref);
	tldrs_sink_set_describe(self, config->plugin_dir, &into);
	names = (const char *const *)config->sinks;
	if (config->into_file != NULL) {
		/* --into-file stores exactly one file, with the sink that can store into it */
		if (into == NULL) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_FAILED,
			            "--into-file: no sink in %s can store into a given file",
			            config->plugin_dir);
			return NULL;
		}
		into_sinks[0] = into;
		names = into_sinks;
	}
	for (guint i = 0; names[i] != NULL; i++) {
		g_autofree char *group = g_strdup_printf("Sink %s", names[i]);
		TldrsSinkSetup setup = {
		        .data_dir = config->data_dir,
		        .config = config->keyfile,
		        .config_path = config->config_path,
		        .group = group,
		        .flush_interval_us = config->flush_interval_us,
		        .start_tef = start_tef,
		        .tef_writer = tef_writer,
		};
		g_autoptr(TldrsSink) sink = NULL;

		sink = tldrs_plugin_loader_load_sink(config->plugin_dir, names[i], error);
		if (sink == NULL) {
			if (config->keyfile != NULL &&
			    g_key_file_has_key(config->keyfile, "Daemon", "Sinks", NULL))
				g_prefix_error(error, "%s: [Daemon] Sinks: ", config->config_path);
			return NULL;
		}
		if (!tldrs_sink_setup(sink, &setup, error))
			return NULL;
		g_ptr_array_add(self->sinks, g_steal_pointer(&sink));
	}
	return g_steal_pointer(&self);
}

/* the sinks, in order; every trace of the daemon is given them */
GPtrArray *
tldrs_sink_set_get_sinks(TldrsSinkSet *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return self->sinks;
}

/* the suffixes of the files that sinks in the plugin directory store events in */
const char *const *
tldrs_sink_set_get_own_suffixes(TldrsSinkSet *self)
{
	g_return_val_if_fail(self != NULL, NULL);
	return (const char *const *)self->own_suffixes;
}

/* the daemon is exiting: every sink finishes its background work */
void
tldrs_sink_set_shutdown(TldrsSinkSet *self)
{
	g_return_if_fail(self != NULL);
	for (guint i = 0; i < self->sinks->len; i++)
		tldrs_sink_shutdown(g_ptr_array_index(self->sinks, i));
}

void
tldrs_sink_set_free(TldrsSinkSet *self)
{
	if (self == NULL)
		return;
	g_clear_pointer(&self->sinks, g_ptr_array_unref);
	g_strfreev(self->own_suffixes);
	g_free(self);
}
