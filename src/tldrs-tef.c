/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

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
 * The lines of a `.jsonl` that the daemon vouches for (tldrs_checked_lookup(): the
 * file is exactly as the daemon left it, holding only lines it checked) are copied as they
 * are, a buffer of whole lines at a time; every other line is trimmed and checked. */

/* output is written once this much is buffered; the buffer holds twice that */
#define TLDRS_TEF_OUT_CHUNK (512 * 1024)

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
	gboolean in_line; /* a checked line was cut by a full buffer: its rest comes next */
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

/* Every event goes out followed by ",\n"; the last one's is taken back before the footer.
 * So the buffer always ends with the last event's separator, and a drain before the end
 * leaves at least the last two bytes in it, where the end can still take them back. Such a
 * drain also writes whole pages only (the rest stays too): a write that ends inside a page
 * costs the kernel that page twice. */
#define TLDRS_TEF_KEEP 2
#define TLDRS_TEF_PAGE 4096

static gboolean
tldrs_tef_out_drain(TldrsTefOut *out, gsize keep, GError **error)
{
	gsize n = out->len - MIN(keep, out->len);
	if (keep > 0 && n > TLDRS_TEF_PAGE)
		n -= (gsize)((out->written + n) % TLDRS_TEF_PAGE);
	if (!tldrs_tef_out_write(out, out->buf, n, error))
		return FALSE;
	memmove(out->buf, out->buf + n, out->len - n);
	out->len -= n;
	return TRUE;
}

/* one event and its separator */
static gboolean
tldrs_tef_out_event(TldrsTefOut *out, const char *line, gsize len, guint64 *events, GError **error)
{
	if (len + 2 > out->cap - out->len && !tldrs_tef_out_drain(out, TLDRS_TEF_KEEP, error))
		return FALSE;
	if (len + 2 > out->cap - out->len) {
		/* a line longer than the buffer goes out from where it is */
		if (!tldrs_tef_out_drain(out, 0, error) ||
		    !tldrs_tef_out_write(out, line, len, error))
			return FALSE;
	} else {
		memcpy(out->buf + out->len, line, len);
		out->len += len;
	}
	out->buf[out->len++] = ',';
	out->buf[out->len++] = '\n';
	(*events)++;
	return TRUE;
}

/* Lines the daemon checked are copied as they are, each '\n' that ends an event turned into
 * ",\n"; an empty line is left out. A copy goes on until @stop (finishing the line it is in)
 * or until the output buffer is full, in the middle of a line if need be (out->in_line), and
 * returns where it stopped; the caller drains the buffer and calls again. */
static const char *
tldrs_tef_copy_checked_lines(TldrsTefOut *out,
                             const char *src,
                             const char *end,
                             const char *stop,
                             guint64 *events)
{
	while (src < stop && out->cap - out->len > 2) {
		const char *nl;
		gsize n;
		if (!out->in_line && *src == '\n') {
			src++;
			continue;
		}
		n = MIN((gsize)(end - src), out->cap - out->len - 2);
		nl = memchr(src, '\n', n);
		if (nl == NULL) {
			memcpy(out->buf + out->len, src, n);
			out->len += n;
			src += n;
			out->in_line = TRUE;
			continue;
		}
		n = (gsize)(nl - src);
		memcpy(out->buf + out->len, src, n);
		out->len += n;
		out->buf[out->len++] = ',';
		out->buf[out->len++] = '\n';
		src = nl + 1;
		out->in_line = FALSE;
		(*events)++;
	}
	return src;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The same without a call per line, on CPUs with AVX-512 VBMI2: 64 bytes at a time, and a
 * block with one '\n' at @at is expanded around it, ',' into the gap at @at; the byte
 * pushed out of the vector goes after it. A block with more than one '\n', or that starts
 * with an empty line, goes to the copy above. It stops 64 bytes before @end and while the
 * buffer has room for a block and a byte. */
__attribute__((target("avx512bw,avx512vbmi2"))) static const char *
tldrs_tef_copy_checked_expand(TldrsTefOut *out, const char *src, const char *end, guint64 *events)
{
	const __m512i newline = _mm512_set1_epi8('\n');
	const __m512i comma = _mm512_set1_epi8(',');
	char *const buf = out->buf; /* locals: the stores below could alias *out */
	char *o = buf + out->len;
	char *const last = buf + out->cap - 64 - 1;
	guint64 n = 0;
	guint64 line_start = out->in_line ? 0 : 1; /* bit 0: a line starts at src */

	while (end - src >= 64 && o <= last) {
		__m512i block = _mm512_loadu_si512((const void *)src);
		guint64 mask = _mm512_cmpeq_epi8_mask(block, newline);

		if ((mask & (mask - 1)) != 0 || (mask & line_start) != 0) {
			out->len = (gsize)(o - buf);
			out->in_line = line_start == 0;
			src = tldrs_tef_copy_checked_lines(out, src, end, src + 64, events);
			o = buf + out->len;
			line_start = out->in_line ? 0 : 1;
			continue;
		}
		_mm512_storeu_si512((void *)o, _mm512_mask_expand_epi8(comma, ~mask, block));
		o[64] = src[63]; /* overwritten by the next block unless there was a '\n' */
		src += 64;
		o += 64 + (mask != 0);
		n += mask != 0;
		line_start = mask >> 63;
	}
	out->len = (gsize)(o - buf);
	out->in_line = line_start == 0;
	*events += n;
	return src;
}
#endif

static const char *
tldrs_tef_copy_checked(TldrsTefOut *out, const char *src, const char *end, guint64 *events)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi2"))
		src = tldrs_tef_copy_checked_expand(out, src, end, events);
#endif
	return tldrs_tef_copy_checked_lines(out, src, end, end, events);
}

gboolean
tldrs_tef_write_fd(const char *source,
                   guint64 source_limit,
                   int out_fd,
                   const char *out_name,
                   TldrsTefFormat format,
                   const char *trace_id,
                   TldrsChecked *vouched,
                   TldrsTefProgressFunc progress,
                   gpointer progress_data,
                   TldrsTefStats *stats,
                   GError **error)
{
	g_autoptr(TldrsReader) reader = NULL;
	g_autofree char *buf = g_malloc(2 * TLDRS_TEF_OUT_CHUNK);
	g_autoptr(GString) footer = g_string_new(NULL);
	TldrsTefOut out = {out_fd, out_name != NULL ? out_name : "output", buf, 0, 0, 0, FALSE};
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
			    tldrs_checked_lookup(vouched, source, &sb, &checked)) {
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
			const char *end = line + len;
			while ((line = tldrs_tef_copy_checked(&out, line, end, &st.events)) < end)
				if (!tldrs_tef_out_drain(&out, TLDRS_TEF_KEEP, error))
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
			if (!tldrs_tef_out_drain(&out, TLDRS_TEF_KEEP, error))
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
	if (st.events > 0)
		out.len -= 2; /* the last event's separator */
	if (!tldrs_tef_out_drain(&out, 0, error) ||
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
	        source, source_limit, dest, format, trace_id, NULL, NULL, NULL, stats, error);
}

gboolean
tldrs_tef_write_file_full(const char *source,
                          guint64 source_limit,
                          const char *dest,
                          TldrsTefFormat format,
                          const char *trace_id,
                          TldrsChecked *checked,
                          TldrsTefProgressFunc progress,
                          gpointer progress_data,
                          TldrsTefStats *stats,
                          GError **error)
{
	g_autoptr(TldrsOutputTarget) target = NULL;

	g_return_val_if_fail(dest != NULL, FALSE);
	target = tldrs_output_target_new(dest, error);
	if (target == NULL)
		return FALSE;
	return tldrs_tef_write_target(source,
	                              source_limit,
	                              target,
	                              format,
	                              trace_id,
	                              checked,
	                              progress,
	                              progress_data,
	                              stats,
	                              error);
}

/**
 * tldrs_tef_write_target:
 * @target: the directory (held open since the path was checked) and the file's name in it
 *
 * Writes a temporary file in @target's directory and renames it over the file's name, both
 * relative to the directory held open and without following a symlink: no reader sees half a
 * trace, and no directory swapped into the path meanwhile is written to.
 */
gboolean
tldrs_tef_write_target(const char *source,
                       guint64 source_limit,
                       const TldrsOutputTarget *target,
                       TldrsTefFormat format,
                       const char *trace_id,
                       TldrsChecked *checked,
                       TldrsTefProgressFunc progress,
                       gpointer progress_data,
                       TldrsTefStats *stats,
                       GError **error)
{
	g_autofree char *tmp = NULL;
	int fd = -1;
	int errsv = 0;

	g_return_val_if_fail(target != NULL, FALSE);

	for (guint i = 0; i < 100 && fd < 0; i++) {
		g_free(tmp);
		tmp = g_strdup_printf(".%s.%08x", target->base, g_random_int());
		fd = openat(target->dirfd,
		            tmp,
		            O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		            0666);
		errsv = errno;
		if (fd < 0 && errsv != EEXIST)
			break;
	}
	if (fd < 0) {
		g_autofree char *dir = g_path_get_dirname(target->path);
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
	                        target->path,
	                        format,
	                        trace_id,
	                        checked,
	                        progress,
	                        progress_data,
	                        stats,
	                        error)) {
		close(fd);
		unlinkat(target->dirfd, tmp, 0);
		return FALSE;
	}
	if (close(fd) != 0) {
		errsv = errno;
		unlinkat(target->dirfd, tmp, 0);
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errsv),
		            "failed to write %s: %s",
		            target->path,
		            g_strerror(errsv));
		return FALSE;
	}
	if (renameat(target->dirfd, tmp, target->dirfd, target->base) != 0) {
		errsv = errno;
		unlinkat(target->dirfd, tmp, 0);
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errsv),
		            "cannot rename to %s: %s",
		            target->path,
		            g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}
