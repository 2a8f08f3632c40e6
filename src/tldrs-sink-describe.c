/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include <stdio.h>
#include <string.h>

#include "tldrs-plugin-loader.h"

/* tldrs-sink-describe PLUGIN OUTPUT: writes what the sink plugin PLUGIN
 * (…/tldrs-sink-NAME.so) says it is to OUTPUT (tldrs-sink-NAME.sink), the key file the
 * daemon reads instead of opening the plugin. Run by the build, not installed. */

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = NULL;
	g_autofree char *base = NULL;
	g_autofree char *name = NULL;
	g_autofree char *data = NULL;
	const TldrsSinkInfo *info;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PLUGIN OUTPUT\n", argv[0]);
		return 2;
	}
	dir = g_path_get_dirname(argv[1]);
	base = g_path_get_basename(argv[1]);
	if (!g_str_has_prefix(base, "tldrs-sink-") ||
	    !g_str_has_suffix(base, "." G_MODULE_SUFFIX)) {
		fprintf(stderr, "%s: not a tldrs-sink-NAME.%s\n", argv[1], G_MODULE_SUFFIX);
		return 1;
	}
	name = g_strndup(base + strlen("tldrs-sink-"),
	                 strlen(base) - strlen("tldrs-sink-") - strlen("." G_MODULE_SUFFIX));
	info = tldrs_plugin_loader_load_info(dir, name, &error);
	if (info == NULL) {
		fprintf(stderr, "%s\n", error->message);
		return 1;
	}
	data = tldrs_plugin_loader_describe(info);
	if (data == NULL) {
		fprintf(stderr, "%s: a flag that tldrs-sink-describe does not know\n", argv[1]);
		return 1;
	}
	if (!g_file_set_contents(argv[2], data, -1, &error)) {
		fprintf(stderr, "%s\n", error->message);
		return 1;
	}
	return 0;
}
