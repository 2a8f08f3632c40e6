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

/**
 * TldrsOutputTarget:
 * @dirfd: the directory the file goes into, opened when the path was checked
 * @base: the file's name in it
 * @path: the path as asked for, for messages
 *
 * Where a TEF file is written: through a directory held open since the path was checked,
 * so that a directory of the path swapped for a symlink later changes nothing.
 */
typedef struct {
	int dirfd;
	char *base;
	char *path;
} TldrsOutputTarget;

TldrsOutputTarget *
tldrs_output_path_open(const char *path, const TldrsOwnFiles *own, GError **error);
TldrsOutputTarget *
tldrs_output_target_new(const char *path, GError **error);
TldrsOutputTarget *
tldrs_output_target_copy(const TldrsOutputTarget *target);
void
tldrs_output_target_free(TldrsOutputTarget *target);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsOutputTarget, tldrs_output_target_free)

G_END_DECLS
