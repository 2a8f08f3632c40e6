/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gmodule.h>

#include "tldrs-config.h"
#include "tldrs-nats-reader.h"

/* `get-tef --nats`, `list --nats` and EmitTef's nats option: the calls, which load the module
 * tldrs-nats-reader.so (plugins/nats/tldrs-nats-reader.c) from the plugin directory the first
 * time, so that neither the daemon nor any other command links libnats and OpenSSL, which
 * cost every daemon about 2 MiB of memory. */

#define TLDRS_NATS_READER_MODULE "tldrs-nats-reader"

typedef struct {
	GPtrArray *(*list_traces)(const char *url, const char *stream, GError **error);
	gboolean (*read_trace)(const char *url,
	                       const char *stream,
	                       const char *trace_id,
	                       int out_fd,
	                       TldrsNatsReadStats *stats,
	                       GError **error);
	gboolean (*check_url)(const char *url, GError **error);
	void (*shutdown)(void);
} TldrsNatsReaderModule;

static TldrsNatsReaderModule tldrs_nats_reader_module;
static char *tldrs_nats_reader_load_error; /* why it could not be loaded */

static gboolean
tldrs_nats_reader_symbol(GModule *module, const char *name, gpointer *out)
{
	if (g_module_symbol(module, name, out) && *out != NULL)
		return TRUE;
	g_free(tldrs_nats_reader_load_error);
	tldrs_nats_reader_load_error = g_strdup_printf("%s has no %s", g_module_name(module), name);
	return FALSE;
}

static gpointer
tldrs_nats_reader_load(gpointer data)
{
	TldrsNatsReaderModule *m = data;
	g_autofree char *dirs = tldrs_config_default_plugin_dir();
	g_auto(GStrv) list = g_strsplit(dirs, G_SEARCHPATH_SEPARATOR_S, -1);
	g_autofree char *fn = g_strdup_printf("%s.%s", TLDRS_NATS_READER_MODULE, G_MODULE_SUFFIX);
	GModule *module = NULL;

	for (guint i = 0; module == NULL && list[i] != NULL; i++) {
		g_autofree char *path = g_build_filename(list[i], fn, NULL);
		if (!g_file_test(path, G_FILE_TEST_EXISTS))
			continue;
		module = g_module_open(path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
		if (module == NULL) {
			tldrs_nats_reader_load_error =
			        g_strdup_printf("cannot load %s: %s", path, g_module_error());
			return NULL;
		}
	}
	if (module == NULL) {
		tldrs_nats_reader_load_error = g_strdup_printf(
		        "this tldrs has no NATS support: no %s in %s (built without libnats, or "
		        "set TLDRS_PLUGIN_DIR to the directory of the plugins)",
		        fn,
		        dirs);
		return NULL;
	}
	if (!tldrs_nats_reader_symbol(
	            module, "tldrs_nats_module_list_traces", (gpointer *)&m->list_traces) ||
	    !tldrs_nats_reader_symbol(
	            module, "tldrs_nats_module_read_trace", (gpointer *)&m->read_trace) ||
	    !tldrs_nats_reader_symbol(
	            module, "tldrs_nats_module_check_url", (gpointer *)&m->check_url) ||
	    !tldrs_nats_reader_symbol(
	            module, "tldrs_nats_module_shutdown", (gpointer *)&m->shutdown)) {
		g_module_close(module);
		return NULL;
	}
	/* libnats keeps threads: the module stays for the life of the process */
	g_module_make_resident(module);
	return m;
}

/* the module's calls, or NULL and why not */
static const TldrsNatsReaderModule *
tldrs_nats_reader_get(GError **error)
{
	static GOnce once = G_ONCE_INIT;
	const TldrsNatsReaderModule *m =
	        g_once(&once, tldrs_nats_reader_load, &tldrs_nats_reader_module);
	if (m == NULL)
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_NOT_SUPPORTED,
		            "--nats: %s",
		            tldrs_nats_reader_load_error);
	return m;
}

GPtrArray *
tldrs_nats_list_traces(const char *url, const char *stream, GError **error)
{
	const TldrsNatsReaderModule *m = tldrs_nats_reader_get(error);
	return m != NULL ? m->list_traces(url, stream, error) : NULL;
}

gboolean
tldrs_nats_read_trace(const char *url,
                      const char *stream,
                      const char *trace_id,
                      int out_fd,
                      TldrsNatsReadStats *stats,
                      GError **error)
{
	const TldrsNatsReaderModule *m = tldrs_nats_reader_get(error);
	return m != NULL && m->read_trace(url, stream, trace_id, out_fd, stats, error);
}

gboolean
tldrs_nats_reader_check_url(const char *url, GError **error)
{
	const TldrsNatsReaderModule *m = tldrs_nats_reader_get(error);
	return m != NULL && m->check_url(url, error);
}

/* a process that is done with NATS: libnats' threads and memory go (not in the daemon, whose
 * nats sink uses the same library); nothing when the module was never loaded */
void
tldrs_nats_reader_shutdown(void)
{
	if (tldrs_nats_reader_module.shutdown != NULL)
		tldrs_nats_reader_module.shutdown();
}

/* tldrs_nats_read_trace() into a temporary file of JSONL in @dir (beside the output, so
 * that a tmpfs /tmp does not hold a copy of the trace), without a name from the start
 * (O_TMPFILE; else unlinked right after it is made): nothing stays behind, even after a
 * kill. @dirfd: that directory opened, or -1 to open @dir. Its descriptor, for
 * /proc/self/fd/N, or -1 */
int
tldrs_nats_read_trace_to_tmp(const char *url,
                             const char *stream,
                             const char *trace_id,
                             int dirfd,
                             const char *dir,
                             TldrsNatsReadStats *stats,
                             GError **error)
{
	int fd = dirfd >= 0 ? openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
	                    : open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	int errsv = errno;

	if (fd < 0 && errsv != ENOENT && errsv != EACCES && errsv != EROFS) {
		/* a file system without O_TMPFILE */
		g_autofree char *tmp = g_build_filename(dir, ".tldrs-nats-XXXXXX", NULL);
		fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
		errsv = errno;
		if (fd >= 0)
			g_unlink(tmp);
	}
	if (fd < 0) {
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errsv),
		            "cannot make a temporary file in %s: %s",
		            dir,
		            g_strerror(errsv));
		return -1;
	}
	if (!tldrs_nats_read_trace(url, stream, trace_id, fd, stats, error)) {
		close(fd);
		return -1;
	}
	return fd;
}

void
tldrs_nats_tmp_fd_close(TldrsNatsTmpFd fd)
{
	close(fd);
}
