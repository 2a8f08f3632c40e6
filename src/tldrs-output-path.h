/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * TldrsOwnFiles:
 * @data_dir: the data directory
 * @suffixes: the suffixes of the trace files the sinks keep in @data_dir
 * @into_file: (nullable): `serve --into-file`'s file
 * @socket_paths: (nullable): the sockets the daemon was asked for and bound
 *
 * The files a TEF file must never replace.
 */
typedef struct {
	const char *data_dir;
	const char *const *suffixes;
	const char *into_file;
	const char *socket_paths[2];
} TldrsOwnFiles;

gboolean
tldrs_output_path_check(const char *path, const TldrsOwnFiles *own, GError **error);

G_END_DECLS
