/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>

#include <glib/gstdio.h>

#include "tldrs-error.h"
#include "tldrs-output-path.h"

/* The output-path policy: where a client (EMIT_TEF, EMIT_TEF_AT_EXIT) or a D-Bus caller
 * (EmitTef) may have the daemon write a TEF file. An absolute path in an existing
 * directory, and never one of tldrs's own files or a socket. The messages are part of the
 * protocol's documented refusal reasons. */

/* @base in @dirfd: one of tldrs's own files, or a socket */
static gboolean
tldrs_output_path_is_own_file(int dirfd,
                              const char *path,
                              const char *base,
                              const TldrsOwnFiles *own)
{
	GStatBuf a, b;

	/* the directory itself, as opened: a later swap of a path component cannot matter */
	if (fstat(dirfd, &a) == 0 && g_stat(own->data_dir, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino) {
		if (g_str_has_prefix(base, ".tldrs"))
			return TRUE;
		for (guint i = 0; own->suffixes != NULL && own->suffixes[i] != NULL; i++) {
			if (g_str_has_suffix(base, own->suffixes[i]))
				return TRUE;
		}
	}
	if (own->into_file != NULL && fstatat(dirfd, base, &a, 0) == 0 &&
	    g_stat(own->into_file, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return TRUE;
	for (guint i = 0; i < G_N_ELEMENTS(own->socket_paths); i++) {
		if (own->socket_paths[i] != NULL && g_strcmp0(path, own->socket_paths[i]) == 0)
			return TRUE;
	}
	/* any socket: a TEF file must not replace one */
	if (fstatat(dirfd, base, &a, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(a.st_mode))
		return TRUE;
	return FALSE;
}

/* @path's directory, opened; the base name. @policy: a missing directory is a refused path,
 * else an I/O error */
static TldrsOutputTarget *
tldrs_output_target_open_dir(const char *path, gboolean policy, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	TldrsOutputTarget *target;
	int fd = g_open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);

	if (fd < 0) {
		int errsv = errno;
		if (policy && (errsv == ENOENT || errsv == ENOTDIR))
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_INVALID_PATH,
			            "directory does not exist: %s",
			            dir);
		else
			g_set_error(error,
			            G_IO_ERROR,
			            g_io_error_from_errno(errsv),
			            "cannot create a file in %s: %s",
			            dir,
			            g_strerror(errsv));
		return NULL;
	}
	target = g_new0(TldrsOutputTarget, 1);
	target->dirfd = fd;
	target->base = g_path_get_basename(path);
	target->path = g_strdup(path);
	return target;
}

/**
 * tldrs_output_path_open:
 * @path: where a TEF file is to be written
 * @own: the daemon's own files
 *
 * Checks @path against the policy and opens its directory: the file is then written there,
 * whatever happens to the path's directories meanwhile.
 *
 * Returns: (transfer full): the target; else %NULL with a %TLDRS_ERROR_INVALID_PATH error
 *   that says why
 */
TldrsOutputTarget *
tldrs_output_path_open(const char *path, const TldrsOwnFiles *own, GError **error)
{
	g_autoptr(TldrsOutputTarget) target = NULL;
	GStatBuf sb;

	g_return_val_if_fail(path != NULL, NULL);
	g_return_val_if_fail(own != NULL, NULL);

	if (!g_path_is_absolute(path)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "output path is not absolute: %s",
		            path);
		return NULL;
	}
	if (g_str_has_suffix(path, "/")) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "output path is a directory: %s",
		            path);
		return NULL;
	}
	/* what the file system takes: a longer one would only fail when written */
	if (strlen(path) >= PATH_MAX || strlen(strrchr(path, '/') + 1) > NAME_MAX) {
		g_autofree char *excerpt = g_strndup(path, 60);
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "output path too long (at most %d bytes, %d for the file name): %s...",
		            PATH_MAX - 1,
		            NAME_MAX,
		            excerpt);
		return NULL;
	}
	target = tldrs_output_target_open_dir(path, TRUE, error);
	if (target == NULL)
		return NULL;
	if (fstatat(target->dirfd, target->base, &sb, 0) == 0 && S_ISDIR(sb.st_mode)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "output path is a directory: %s",
		            path);
		return NULL;
	}
	if (tldrs_output_path_is_own_file(target->dirfd, path, target->base, own)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_PATH,
		            "output path is one of tldrs's own files: %s",
		            path);
		return NULL;
	}
	return g_steal_pointer(&target);
}

/* a file of our own choosing (the tef sink's, get-tef -o): no policy, the same writing */
TldrsOutputTarget *
tldrs_output_target_new(const char *path, GError **error)
{
	g_return_val_if_fail(path != NULL, NULL);
	return tldrs_output_target_open_dir(path, FALSE, error);
}

TldrsOutputTarget *
tldrs_output_target_copy(const TldrsOutputTarget *target)
{
	TldrsOutputTarget *copy = g_new0(TldrsOutputTarget, 1);
	g_return_val_if_fail(target != NULL, NULL);
	copy->dirfd = fcntl(target->dirfd, F_DUPFD_CLOEXEC, 3);
	copy->base = g_strdup(target->base);
	copy->path = g_strdup(target->path);
	return copy;
}

void
tldrs_output_target_free(TldrsOutputTarget *target)
{
	if (target == NULL)
		return;
	if (target->dirfd >= 0)
		close(target->dirfd);
	g_free(target->base);
	g_free(target->path);
	g_free(target);
}
