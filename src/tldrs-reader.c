/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "tldrs-error.h"
#include "tldrs-reader.h"

/* Reads the lines of a stored trace, plain (`.jsonl`) or gzip (`.jsonl.gz`, any number of
 * members), in constant memory: one input buffer and one line buffer that grows only for a
 * long line, up to max_line and its '\n'.
 *
 * A line longer than max_line bytes (its '\n' not counted) is skipped and counted. The last
 * line of a plain file may lack its '\n' (another tool may have written it): it is returned.
 * gzip input may end in an unfinished member (the daemon was killed, or the limit cuts it),
 * hold a member cut short with more members after it (a crash, then the daemon appended; a
 * copy cut short), or hold damage: the reader goes on at the next member header, if there is
 * one. A member's decoder is never fed past a gzip magic: the magic is either data (a probe
 * fails to decode a member there) or the header of a member that follows a cut, where the
 * cut member ends. The text of an unfinished, cut or damaged member after its last '\n' is
 * dropped, never returned: the gzip sink flushes whole lines only, so that text is a line the
 * crash cut. */

/* on damage, inflate() may already hold the first bytes of the next member's header in its bit
 * buffer: look back this far for the header, and keep as much of the previous input around */
#define TLDRS_READER_GZIP_LOOKBACK 8

struct _TldrsReader {
	int fd;
	gboolean own_fd;
	char *name;
	gboolean gzip;
	gboolean eof;      /* nothing more to read from fd */
	gboolean done;     /* nothing more to decode */
	gboolean skipping; /* inside an over-long line */
	gsize max_line;
	guint64 limit; /* read no more than this from fd; G_MAXUINT64: no limit */
	guint64 bytes_read;
	guint64 too_long;

	/* decoded text: [start, end) of buf is pending */
	char *buf;
	gsize cap;
	gsize start;
	gsize end;

	/* gzip only: compressed input. in[0, in_end) are the last bytes read, the file offset of
	 * in_end is bytes_read; inflate() is fed from zs.next_in, never past a gzip magic */
	z_stream zs;
	gboolean zs_live;
	guint8 *in;
	guint8 *in_end;
	guint64 member_start; /* file offset of the current member's header */
	gboolean member_text; /* the current member has decoded text */
	guint64 not_a_member; /* a gzip magic here was tried and is member data, not a header */
	guint64 scanned;      /* the input before this offset holds no gzip magic to stop at */
	z_stream probe;       /* tries whether a gzip magic starts a member */
	gboolean probe_live;
};

static gboolean
tldrs_reader_read_raw(TldrsReader *self, char *dst, gsize room, gsize *got, GError **error)
{
	ssize_t n;
	if (self->bytes_read >= self->limit)
		room = 0;
	else if (room > self->limit - self->bytes_read)
		room = (gsize)(self->limit - self->bytes_read);
	if (room == 0) {
		self->eof = TRUE;
		*got = 0;
		return TRUE;
	}
	do {
		n = read(self->fd, dst, room);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		int errsv = errno;
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errsv),
		            "failed to read %s: %s",
		            self->name,
		            g_strerror(errsv));
		return FALSE;
	}
	if (n == 0)
		self->eof = TRUE;
	self->bytes_read += (guint64)n;
	*got = (gsize)n;
	return TRUE;
}

static TldrsReader *
tldrs_reader_new(int fd, gboolean own_fd, const char *name, GError **error)
{
	TldrsReader *self = g_new0(TldrsReader, 1);
	g_autoptr(TldrsReader) owned = self;
	gsize got = 0;

	self->fd = fd;
	self->own_fd = own_fd;
	self->name = g_strdup(name);
	self->max_line = TLDRS_READER_MAX_LINE_DEFAULT;
	self->limit = G_MAXUINT64;
	self->cap = TLDRS_READER_CHUNK;
	self->buf = g_malloc(self->cap);

	/* sniff the gzip magic from the first bytes */
	if (!tldrs_reader_read_raw(self, self->buf, 2, &got, error))
		return NULL;
	if (got == 1 && !self->eof) {
		gsize more = 0;
		if (!tldrs_reader_read_raw(self, self->buf + 1, 1, &more, error))
			return NULL;
		got += more;
	}
	if (got == 2 && (guchar)self->buf[0] == 0x1f && (guchar)self->buf[1] == 0x8b) {
		self->gzip = TRUE;
		self->in = g_malloc(TLDRS_READER_GZIP_LOOKBACK + TLDRS_READER_CHUNK);
		memcpy(self->in, self->buf, 2);
		if (inflateInit2(&self->zs, 15 + 16) != Z_OK) {
			g_set_error(error, TLDRS_ERROR, TLDRS_ERROR_FAILED, "zlib failed");
			return NULL;
		}
		self->zs_live = TRUE;
		self->zs.next_in = self->in;
		self->zs.avail_in = 0;
		self->in_end = self->in + 2;
		self->not_a_member = G_MAXUINT64;
	} else {
		self->end = got;
	}
	return g_steal_pointer(&owned);
}

TldrsReader *
tldrs_reader_new_for_fd(int fd, const char *name, GError **error)
{
	g_return_val_if_fail(fd >= 0, NULL);
	return tldrs_reader_new(fd, FALSE, name != NULL ? name : "input", error);
}

TldrsReader *
tldrs_reader_open(const char *path, GError **error)
{
	int fd;
	TldrsReader *self;

	g_return_val_if_fail(path != NULL, NULL);
	fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		int errsv = errno;
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errsv),
		            "%s: %s",
		            path,
		            g_strerror(errsv));
		return NULL;
	}
#ifdef POSIX_FADV_SEQUENTIAL
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	self = tldrs_reader_new(fd, TRUE, path, error);
	if (self == NULL)
		close(fd);
	return self;
}

/* return lines of up to @max_line bytes, their '\n' not counted; skip and count longer ones */
void
tldrs_reader_set_max_line(TldrsReader *self, gsize max_line)
{
	g_return_if_fail(self != NULL);
	/* the buffer grows to max_line + 1: keep that, and doubling it, from overflowing */
	self->max_line = MIN(max_line, G_MAXSIZE / 2);
}

/* drop the decoded text after the last '\n': the start of a line that damage or a crash cut */
static void
tldrs_reader_drop_partial_line(TldrsReader *self)
{
	while (self->end > self->start && self->buf[self->end - 1] != '\n')
		self->end--;
}

/* the file offset of @p, a position in the compressed input */
static guint64
tldrs_reader_gzip_offset(TldrsReader *self, const guint8 *p)
{
	return self->bytes_read - (guint64)(self->in_end - p);
}

/* read more compressed input after what is not used yet, keeping the last bytes before it */
static gboolean
tldrs_reader_gzip_read(TldrsReader *self, GError **error)
{
	gsize back = MIN((gsize)(self->zs.next_in - self->in), TLDRS_READER_GZIP_LOOKBACK);
	guint8 *from = self->zs.next_in - back;
	gsize keep = (gsize)(self->in_end - from);
	gsize got = 0;

	memmove(self->in, from, keep);
	self->zs.next_in = self->in + back;
	self->zs.avail_in = 0;
	self->in_end = self->in + keep;
	if (!tldrs_reader_read_raw(self,
	                           (char *)self->in_end,
	                           TLDRS_READER_GZIP_LOOKBACK + TLDRS_READER_CHUNK - keep,
	                           &got,
	                           error))
		return FALSE;
	self->in_end += got;
	return TRUE;
}

static gboolean
tldrs_reader_is_gzip_magic(const guint8 *p)
{
	return p[0] == 0x1f && p[1] == 0x8b && p[2] == 0x08;
}

/* the input that inflate() may take now: up to the next gzip magic that is not the current
 * member's own header, and short of a magic's first bytes at the end of what was read. A
 * magic inside a member is either member data or a member that a cut (a crash, a copy cut
 * short) left behind: the member's text must not run on into it */
static const guint8 *
tldrs_reader_gzip_feed_end(TldrsReader *self)
{
	const guint8 *p = self->zs.next_in;
	const guint8 *end = self->in_end;
	guint64 at = tldrs_reader_gzip_offset(self, p);

	/* each byte is looked at once: what was scanned before holds no magic of interest */
	if (self->scanned > at)
		p += MIN(self->scanned - at, (guint64)(end - p));
	while (p + 2 < end && (p = memchr(p, 0x1f, (gsize)(end - 2 - p))) != NULL) {
		guint64 offset = tldrs_reader_gzip_offset(self, p);
		if (tldrs_reader_is_gzip_magic(p) && offset != self->member_start &&
		    offset != self->not_a_member) {
			self->scanned = offset;
			return p;
		}
		p++;
	}
	if (p == NULL)
		p = end - 2;
	self->scanned = tldrs_reader_gzip_offset(self, MAX(p, self->zs.next_in));
	if (!self->eof) {
		/* a magic may start in the last two bytes */
		if (p < end && *p == 0x1f && (p + 1 == end || p[1] == 0x8b))
			return p;
		if (p + 1 < end && p[1] == 0x1f)
			return p + 1;
	}
	return end;
}

/* does a gzip member start at @p? A magic inside compressed data almost never decodes:
 * a wrong header, or data that refers back before its start */
static gboolean
tldrs_reader_gzip_probe(TldrsReader *self, const guint8 *p)
{
	guint8 out[4096];
	int rc;

	if (!self->probe_live) {
		if (inflateInit2(&self->probe, 15 + 16) != Z_OK)
			return FALSE;
		self->probe_live = TRUE;
	} else {
		inflateReset(&self->probe);
	}
	self->probe.next_in = (Bytef *)p;
	self->probe.avail_in = (uInt)(self->in_end - p);
	do {
		self->probe.next_out = out;
		self->probe.avail_out = sizeof out;
		rc = inflate(&self->probe, Z_NO_FLUSH);
	} while (rc == Z_OK && self->probe.avail_in > 0);
	return rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR;
}

/* after damage, go on at the next gzip member header; done when there is none */
static gboolean
tldrs_reader_gzip_resync(TldrsReader *self, GError **error)
{
	guint64 consumed = tldrs_reader_gzip_offset(self, self->zs.next_in);
	/* a little before what inflate() took (its bit buffer may hold the next header's first
	 * bytes), but after the damaged member's own header, so that resync always moves on */
	guint64 from =
	        MAX(consumed - MIN(consumed, TLDRS_READER_GZIP_LOOKBACK), self->member_start + 1);

	g_debug("%s: damaged gzip data at %" G_GUINT64_FORMAT ", looking for the next member",
	        self->name,
	        consumed);
	for (;;) {
		guint8 *in_end = self->in_end;
		guint64 in_offset = tldrs_reader_gzip_offset(self, self->in);
		gsize n = (gsize)(in_end - self->in);
		gsize i = from > in_offset ? (gsize)(from - in_offset) : 0;

		for (; i + 2 < n; i++) {
			if (self->in[i] == 0x1f && self->in[i + 1] == 0x8b &&
			    self->in[i + 2] == 0x08) {
				self->zs.next_in = self->in + i;
				self->zs.avail_in = 0;
				self->member_start = in_offset + i;
				inflateReset(&self->zs);
				return TRUE;
			}
		}
		if (self->eof) {
			self->done = TRUE;
			return TRUE;
		}
		/* not here; a header that straddles reads starts in the bytes kept */
		from = in_offset + i;
		self->zs.next_in = in_end;
		self->zs.avail_in = 0;
		if (!tldrs_reader_gzip_read(self, error))
			return FALSE;
	}
}

/* a member that a cut left behind starts at @p: the current one ends here, its last line
 * cut */
static void
tldrs_reader_gzip_cut(TldrsReader *self, const guint8 *p)
{
	g_debug("%s: a gzip member was cut short before %" G_GUINT64_FORMAT,
	        self->name,
	        tldrs_reader_gzip_offset(self, p));
	if (self->member_text)
		tldrs_reader_drop_partial_line(self);
	self->member_text = FALSE;
	self->member_start = tldrs_reader_gzip_offset(self, p);
	inflateReset(&self->zs);
}

/* the bytes a probe looks at, when the file has them */
#define TLDRS_READER_GZIP_PROBE 4096

/* decode more gzip input into buf[end..cap) */
static gboolean
tldrs_reader_fill_gzip(TldrsReader *self, GError **error)
{
	gsize produced = 0;
	while (produced == 0 && !self->done) {
		const guint8 *feed_end;
		int rc;
		if (self->zs.next_in == self->in_end) {
			if (!self->eof) {
				if (!tldrs_reader_gzip_read(self, error))
					return FALSE;
				continue;
			}
			/* a truncated tail: the member is unfinished, its last line cut */
			if (self->member_text)
				tldrs_reader_drop_partial_line(self);
			self->done = TRUE;
			break;
		}
		feed_end = tldrs_reader_gzip_feed_end(self);
		if (feed_end == self->zs.next_in) {
			/* everything before a magic is used and the member goes on past it */
			if (self->in_end - feed_end < TLDRS_READER_GZIP_PROBE && !self->eof) {
				gsize before = (gsize)(self->in_end - self->zs.next_in);
				if (!tldrs_reader_gzip_read(self, error))
					return FALSE;
				if ((gsize)(self->in_end - self->zs.next_in) > before)
					continue;
				/* the input moved */
				feed_end = self->zs.next_in;
			}
			/* with fewer than three bytes left it is the file's end, not a magic */
			if (self->in_end - feed_end >= 3 && tldrs_reader_gzip_probe(self, feed_end))
				tldrs_reader_gzip_cut(self, feed_end);
			else if (self->in_end - feed_end >= 3)
				self->not_a_member = tldrs_reader_gzip_offset(self, feed_end);
			feed_end = tldrs_reader_gzip_feed_end(self);
			if (feed_end == self->zs.next_in)
				feed_end = self->in_end;
		}
		self->zs.avail_in = (uInt)(feed_end - self->zs.next_in);
		self->zs.next_out = (Bytef *)self->buf + self->end;
		self->zs.avail_out = (uInt)MIN(self->cap - self->end, G_MAXUINT);
		rc = inflate(&self->zs, Z_NO_FLUSH);
		self->zs.avail_in = 0;
		produced = (gsize)((char *)self->zs.next_out - (self->buf + self->end));
		self->end += produced;
		if (produced > 0)
			self->member_text = TRUE;
		if (rc == Z_STREAM_END) {
			/* another member may follow */
			self->member_start = tldrs_reader_gzip_offset(self, self->zs.next_in);
			self->member_text = FALSE;
			inflateReset(&self->zs);
		} else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
			if (self->member_text)
				tldrs_reader_drop_partial_line(self);
			self->member_text = FALSE;
			produced = 0;
			if (!tldrs_reader_gzip_resync(self, error))
				return FALSE;
		} else if (rc != Z_OK && rc != Z_BUF_ERROR) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_FAILED,
			            "failed to decompress %s: zlib error %d",
			            self->name,
			            rc);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
tldrs_reader_fill(TldrsReader *self, GError **error)
{
	gsize got = 0;
	if (self->gzip)
		return tldrs_reader_fill_gzip(self, error);
	if (self->eof) {
		self->done = TRUE;
		return TRUE;
	}
	if (!tldrs_reader_read_raw(self, self->buf + self->end, self->cap - self->end, &got, error))
		return FALSE;
	self->end += got;
	if (got == 0)
		self->done = TRUE;
	return TRUE;
}

gboolean
tldrs_reader_next(TldrsReader *self, const char **line, gsize *len, GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);

	for (;;) {
		char *nl = NULL;
		gsize pending = self->end - self->start;

		if (pending > 0)
			nl = memchr(self->buf + self->start, '\n', pending);
		if (nl != NULL) {
			gsize n = (gsize)(nl - (self->buf + self->start));
			const char *l = self->buf + self->start;
			self->start += n + 1;
			if (self->skipping) {
				/* the end of an over-long line, counted already */
				self->skipping = FALSE;
				continue;
			}
			if (n > self->max_line) {
				self->too_long++;
				continue;
			}
			*line = l;
			*len = n;
			return TRUE;
		}
		/* no '\n' yet: give up on a line already too long, and drop what there is of it */
		if (!self->skipping && pending > self->max_line) {
			self->too_long++;
			self->skipping = TRUE;
		}
		if (self->skipping) {
			self->start = 0;
			self->end = 0;
			pending = 0;
		}
		if (self->done) {
			if (pending == 0)
				return FALSE;
			/* a last line without '\n' */
			*line = self->buf + self->start;
			*len = pending;
			self->start = self->end;
			return TRUE;
		}
		/* make room: compact, then grow for a long line, up to max_line and its '\n' */
		if (self->start > 0) {
			memmove(self->buf, self->buf + self->start, pending);
			self->start = 0;
			self->end = pending;
		}
		if (self->end == self->cap) {
			self->cap = MIN(self->cap * 2, self->max_line + 1);
			self->buf = g_realloc(self->buf, self->cap);
		}
		if (!tldrs_reader_fill(self, error))
			return FALSE;
	}
}

/**
 * tldrs_reader_next_lines:
 * @until: a file offset
 *
 * Plain input only: the next run of whole lines, each with its '\n', that ends at or before
 * file offset @until, straight from the input buffer: no line buffer, no length check. For
 * input known to be good: the TEF writer copies the lines that the daemon checked this way.
 *
 * Returns: %FALSE when there is no such run: the input or @until is reached, the rest before
 * @until is not a whole line, a line does not fit in the input buffer, or (with @error set)
 * reading failed. tldrs_reader_next() then goes on from the same place.
 */
gboolean
tldrs_reader_next_lines(TldrsReader *self,
                        guint64 until,
                        const char **lines,
                        gsize *len,
                        GError **error)
{
	g_return_val_if_fail(self != NULL, FALSE);
	g_return_val_if_fail(!self->gzip, FALSE);

	while (!self->skipping) {
		gsize pending = self->end - self->start;
		/* bytes_read is the file offset of buf[end] */
		guint64 offset = self->bytes_read - pending;
		gsize usable;
		const char *nl;
		gsize got = 0;

		if (offset >= until)
			return FALSE;
		usable = (gsize)MIN((guint64)pending, until - offset);
		nl = usable > 0 ? memrchr(self->buf + self->start, '\n', usable) : NULL;
		if (nl != NULL) {
			*lines = self->buf + self->start;
			*len = (gsize)(nl + 1 - *lines);
			self->start += *len;
			return TRUE;
		}
		/* no '\n' before @until, or not one pending yet */
		if (usable < pending || offset + pending >= until || self->done || self->eof)
			return FALSE;
		if (self->start > 0) {
			memmove(self->buf, self->buf + self->start, pending);
			self->start = 0;
			self->end = pending;
		}
		if (self->end == self->cap)
			return FALSE;
		if (!tldrs_reader_read_raw(
		            self, self->buf + self->end, self->cap - self->end, &got, error))
			return FALSE;
		self->end += got;
		if (got == 0)
			self->done = TRUE;
	}
	return FALSE;
}

/* read only the first @limit bytes of the file: a snapshot of a file still being appended to.
 * Call it before the first tldrs_reader_next(): the few bytes the gzip sniff read past @limit
 * are given back, so nothing past @limit is ever returned, even for a limit of 0 or 1. */
void
tldrs_reader_set_limit(TldrsReader *self, guint64 limit)
{
	g_return_if_fail(self != NULL);
	self->limit = limit;
	if (self->bytes_read > limit) {
		/* the input not used yet is the last bytes read */
		guint64 excess = self->bytes_read - limit;
		gsize cut;
		if (self->gzip) {
			cut = (gsize)MIN(excess, (guint64)(self->in_end - self->zs.next_in));
			self->in_end -= cut;
		} else {
			cut = (gsize)MIN(excess, (guint64)(self->end - self->start));
			self->end -= cut;
		}
		self->bytes_read -= cut;
	}
}

guint64
tldrs_reader_get_bytes_read(TldrsReader *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->bytes_read;
}

guint64
tldrs_reader_get_lines_too_long(TldrsReader *self)
{
	g_return_val_if_fail(self != NULL, 0);
	return self->too_long;
}

/* the file descriptor read from */
int
tldrs_reader_get_fd(TldrsReader *self)
{
	g_return_val_if_fail(self != NULL, -1);
	return self->fd;
}

gboolean
tldrs_reader_is_gzip(TldrsReader *self)
{
	g_return_val_if_fail(self != NULL, FALSE);
	return self->gzip;
}

void
tldrs_reader_free(TldrsReader *self)
{
	if (self == NULL)
		return;
	if (self->zs_live)
		inflateEnd(&self->zs);
	if (self->probe_live)
		inflateEnd(&self->probe);
	if (self->own_fd && self->fd >= 0)
		close(self->fd);
	g_free(self->in);
	g_free(self->buf);
	g_free(self->name);
	g_free(self);
}
