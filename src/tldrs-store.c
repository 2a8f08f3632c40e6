/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "tldrs-error.h"
#include "tldrs-protocol.h"
#include "tldrs-reader.h"
#include "tldrs-state.h"
#include "tldrs-store.h"
#include "tldrs-tef.h"

/* suffixes of trace files, in the order get-tef prefers them as a source */
static const char *const tldrs_store_suffixes[] = {".jsonl", ".jsonl.gz", ".json"};

void
tldrs_stored_trace_free(TldrsStoredTrace *self)
{
	if (self == NULL)
		return;
	g_free(self->id);
	g_free(self->source);
	g_free(self->tef);
	g_ptr_array_unref(self->files);
	g_free(self);
}

/* the trace id of a trace file name, or NULL when it is not one */
static char *
tldrs_store_trace_id(const char *name, guint *kind)
{
	for (guint i = 0; i < G_N_ELEMENTS(tldrs_store_suffixes); i++) {
		const char *sfx = tldrs_store_suffixes[i];
		if (g_str_has_suffix(name, sfx)) {
			gsize len = strlen(name) - strlen(sfx);
			if (!tldrs_protocol_check_trace_id(name, len, NULL))
				return NULL;
			*kind = i;
			return g_strndup(name, len);
		}
	}
	return NULL;
}

static gint
tldrs_store_cmp(gconstpointer a, gconstpointer b)
{
	const TldrsStoredTrace *ta = *(TldrsStoredTrace *const *)a;
	const TldrsStoredTrace *tb = *(TldrsStoredTrace *const *)b;
	return g_strcmp0(ta->id, tb->id);
}

/* the traces of @data_dir, sorted by id; a missing directory has none */
GPtrArray *
tldrs_store_list(const char *data_dir, GError **error)
{
	g_autoptr(GPtrArray) traces =
	        g_ptr_array_new_with_free_func((GDestroyNotify)tldrs_stored_trace_free);
	g_autoptr(GHashTable) by_id = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GDir) dir = NULL;
	g_autoptr(GError) error_local = NULL;
	const char *name;

	dir = g_dir_open(data_dir, 0, &error_local);
	if (dir == NULL) {
		if (g_error_matches(error_local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return g_steal_pointer(&traces);
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            "%s: %s",
		            data_dir,
		            error_local->message);
		return NULL;
	}
	while ((name = g_dir_read_name(dir)) != NULL) {
		guint kind = 0;
		g_autofree char *id = tldrs_store_trace_id(name, &kind);
		g_autofree char *path = NULL;
		TldrsStoredTrace *t;
		GStatBuf sb;

		if (id == NULL)
			continue;
		path = g_build_filename(data_dir, name, NULL);
		if (g_stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
			continue;
		t = g_hash_table_lookup(by_id, id);
		if (t == NULL) {
			t = g_new0(TldrsStoredTrace, 1);
			t->id = g_strdup(id);
			t->files = g_ptr_array_new_with_free_func(g_free);
			g_ptr_array_add(traces, t);
			g_hash_table_insert(by_id, t->id, t);
		}
		t->bytes += (guint64)sb.st_size;
		t->mtime =
		        MAX(t->mtime,
		            (gint64)sb.st_mtim.tv_sec * G_USEC_PER_SEC + sb.st_mtim.tv_nsec / 1000);
		if (kind == 2) {
			t->tef = g_strdup(path);
		} else if (t->source == NULL || kind == 0) {
			g_free(t->source);
			t->source = g_strdup(path);
		}
		g_ptr_array_add(t->files, g_steal_pointer(&path));
	}
	g_ptr_array_sort(traces, tldrs_store_cmp);
	return g_steal_pointer(&traces);
}

TldrsStoredTrace *
tldrs_store_find(GPtrArray *traces, const char *id)
{
	for (guint i = 0; i < traces->len; i++) {
		TldrsStoredTrace *t = g_ptr_array_index(traces, i);
		if (g_strcmp0(t->id, id) == 0)
			return t;
	}
	return NULL;
}

static gboolean
tldrs_store_take(TldrsStoredTrace *t, char **source, char **trace_id)
{
	*source = g_strdup(t->source != NULL ? t->source : t->tef);
	*trace_id = g_strdup(t->id);
	return TRUE;
}

/**
 * tldrs_store_resolve:
 * @arg: a file path, a file name or trace id in @data_dir, or `latest`
 *
 * Finds the file to read a trace from, and the trace's id.
 */
gboolean
tldrs_store_resolve(const char *data_dir,
                    const char *arg,
                    char **source,
                    char **trace_id,
                    GError **error)
{
	g_autoptr(GPtrArray) traces = NULL;
	guint kind = 0;

	if (g_strcmp0(arg, "latest") == 0 || strchr(arg, '/') == NULL) {
		traces = tldrs_store_list(data_dir, error);
		if (traces == NULL)
			return FALSE;
	}
	if (g_strcmp0(arg, "latest") == 0) {
		TldrsStoredTrace *newest = NULL;
		for (guint i = 0; i < traces->len; i++) {
			TldrsStoredTrace *t = g_ptr_array_index(traces, i);
			if (newest == NULL || t->mtime > newest->mtime)
				newest = t;
		}
		if (newest == NULL) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_NO_SUCH_TRACE,
			            _("no traces in %s"),
			            data_dir);
			return FALSE;
		}
		return tldrs_store_take(newest, source, trace_id);
	}
	/* a trace id or a file name in the data directory */
	if (traces != NULL) {
		g_autofree char *id = tldrs_store_trace_id(arg, &kind);
		TldrsStoredTrace *t = tldrs_store_find(traces, arg);
		if (t != NULL)
			return tldrs_store_take(t, source, trace_id);
		if (id != NULL) {
			g_autofree char *path = g_build_filename(data_dir, arg, NULL);
			if (g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
				*source = g_steal_pointer(&path);
				*trace_id = g_steal_pointer(&id);
				return TRUE;
			}
		}
	}
	/* a path */
	if (g_file_test(arg, G_FILE_TEST_EXISTS)) {
		g_autofree char *base = g_path_get_basename(arg);
		g_autofree char *id = tldrs_store_trace_id(base, &kind);
		if (!g_file_test(arg, G_FILE_TEST_IS_REGULAR)) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_INVALID_PATH,
			            _("%s is not a regular file"),
			            arg);
			return FALSE;
		}
		*source = g_strdup(arg);
		*trace_id = id != NULL ? g_steal_pointer(&id) : g_steal_pointer(&base);
		return TRUE;
	}
	g_set_error(error,
	            TLDRS_ERROR,
	            TLDRS_ERROR_NO_SUCH_TRACE,
	            _("no trace or file \"%s\" (looked in %s)"),
	            arg,
	            data_dir);
	return FALSE;
}

/* delete the trace files of @data_dir, never one that a daemon is writing */
gboolean
tldrs_store_clear(const char *data_dir, guint *deleted, GPtrArray *busy, GError **error)
{
	g_autoptr(GPtrArray) traces = tldrs_store_list(data_dir, error);
	gboolean running = FALSE;
	g_autoptr(GHashTable) status = NULL;

	if (traces == NULL)
		return FALSE;
	status = tldrs_state_load(data_dir, &running);
	*deleted = 0;
	for (guint i = 0; i < traces->len; i++) {
		TldrsStoredTrace *t = g_ptr_array_index(traces, i);
		TldrsTraceStatus *st = g_hash_table_lookup(status, t->id);
		gboolean in_use = running && st != NULL && st->clients > 0;

		for (guint j = 0; j < t->files->len && !in_use; j++) {
			const char *fn = g_ptr_array_index(t->files, j);
			int fd = g_open(fn, O_RDONLY | O_CLOEXEC, 0);
			if (fd < 0)
				continue;
			/* an open trace holds a shared lock on its files */
			if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
				in_use = TRUE;
			} else if (g_unlink(fn) != 0) {
				int errsv = errno;
				close(fd);
				g_set_error(error,
				            TLDRS_ERROR,
				            TLDRS_ERROR_FAILED,
				            _("cannot delete %s: %s"),
				            fn,
				            g_strerror(errsv));
				return FALSE;
			} else {
				(*deleted)++;
			}
			close(fd);
		}
		if (in_use && busy != NULL)
			g_ptr_array_add(busy, g_strdup(t->id));
	}
	return TRUE;
}

/**
 * tldrs_store_count_events:
 * @checked: (nullable): what this daemon vouches for (see tldrs_checked_lookup())
 *
 * The events of a stored trace file, counted as the TEF writer counts them: the lines
 * `get-tef` would write (strict JSON objects, or lines the daemon vouches for). So `list -l`,
 * D-Bus and the TEF file never disagree.
 */
gboolean
tldrs_store_count_events(const char *source, TldrsChecked *checked, guint64 *events, GError **error)
{
	TldrsTefStats stats = {0};
	int fd = g_open("/dev/null", O_WRONLY | O_CLOEXEC, 0);
	gboolean ok;

	if (fd < 0) {
		int errsv = errno;
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errsv),
		            "cannot open /dev/null: %s",
		            g_strerror(errsv));
		return FALSE;
	}
	ok = tldrs_tef_write_fd(source,
	                        G_MAXUINT64,
	                        fd,
	                        "/dev/null",
	                        TLDRS_TEF_FORMAT_ARRAY,
	                        "",
	                        checked,
	                        NULL,
	                        NULL,
	                        &stats,
	                        error);
	close(fd);
	if (ok)
		*events = stats.events;
	return ok;
}
