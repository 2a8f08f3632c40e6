/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

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
 * members, a truncated or damaged tail skipped), in constant memory: one input buffer and one
 * line buffer that grows only for a long line, up to max_line. */

#define TLDRS_READER_CHUNK (256 * 1024)

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

	/* gzip only: compressed input */
	z_stream zs;
	gboolean zs_live;
	gboolean in_member;
	guint8 *in;
	gsize in_len;
};

static gboolean
tldrs_reader_read_raw(TldrsReader *self, char *dst, gsize room, gsize *got, GError **error)
{
	ssize_t n;
	if (self->bytes_read + room > self->limit)
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
		self->in = g_malloc(TLDRS_READER_CHUNK);
		memcpy(self->in, self->buf, 2);
		self->in_len = 2;
		if (inflateInit2(&self->zs, 15 + 16) != Z_OK) {
			g_set_error(error, TLDRS_ERROR, TLDRS_ERROR_FAILED, "zlib failed");
			return NULL;
		}
		self->zs_live = TRUE;
		self->zs.next_in = self->in;
		self->zs.avail_in = 2;
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

void
tldrs_reader_set_max_line(TldrsReader *self, gsize max_line)
{
	g_return_if_fail(self != NULL);
	self->max_line = MAX(max_line, 1024);
}

/* find the next gzip member header after damage; FALSE when there is none */
static gboolean
tldrs_reader_gzip_resync(TldrsReader *self, GError **error)
{
	for (;;) {
		guint8 *p = self->zs.next_in;
		gsize n = self->zs.avail_in;
		for (gsize i = 0; i + 2 < n; i++) {
			if (p[i] == 0x1f && p[i + 1] == 0x8b && p[i + 2] == 0x08) {
				self->zs.next_in = p + i;
				self->zs.avail_in = (uInt)(n - i);
				inflateReset(&self->zs);
				return TRUE;
			}
		}
		if (self->eof)
			return FALSE;
		/* keep the last two bytes: a header may straddle reads */
		{
			gsize keep = MIN(n, 2);
			gsize got = 0;
			memmove(self->in, p + n - keep, keep);
			if (!tldrs_reader_read_raw(self,
			                           (char *)self->in + keep,
			                           TLDRS_READER_CHUNK - keep,
			                           &got,
			                           error))
				return FALSE;
			self->zs.next_in = self->in;
			self->zs.avail_in = (uInt)(keep + got);
		}
	}
}

/* decode more gzip input into buf[end..cap) */
static gboolean
tldrs_reader_fill_gzip(TldrsReader *self, GError **error)
{
	gsize produced = 0;
	while (produced == 0 && !self->done) {
		int rc;
		if (self->zs.avail_in == 0) {
			gsize got = 0;
			if (self->eof) {
				/* a truncated tail: keep what decoded, ignore the rest */
				self->done = TRUE;
				break;
			}
			if (!tldrs_reader_read_raw(
			            self, (char *)self->in, TLDRS_READER_CHUNK, &got, error))
				return FALSE;
			self->zs.next_in = self->in;
			self->zs.avail_in = (uInt)got;
			continue;
		}
		self->zs.next_out = (Bytef *)self->buf + self->end;
		self->zs.avail_out = (uInt)(self->cap - self->end);
		rc = inflate(&self->zs, Z_NO_FLUSH);
		produced = (gsize)((char *)self->zs.next_out - (self->buf + self->end));
		self->end += produced;
		self->in_member = TRUE;
		if (rc == Z_STREAM_END) {
			/* another member may follow */
			self->in_member = FALSE;
			inflateReset(&self->zs);
		} else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
			g_debug("%s: damaged gzip data, looking for the next member", self->name);
			/* drop the incomplete line decoded so far from the damaged member */
			while (self->end > self->start && self->buf[self->end - 1] != '\n')
				self->end--;
			produced = 0;
			if (!tldrs_reader_gzip_resync(self, error))
				self->done = TRUE;
		} else if (rc == Z_BUF_ERROR && self->zs.avail_in != 0) {
			break; /* no room: caller grows the buffer */
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
				self->skipping = FALSE;
				continue;
			}
			*line = l;
			*len = n;
			return TRUE;
		}
		if (self->done) {
			if (pending > 0 && !self->skipping) {
				*line = self->buf + self->start;
				*len = pending;
				self->start = self->end;
				return TRUE;
			}
			return FALSE;
		}
		/* make room: compact, then grow for a long line, then give up on it */
		if (self->start > 0) {
			memmove(self->buf, self->buf + self->start, pending);
			self->start = 0;
			self->end = pending;
		}
		if (self->end == self->cap) {
			if (self->skipping || self->cap >= self->max_line) {
				if (!self->skipping)
					self->too_long++;
				self->skipping = TRUE;
				self->end = 0;
			} else {
				self->cap = MIN(self->cap * 2, self->max_line);
				self->buf = g_realloc(self->buf, self->cap);
			}
		}
		if (!tldrs_reader_fill(self, error))
			return FALSE;
	}
}

/* read only the first @limit bytes of the file: a snapshot of a file still being appended to */
void
tldrs_reader_set_limit(TldrsReader *self, guint64 limit)
{
	g_return_if_fail(self != NULL);
	self->limit = MAX(limit, self->bytes_read);
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
	if (self->own_fd && self->fd >= 0)
		close(self->fd);
	g_free(self->in);
	g_free(self->buf);
	g_free(self->name);
	g_free(self);
}
