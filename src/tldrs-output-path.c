/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "tldrs-error.h"
#include "tldrs-output-path.h"

/* The output-path policy: where a client (EMIT_TEF, EMIT_TEF_AT_EXIT) or a D-Bus caller
 * (EmitTef) may have the daemon write a TEF file. An absolute path in an existing
 * directory, and never one of tldrs's own files or a socket. The messages are part of the
 * protocol's documented refusal reasons. */

static gboolean
tldrs_output_path_is_own_file(const char *path, const TldrsOwnFiles *own)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *real_dir = realpath(dir, NULL);
	g_autofree char *real_data = realpath(own->data_dir, NULL);
	GStatBuf a, b;

	if (real_dir != NULL && real_data != NULL && g_strcmp0(real_dir, real_data) == 0) {
		if (g_str_has_prefix(base, ".tldrs"))
			return TRUE;
		for (guint i = 0; own->suffixes != NULL && own->suffixes[i] != NULL; i++) {
			if (g_str_has_suffix(base, own->suffixes[i]))
				return TRUE;
		}
	}
	if (own->into_file != NULL && g_stat(path, &a) == 0 && g_stat(own->into_file, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return TRUE;
	for (guint i = 0; i < G_N_ELEMENTS(own->socket_paths); i++) {
		if (own->socket_paths[i] != NULL && g_strcmp0(path, own->socket_paths[i]) == 0)
			return TRUE;
	}
	/* any socket: a TEF file must not replace one */
	if (g_lstat(path, &a) == 0 && S_ISSOCK(a.st_mode))
		return TRUE;
	return FALSE;
}

/**
 * tldrs_output_path_check:
 * @path: where a TEF file is to be written
 * @own: the daemon's own files
 *
 * Returns: %TRUE when the daemon may write @path; else %FALSE with a
 *   %TLDRS_ERROR_INVALID_PATH error that says why
 */
gboolean
tldrs_output_path_check(const char *path, const TldrsOwnFiles *own, GError **error)
{
	g_autofree char *dir = NULL;

	g_return_val_if_fail(path != NULL, FALSE);
	g_return_val_if_fail(own != NULL, FALSE);

	if (!g_path_is_absolute(path)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "output path is not absolute: %s",
		            path);
		return FALSE;
	}
	if (g_str_has_suffix(path, "/") || g_file_test(path, G_FILE_TEST_IS_DIR)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "output path is a directory: %s",
		            path);
		return FALSE;
	}
	dir = g_path_get_dirname(path);
	if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "directory does not exist: %s",
		            dir);
		return FALSE;
	}
	if (tldrs_output_path_is_own_file(path, own)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "output path is one of tldrs's own files: %s",
		            path);
		return FALSE;
	}
	return TRUE;
}
