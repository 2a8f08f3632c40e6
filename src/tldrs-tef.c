/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "tldrs-error.h"
#include "tldrs-json.h"
#include "tldrs-reader.h"
#include "tldrs-state.h"
#include "tldrs-tef.h"

/* The one TEF writer: get-tef, EMIT_TEF, EMIT_TEF_AT_EXIT, D-Bus and the tef sink all come
 * here. It streams stored lines into strict JSON in constant memory; a stored line that is
 * not a strict JSON object (a file written by another tool, a damaged tail) is left out.
 *
 * The lines of a `.jsonl` that the daemon vouches for (tldrs_state_lookup_checked(): the
 * file is exactly as the daemon left it, holding only lines it checked) are copied as they
 * are, a buffer of whole lines at a time; every other line is trimmed and checked. */

/* output is written once this much is buffered; the buffer holds twice that */
#define TLDRS_TEF_OUT_CHUNK (256 * 1024)

gboolean
tldrs_tef_format_from_string(const char *str, TldrsTefFormat *format)
{
	if (g_strcmp0(str, "object") == 0) {
		*format = TLDRS_TEF_FORMAT_OBJECT;
		return TRUE;
	}
	if (g_strcmp0(str, "array") == 0) {
		*format = TLDRS_TEF_FORMAT_ARRAY;
		return TRUE;
	}
	return FALSE;
}

const char *
tldrs_tef_format_to_string(TldrsTefFormat format)
{
	return format == TLDRS_TEF_FORMAT_ARRAY ? "array" : "object";
}

void
tldrs_tef_append_json_string(GString *out, const char *str)
{
	/* strict JSON is valid UTF-8: invalid bytes become U+FFFD */
	g_autofree char *valid = g_utf8_make_valid(str, -1);
	g_string_append_c(out, '"');
	for (const guchar *p = (const guchar *)valid; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			g_string_append(out, "\\\"");
			break;
		case '\\':
			g_string_append(out, "\\\\");
			break;
		default:
			if (*p < 0x20)
				g_string_append_printf(out, "\\u%04x", *p);
			else
				g_string_append_c(out, (char)*p);
		}
	}
	g_string_append_c(out, '"');
}

/* the lines around the events in a TEF file that this writer produced */
static gboolean
tldrs_tef_is_framing(const char *line, gsize len)
{
	static const char object_head[] = "{\"traceEvents\":[";
	if (line[0] == '[' || line[0] == ']')
		return len == 1 || line[1] == ',' || line[1] == '}';
	return len == sizeof(object_head) - 1 && memcmp(line, object_head, len) == 0;
}

typedef struct {
	int fd;
	const char *name;
	char *buf;
	gsize len;
	gsize cap;
	guint64 written;
} TldrsTefOut;

static gboolean
tldrs_tef_out_write(TldrsTefOut *out, const char *data, gsize len, GError **error)
{
	gsize off = 0;
	while (off < len) {
		ssize_t n = write(out->fd, data + off, len - off);
		if (n < 0) {
			int errsv = errno;
			if (errsv == EINTR)
				continue;
			g_set_error(error,
			            G_IO_ERROR,
			            g_io_error_from_errno(errsv),
			            "failed to write %s: %s",
			            out->name,
			            g_strerror(errsv));
			return FALSE;
		}
		off += (gsize)n;
	}
	out->written += len;
	return TRUE;
}

static gboolean
tldrs_tef_out_drain(TldrsTefOut *out, GError **error)
{
	if (!tldrs_tef_out_write(out, out->buf, out->len, error))
		return FALSE;
	out->len = 0;
	return TRUE;
}

/* one event: ",\n" before all but the first */
static gboolean
tldrs_tef_out_event(TldrsTefOut *out, const char *line, gsize len, guint64 *events, GError **error)
{
	if (out->len + len + 2 > out->cap && !tldrs_tef_out_drain(out, error))
		return FALSE;
	if (*events > 0) {
		out->buf[out->len++] = ',';
		out->buf[out->len++] = '\n';
	}
	(*events)++;
	/* a line longer than the buffer goes out from where it is */
	if (len > out->cap - out->len)
		return tldrs_tef_out_drain(out, error) &&
		       tldrs_tef_out_write(out, line, len, error);
	memcpy(out->buf + out->len, line, len);
	out->len += len;
	return TRUE;
}

/* whole lines the daemon checked, each ended by '\n': copied as they are */
static gboolean
tldrs_tef_out_checked(TldrsTefOut *out,
                      const char *lines,
                      gsize len,
                      guint64 *events,
                      GError **error)
{
	const char *p = lines;
	const char *end = lines + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (gsize)(end - p));
		gsize n = (gsize)(nl - p);
		if (G_LIKELY(out->len + n + 2 <= out->cap && *events > 0 && n > 0)) {
			char *o = out->buf + out->len;
			o[0] = ',';
			o[1] = '\n';
			memcpy(o + 2, p, n);
			out->len += n + 2;
			(*events)++;
		} else if (n > 0 && !tldrs_tef_out_event(out, p, n, events, error)) {
			return FALSE;
		}
		p = nl + 1;
	}
	return TRUE;
}

gboolean
tldrs_tef_write_fd(const char *source,
                   guint64 source_limit,
                   int out_fd,
                   const char *out_name,
                   TldrsTefFormat format,
                   const char *trace_id,
                   TldrsTefProgressFunc progress,
                   gpointer progress_data,
                   TldrsTefStats *stats,
                   GError **error)
{
	g_autoptr(TldrsReader) reader = NULL;
	g_autofree char *buf = g_malloc(2 * TLDRS_TEF_OUT_CHUNK);
	g_autoptr(GString) footer = g_string_new(NULL);
	TldrsTefOut out = {out_fd, out_name != NULL ? out_name : "output", buf, 0, 0, 0};
	TldrsTefStats st = {0};
	guint64 total = 0;
	guint64 checked = 0; /* the first bytes of source that hold only checked lines */
	guint64 next_progress = 0;
	const char *line = NULL;
	gsize len = 0;
	gboolean ok = TRUE;

	out.cap = 2 * TLDRS_TEF_OUT_CHUNK;
	if (source != NULL) {
		GStatBuf sb;
		reader = tldrs_reader_open(source, error);
		if (reader == NULL)
			return FALSE;
		tldrs_reader_set_limit(reader, source_limit);
		if (fstat(tldrs_reader_get_fd(reader), &sb) == 0) {
			total = MIN((guint64)sb.st_size, source_limit);
			if (!tldrs_reader_is_gzip(reader) &&
			    tldrs_state_lookup_checked(source, &sb, &checked)) {
				checked = MIN(checked, source_limit);
				g_debug("%s: the first %" G_GUINT64_FORMAT
				        " bytes are lines the daemon checked: copied as they are",
				        source,
				        checked);
			}
		}
	}

	if (format == TLDRS_TEF_FORMAT_OBJECT) {
		memcpy(out.buf, "{\"traceEvents\":[\n", 17);
		out.len = 17;
	} else {
		memcpy(out.buf, "[\n", 2);
		out.len = 2;
	}
	while (reader != NULL) {
		g_autoptr(GError) error_local = NULL;
		if (checked > 0 &&
		    tldrs_reader_next_lines(reader, checked, &line, &len, &error_local)) {
			if (!tldrs_tef_out_checked(&out, line, len, &st.events, error))
				return FALSE;
		} else if (error_local == NULL &&
		           tldrs_reader_next(reader, &line, &len, &error_local)) {
			/* trim what the protocol tolerates, then insist on strict JSON */
			while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
			                   line[len - 1] == '\t'))
				len--;
			if (len == 0 || tldrs_tef_is_framing(line, len))
				continue;
			/* a TEF file we wrote (`<id>.json`) reads back: one event per line, then
			 * ',' */
			if (line[len - 1] == ',')
				len--;
			if (!tldrs_json_check_object(line, len, NULL, NULL)) {
				st.refused++;
				continue;
			}
			if (!tldrs_tef_out_event(&out, line, len, &st.events, error))
				return FALSE;
		} else {
			if (error_local != NULL) {
				g_propagate_error(error, g_steal_pointer(&error_local));
				ok = FALSE;
			}
			break;
		}
		if (out.len >= TLDRS_TEF_OUT_CHUNK) {
			if (!tldrs_tef_out_drain(&out, error))
				return FALSE;
			if (progress != NULL &&
			    tldrs_reader_get_bytes_read(reader) >= next_progress) {
				progress(tldrs_reader_get_bytes_read(reader), total, progress_data);
				next_progress = tldrs_reader_get_bytes_read(reader) + (8 << 20);
			}
		}
	}
	if (!ok)
		return FALSE;
	if (reader != NULL)
		st.refused += tldrs_reader_get_lines_too_long(reader);

	if (format == TLDRS_TEF_FORMAT_OBJECT) {
		g_string_append(footer,
		                "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"traceId\":");
		tldrs_tef_append_json_string(footer, trace_id != NULL ? trace_id : "");
		g_string_append(footer, ",\"tool\":\"tldrs\",\"version\":\"" PACKAGE_VERSION "\"");
		g_string_append_printf(footer,
		                       ",\"events\":%" G_GUINT64_FORMAT
		                       ",\"linesLeftOut\":%" G_GUINT64_FORMAT "}}\n",
		                       st.events,
		                       st.refused);
	} else {
		g_string_append(footer, "\n]\n");
	}
	if (!tldrs_tef_out_drain(&out, error) ||
	    !tldrs_tef_out_write(&out, footer->str, footer->len, error))
		return FALSE;
	if (progress != NULL && reader != NULL)
		progress(tldrs_reader_get_bytes_read(reader), total, progress_data);
	st.bytes = out.written;
	if (stats != NULL)
		*stats = st;
	return TRUE;
}

gboolean
tldrs_tef_write_file(const char *source,
                     guint64 source_limit,
                     const char *dest,
                     TldrsTefFormat format,
                     const char *trace_id,
                     TldrsTefStats *stats,
                     GError **error)
{
	return tldrs_tef_write_file_full(
	        source, source_limit, dest, format, trace_id, NULL, NULL, stats, error);
}

gboolean
tldrs_tef_write_file_full(const char *source,
                          guint64 source_limit,
                          const char *dest,
                          TldrsTefFormat format,
                          const char *trace_id,
                          TldrsTefProgressFunc progress,
                          gpointer progress_data,
                          TldrsTefStats *stats,
                          GError **error)
{
	g_autofree char *dir = NULL;
	g_autofree char *base = NULL;
	g_autofree char *tmp = NULL;
	int fd;

	g_return_val_if_fail(dest != NULL, FALSE);

	/* a temporary file in the same directory, renamed: no reader sees half a trace */
	dir = g_path_get_dirname(dest);
	base = g_path_get_basename(dest);
	tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
	fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0666);
	if (fd < 0) {
		int errsv = errno;
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errsv),
		            "cannot create a file in %s: %s",
		            dir,
		            g_strerror(errsv));
		return FALSE;
	}
	if (!tldrs_tef_write_fd(source,
	                        source_limit,
	                        fd,
	                        dest,
	                        format,
	                        trace_id,
	                        progress,
	                        progress_data,
	                        stats,
	                        error)) {
		close(fd);
		g_unlink(tmp);
		return FALSE;
	}
	if (close(fd) != 0) {
		int errsv = errno;
		g_unlink(tmp);
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errsv),
		            "failed to write %s: %s",
		            dest,
		            g_strerror(errsv));
		return FALSE;
	}
	if (g_rename(tmp, dest) != 0) {
		int errsv = errno;
		g_unlink(tmp);
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errsv),
		            "cannot rename to %s: %s",
		            dest,
		            g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}
