/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "tldrs-reader.h"
#include "tldrs-test-util.h"

#define CHUNK TLDRS_READER_CHUNK

typedef struct {
	char *dir;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	(void)data;
	f->dir = g_dir_make_tmp("tldrs-reader-test-XXXXXX", &error);
	g_assert_no_error(error);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	(void)data;
	tldrs_test_rm_rf(f->dir);
	g_free(f->dir);
}

static char *
write_file(Fixture *f, const char *name, const void *data, gsize len)
{
	g_autoptr(GError) error = NULL;
	char *path = g_build_filename(f->dir, name, NULL);
	g_file_set_contents(path, data, (gssize)len, &error);
	g_assert_no_error(error);
	return path;
}

/* every line of the reader, as GBytes */
static GPtrArray *
read_lines(TldrsReader *reader, GError **error)
{
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	const char *line = NULL;
	gsize len = 0;

	while (tldrs_reader_next(reader, &line, &len, error))
		g_ptr_array_add(lines, g_bytes_new(line, len));
	if (error != NULL && *error != NULL)
		return NULL;
	/* the end stays the end */
	g_assert_false(tldrs_reader_next(reader, &line, &len, error));
	return g_steal_pointer(&lines);
}

static GPtrArray *
read_path(const char *path, gsize max_line, guint64 *too_long)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(TldrsReader) reader = tldrs_reader_open(path, &error);
	GPtrArray *lines;

	g_assert_no_error(error);
	g_assert_nonnull(reader);
	if (max_line != 0)
		tldrs_reader_set_max_line(reader, max_line);
	lines = read_lines(reader, &error);
	g_assert_no_error(error);
	if (too_long != NULL)
		*too_long = tldrs_reader_get_lines_too_long(reader);
	return lines;
}

static void
assert_line(GPtrArray *lines, guint i, const char *want, gsize want_len)
{
	GBytes *b;
	gsize len = 0;
	const char *data;

	g_assert_cmpuint(i, <, lines->len);
	b = g_ptr_array_index(lines, i);
	data = g_bytes_get_data(b, &len);
	g_assert_cmpuint(len, ==, want_len);
	g_assert_true(len == 0 || memcmp(data, want, len) == 0);
}

#define assert_line_str(lines, i, s) assert_line(lines, i, s, strlen(s))

/* lines must be exactly want[] */
static void
assert_lines(GPtrArray *lines, const char *const *want)
{
	guint n = g_strv_length((char **)want);
	for (guint i = 0; i < MIN(n, lines->len); i++)
		assert_line_str(lines, i, want[i]);
	g_assert_cmpuint(lines->len, ==, n);
}

static void
test_plain_basic(Fixture *f, gconstpointer data)
{
	struct {
		const char *name;
		const char *content;
		const char *want[6];
	} cases[] = {
	        {"final-newline.jsonl", "a\nbb\nccc\n", {"a", "bb", "ccc", NULL}},
	        {"no-final-newline.jsonl", "a\nbb\nccc", {"a", "bb", "ccc", NULL}},
	        {"empty.jsonl", "", {NULL}},
	        {"one-byte.jsonl", "x", {"x", NULL}},
	        {"one-newline.jsonl", "\n", {"", NULL}},
	        {"blank-lines.jsonl", "\n\na\n\n", {"", "", "a", "", NULL}},
	        /* the reader returns bytes as they are: trimming is the caller's job */
	        {"crlf.jsonl", "{}\r\n {} \r\n", {"{}\r", " {} \r", NULL}},
	};
	(void)data;

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *path =
		        write_file(f, cases[i].name, cases[i].content, strlen(cases[i].content));
		g_autoptr(GError) error = NULL;
		g_autoptr(TldrsReader) reader = tldrs_reader_open(path, &error);
		g_autoptr(GPtrArray) lines = NULL;

		g_test_message("%s", cases[i].name);
		g_assert_no_error(error);
		g_assert_false(tldrs_reader_is_gzip(reader));
		lines = read_lines(reader, &error);
		g_assert_no_error(error);
		assert_lines(lines, cases[i].want);
		g_assert_cmpuint(tldrs_reader_get_bytes_read(reader), ==, strlen(cases[i].content));
		g_assert_cmpuint(tldrs_reader_get_lines_too_long(reader), ==, 0);
	}
}

/* a line of @len bytes of a recognisable pattern */
static char *
pattern_line(gsize len, char seed)
{
	char *s = g_malloc(len + 1);
	for (gsize i = 0; i < len; i++)
		s[i] = (char)('a' + (seed + i * 7 + i / 1000) % 26);
	s[len] = '\0';
	return s;
}

static void
test_plain_long_lines(Fixture *f, gconstpointer data)
{
	/* around the initial buffer, and several times its size */
	gsize sizes[] = {10, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17, 5, 2 * CHUNK};
	g_autoptr(GString) content = g_string_new(NULL);
	g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	guint64 too_long = 99;
	(void)data;

	for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
		char *line = pattern_line(sizes[i], (char)i);
		g_string_append(content, line);
		/* the last one has no newline */
		if (i + 1 < G_N_ELEMENTS(sizes))
			g_string_append_c(content, '\n');
		g_ptr_array_add(want, line);
	}
	g_ptr_array_add(want, NULL);
	path = write_file(f, "long.jsonl", content->str, content->len);
	lines = read_path(path, 0, &too_long);
	assert_lines(lines, (const char *const *)want->pdata);
	g_assert_cmpuint(too_long, ==, 0);
}

static void
test_plain_too_long(Fixture *f, gconstpointer data)
{
	gsize max = 1024 * 1024;
	g_autofree char *big1 = pattern_line(max + 10, 1);
	g_autofree char *big2 = pattern_line(3 * max, 2);
	g_autofree char *big3 = pattern_line(2 * max, 3);
	g_autofree char *ok = pattern_line(max - 1, 4);
	g_autofree char *content = NULL;
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	guint64 too_long = 0;
	const char *want[] = {"first", "second", ok, "third", NULL};
	(void)data;

	/* two over-long lines inside, one at the end without a newline */
	content =
	        g_strconcat("first\n", big1, "\nsecond\n", big2, "\n", ok, "\nthird\n", big3, NULL);
	path = write_file(f, "too-long.jsonl", content, strlen(content));
	lines = read_path(path, max, &too_long);
	assert_lines(lines, want);
	g_assert_cmpuint(too_long, ==, 3);
}

/* max_line is "the longest line a reader returns", and the daemon stores lines of up to
 * MaxLineBytes bytes, that many included */
static void
test_plain_max_line_exact(Fixture *f, gconstpointer data)
{
	gsize max = 1024 * 1024;
	g_autofree char *line = pattern_line(max, 5);
	g_autofree char *content = NULL;
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	guint64 too_long = 0;
	const char *want[] = {"a", line, "b", NULL};
	(void)data;

	content = g_strconcat("a\n", line, "\nb\n", NULL);
	path = write_file(f, "exact.jsonl", content, strlen(content));
	lines = read_path(path, max, &too_long);
	g_assert_cmpuint(too_long, ==, 0);
	assert_lines(lines, want);
}

/* a max_line below the initial buffer size must still be honoured */
static void
test_plain_small_max_line(Fixture *f, gconstpointer data)
{
	g_autofree char *big = pattern_line(10000, 6);
	g_autofree char *content = NULL;
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	guint64 too_long = 0;
	const char *want[] = {"a", "b", NULL};
	(void)data;

	content = g_strconcat("a\n", big, "\nb\n", NULL);
	path = write_file(f, "small-max.jsonl", content, strlen(content));
	lines = read_path(path, 4096, &too_long);
	assert_lines(lines, want);
	g_assert_cmpuint(too_long, ==, 1);
}

static GPtrArray *
read_with_limit(const char *path, guint64 limit)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(TldrsReader) reader = tldrs_reader_open(path, &error);
	GPtrArray *lines;

	g_assert_no_error(error);
	tldrs_reader_set_limit(reader, limit);
	lines = read_lines(reader, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(tldrs_reader_get_bytes_read(reader), <=, MAX(limit, 2));
	return lines;
}

static void
test_plain_limit(Fixture *f, gconstpointer data)
{
	const char *content = "aa\nbb\ncc\n";
	g_autofree char *path = write_file(f, "limit.jsonl", content, strlen(content));
	(void)data;

	{
		g_autoptr(GPtrArray) lines = read_with_limit(path, 6);
		const char *want[] = {"aa", "bb", NULL};
		assert_lines(lines, want);
	}
	{
		g_autoptr(GPtrArray) lines = read_with_limit(path, 3);
		const char *want[] = {"aa", NULL};
		assert_lines(lines, want);
	}
	{
		/* a limit inside a line: what is there, no more */
		g_autoptr(GPtrArray) lines = read_with_limit(path, 7);
		const char *want[] = {"aa", "bb", "c", NULL};
		assert_lines(lines, want);
	}
	{
		g_autoptr(GPtrArray) lines = read_with_limit(path, G_MAXUINT64);
		const char *want[] = {"aa", "bb", "cc", NULL};
		assert_lines(lines, want);
	}
	{
		g_autoptr(GPtrArray) lines = read_with_limit(path, 1000);
		const char *want[] = {"aa", "bb", "cc", NULL};
		assert_lines(lines, want);
	}
}

/* the real use: a snapshot of a file that grows while it is read */
static void
test_plain_limit_snapshot(Fixture *f, gconstpointer data)
{
	g_autofree char *big = pattern_line(3 * CHUNK, 7);
	g_autofree char *content = g_strconcat("{\"a\":1}\n", big, "\n{\"b\":2}\n", NULL);
	g_autofree char *path = write_file(f, "grow.jsonl", content, strlen(content));
	g_autoptr(GError) error = NULL;
	g_autoptr(TldrsReader) reader = tldrs_reader_open(path, &error);
	g_autoptr(GPtrArray) lines = NULL;
	const char *want[] = {"{\"a\":1}", big, "{\"b\":2}", NULL};
	FILE *fp;
	(void)data;

	g_assert_no_error(error);
	tldrs_reader_set_limit(reader, strlen(content));
	fp = fopen(path, "a");
	g_assert_nonnull(fp);
	for (guint i = 0; i < 1000; i++)
		fputs("{\"later\":true}\n", fp);
	fclose(fp);
	lines = read_lines(reader, &error);
	g_assert_no_error(error);
	assert_lines(lines, want);
	g_assert_cmpuint(tldrs_reader_get_bytes_read(reader), ==, strlen(content));
}

/* the daemon snapshots an empty trace file as limit 0; events appended before the reader
 * starts must not leak into the snapshot */
static void
test_plain_limit_zero(Fixture *f, gconstpointer data)
{
	const char *content = "{}\n{}\n";
	g_autofree char *path = write_file(f, "zero.jsonl", content, strlen(content));
	(void)data;

	{
		g_autoptr(GPtrArray) lines = read_with_limit(path, 0);
		g_assert_cmpuint(lines->len, ==, 0);
	}
	{
		g_autoptr(GPtrArray) lines = read_with_limit(path, 1);
		const char *want[] = {"{", NULL};
		assert_lines(lines, want);
	}
}

static void
test_open_errors(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *missing = g_build_filename(f->dir, "missing.jsonl", NULL);
	TldrsReader *reader;
	(void)data;

	reader = tldrs_reader_open(missing, &error);
	g_assert_null(reader);
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, missing));
	g_clear_error(&error);

	/* a directory opens but does not read */
	reader = tldrs_reader_open(f->dir, &error);
	g_assert_null(reader);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, f->dir));
}

static void
test_new_for_fd(Fixture *f, gconstpointer data)
{
	const char *content = "x\ny\n";
	g_autofree char *path = write_file(f, "fd.jsonl", content, strlen(content));
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	const char *want[] = {"x", "y", NULL};
	TldrsReader *reader;
	int fd;
	(void)data;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	reader = tldrs_reader_new_for_fd(fd, "my input", &error);
	g_assert_no_error(error);
	lines = read_lines(reader, &error);
	g_assert_no_error(error);
	assert_lines(lines, want);
	tldrs_reader_free(reader);
	/* the caller's fd stays open */
	g_assert_cmpint(fcntl(fd, F_GETFD), >=, 0);
	close(fd);

	/* a read error names the input */
	fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	reader = tldrs_reader_new_for_fd(fd, "my input", &error);
	g_assert_null(reader);
	g_assert_nonnull(error);
	g_assert_nonnull(strstr(error->message, "my input"));
	g_assert_cmpint(fcntl(fd, F_GETFD), >=, 0);
	close(fd);
}

/* gzip writing with zlib */

typedef struct {
	z_stream zs;
	GByteArray *out;
} Gz;

static void
gz_begin(Gz *gz, GByteArray *out)
{
	memset(gz, 0, sizeof(*gz));
	gz->out = out;
	g_assert_cmpint(
	        deflateInit2(
	                &gz->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
	        ==,
	        Z_OK);
}

static void
gz_write(Gz *gz, const void *data, gsize len, int flush)
{
	guint8 tmp[16384];
	int rc;

	gz->zs.next_in = (Bytef *)data;
	gz->zs.avail_in = (uInt)len;
	do {
		gz->zs.next_out = tmp;
		gz->zs.avail_out = sizeof(tmp);
		rc = deflate(&gz->zs, flush);
		g_assert_true(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR);
		g_byte_array_append(gz->out, tmp, (guint)(sizeof(tmp) - gz->zs.avail_out));
	} while (gz->zs.avail_out == 0);
	g_assert_cmpuint(gz->zs.avail_in, ==, 0);
	if (flush == Z_FINISH) {
		g_assert_cmpint(rc, ==, Z_STREAM_END);
		deflateEnd(&gz->zs);
	}
}

static void
gz_write_str(Gz *gz, const char *s, int flush)
{
	gz_write(gz, s, strlen(s), flush);
}

/* a whole member holding @s */
static void
gz_member(GByteArray *out, const char *s)
{
	Gz gz;
	gz_begin(&gz, out);
	gz_write_str(&gz, s, Z_FINISH);
}

static char *
write_bytes(Fixture *f, const char *name, GByteArray *data)
{
	return write_file(f, name, data->data, data->len);
}

static void
test_gzip_single(Fixture *f, gconstpointer data)
{
	g_autoptr(GByteArray) gz = g_byte_array_new();
	g_autofree char *path = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(TldrsReader) reader = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	const char *want[] = {"{\"a\":1}", "", "{\"b\":\"caf\xc3\xa9\"}", "last", NULL};
	(void)data;

	gz_member(gz, "{\"a\":1}\n\n{\"b\":\"caf\xc3\xa9\"}\nlast");
	path = write_bytes(f, "single.jsonl.gz", gz);
	reader = tldrs_reader_open(path, &error);
	g_assert_no_error(error);
	g_assert_true(tldrs_reader_is_gzip(reader));
	lines = read_lines(reader, &error);
	g_assert_no_error(error);
	assert_lines(lines, want);
	g_assert_cmpuint(tldrs_reader_get_bytes_read(reader), ==, gz->len);
}

static void
test_gzip_empty_member(Fixture *f, gconstpointer data)
{
	g_autoptr(GByteArray) gz = g_byte_array_new();
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	(void)data;

	gz_member(gz, "");
	path = write_bytes(f, "empty.jsonl.gz", gz);
	lines = read_path(path, 0, NULL);
	g_assert_cmpuint(lines->len, ==, 0);
}

static void
test_gzip_members(Fixture *f, gconstpointer data)
{
	g_autoptr(GByteArray) gz = g_byte_array_new();
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	const char *want[] = {"m1a", "m1b", "m2a", "m3a", "m3b", "m3c", NULL};
	(void)data;

	gz_member(gz, "m1a\nm1b\n");
	gz_member(gz, "");
	gz_member(gz, "m2a\n");
	gz_member(gz, "m3a\nm3b\nm3c\n");
	path = write_bytes(f, "members.jsonl.gz", gz);
	lines = read_path(path, 0, NULL);
	assert_lines(lines, want);
}

/* many members, more than one input buffer of compressed data */
static void
test_gzip_many_members(Fixture *f, gconstpointer data)
{
	g_autoptr(GByteArray) gz = g_byte_array_new();
	g_autoptr(GRand) rand = g_rand_new_with_seed(42);
	g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	(void)data;

	while (gz->len < 3 * CHUNK) {
		g_autoptr(GString) member = g_string_new(NULL);
		guint n = (guint)g_rand_int_range(rand, 1, 20);
		for (guint i = 0; i < n; i++) {
			char *line = g_strdup_printf("{\"i\":%u,\"r\":\"%08x%08x\"}",
			                             want->len,
			                             g_rand_int(rand),
			                             g_rand_int(rand));
			g_string_append_printf(member, "%s\n", line);
			g_ptr_array_add(want, line);
		}
		gz_member(gz, member->str);
	}
	g_ptr_array_add(want, NULL);
	path = write_bytes(f, "many.jsonl.gz", gz);
	lines = read_path(path, 0, NULL);
	assert_lines(lines, (const char *const *)want->pdata);
}

static void
test_gzip_long_lines(Fixture *f, gconstpointer data)
{
	gsize max = 1024 * 1024;
	g_autofree char *l1 = pattern_line(CHUNK + 5, 1);
	g_autofree char *l2 = pattern_line(max - 1, 2);
	g_autofree char *big = pattern_line(2 * max + 3, 3);
	g_autofree char *content = g_strconcat(l1, "\n", big, "\n", l2, "\nend\n", big, NULL);
	g_autoptr(GByteArray) gz = g_byte_array_new();
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	guint64 too_long = 0;
	const char *want[] = {l1, l2, "end", NULL};
	(void)data;

	gz_member(gz, content);
	path = write_bytes(f, "long.jsonl.gz", gz);
	lines = read_path(path, max, &too_long);
	assert_lines(lines, want);
	g_assert_cmpuint(too_long, ==, 2);
}

/* the reader returns each original line, in order; only the last one may be cut short */
static void
assert_prefix_of(GPtrArray *lines, const char *const *orig, guint n_orig, guint min_whole)
{
	guint whole = 0;
	for (guint i = 0; i < lines->len; i++) {
		gsize len = 0;
		const char *got = g_bytes_get_data(g_ptr_array_index(lines, i), &len);
		gsize want_len;

		g_assert_cmpuint(i, <, n_orig);
		want_len = strlen(orig[i]);
		g_assert_cmpuint(len, <=, want_len);
		g_assert_true(len == 0 || memcmp(got, orig[i], len) == 0);
		if (len == want_len)
			whole++;
		else
			g_assert_cmpuint(i, ==, lines->len - 1);
	}
	g_assert_cmpuint(whole, >=, min_whole);
}

/* a member written with Z_SYNC_FLUSH after each line, as a crash would leave it, cut at
 * every byte: every line flushed before the cut comes back, and nothing that wasn't written */
static void
test_gzip_truncated(Fixture *f, gconstpointer data)
{
	g_autoptr(GByteArray) gz = g_byte_array_new();
	g_autoptr(GPtrArray) orig = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) sync_end = g_array_new(FALSE, FALSE, sizeof(guint));
	g_autoptr(GRand) rand = g_rand_new_with_seed(7);
	g_autofree char *path = g_build_filename(f->dir, "cut.jsonl.gz", NULL);
	guint n_synced = 8;
	Gz w;
	(void)data;

	gz_begin(&w, gz);
	for (guint i = 0; i < n_synced; i++) {
		char *line =
		        g_strdup_printf("{\"synced\":%u,\"pad\":\"%s\"}", i, i % 2 ? "xyzxyz" : "");
		g_autofree char *nl = g_strconcat(line, "\n", NULL);
		g_ptr_array_add(orig, line);
		gz_write_str(&w, nl, Z_SYNC_FLUSH);
		g_array_append_val(sync_end, gz->len);
	}
	/* then lines that were never flushed: they appear only as the member ends */
	for (guint i = 0; i < 40; i++) {
		g_autoptr(GString) line = g_string_new("{\"late\":\"");
		guint n = (guint)g_rand_int_range(rand, 0, 120);
		g_autofree char *nl = NULL;
		for (guint k = 0; k < n; k++)
			g_string_append_c(line, (char)g_rand_int_range(rand, 'a', 'z' + 1));
		g_string_append(line, "\"}");
		nl = g_strconcat(line->str, "\n", NULL);
		gz_write_str(&w, nl, Z_NO_FLUSH);
		g_ptr_array_add(orig, g_string_free(g_steal_pointer(&line), FALSE));
	}
	gz_write(&w, NULL, 0, Z_FINISH);

	g_assert_true(g_file_set_contents(path, (const char *)gz->data, gz->len, NULL));
	/* from the whole file down, cutting off one more byte each time */
	for (guint cut = gz->len; cut >= 2; cut--) {
		g_autoptr(GError) error = NULL;
		g_autoptr(TldrsReader) reader = NULL;
		g_autoptr(GPtrArray) lines = NULL;
		guint min_whole = 0;

		g_assert_cmpint(truncate(path, cut), ==, 0);
		reader = tldrs_reader_open(path, &error);
		g_assert_no_error(error);
		g_assert_true(tldrs_reader_is_gzip(reader));
		lines = read_lines(reader, &error);
		if (error != NULL)
			g_error("cut at %u of %u: %s", cut, gz->len, error->message);
		for (guint i = 0; i < sync_end->len; i++) {
			if (cut >= g_array_index(sync_end, guint, i))
				min_whole = i + 1;
		}
		assert_prefix_of(lines, (const char *const *)orig->pdata, orig->len, min_whole);
		if (cut == gz->len)
			g_assert_cmpuint(lines->len, ==, orig->len);
		if (cut >= g_array_index(sync_end, guint, n_synced - 1))
			g_assert_cmpuint(lines->len, >=, n_synced);
	}
}

/* @n lines "{"PREFIX":i,"pad":"…"}" of random length, into @lines and one member of @gz */
static void
gz_random_member(GByteArray *gz, GPtrArray *lines, const char *prefix, guint n, GRand *rand)
{
	Gz w;
	gz_begin(&w, gz);
	for (guint i = 0; i < n; i++) {
		g_autoptr(GString) line = g_string_new(NULL);
		guint len = (guint)g_rand_int_range(rand, 0, 200);
		g_autofree char *nl = NULL;
		g_string_printf(line, "{\"%s\":%u,\"pad\":\"", prefix, i);
		for (guint k = 0; k < len; k++)
			g_string_append_c(line, (char)g_rand_int_range(rand, 'a', 'z' + 1));
		g_string_append(line, "\"}");
		nl = g_strconcat(line->str, "\n", NULL);
		/* now and then a flush, as the gzip sink makes */
		gz_write_str(&w, nl, i % 16 == 15 ? Z_SYNC_FLUSH : Z_NO_FLUSH);
		g_ptr_array_add(lines, g_string_free(g_steal_pointer(&line), FALSE));
	}
	gz_write(&w, NULL, 0, Z_FINISH);
}

/* a member cut short (a crash, a copy cut short) with more members after it, cut at many
 * places and with a large first member (reads end anywhere): the lines before the cut, then
 * every later member whole, and never a line made of the bytes of two members */
static void
test_gzip_cut_then_members(Fixture *f, gconstpointer data)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(11);
	(void)data;

	for (guint big = 0; big < 2; big++) {
		g_autoptr(GByteArray) m1 = g_byte_array_new();
		g_autoptr(GByteArray) m2 = g_byte_array_new();
		g_autoptr(GByteArray) rest = g_byte_array_new();
		g_autoptr(GPtrArray) l1 = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GPtrArray) l2 = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GPtrArray) lrest = g_ptr_array_new_with_free_func(g_free);

		gz_random_member(m1, l1, "a", big ? 20000 : 50, rand);
		gz_random_member(m2, l2, "b", 400, rand);
		gz_random_member(rest, lrest, "c", 300, rand);
		gz_random_member(rest, lrest, "d", 30, rand);
		for (guint cut = 11; cut < m2->len; cut += big ? 997 : 61) {
			g_autoptr(GByteArray) all = g_byte_array_new();
			g_autofree char *path = NULL;
			g_autoptr(GPtrArray) lines = NULL;
			guint from_m2;

			g_byte_array_append(all, m1->data, m1->len);
			g_byte_array_append(all, m2->data, cut);
			g_byte_array_append(all, rest->data, rest->len);
			path = write_bytes(f, "cut-members.jsonl.gz", all);
			lines = read_path(path, 0, NULL);
			g_assert_cmpuint(lines->len, >=, l1->len + lrest->len);
			for (guint i = 0; i < l1->len; i++)
				assert_line_str(lines, i, (const char *)g_ptr_array_index(l1, i));
			from_m2 = lines->len - l1->len - lrest->len;
			g_assert_cmpuint(from_m2, <, l2->len);
			for (guint i = 0; i < from_m2; i++)
				assert_line_str(
				        lines, l1->len + i, (const char *)g_ptr_array_index(l2, i));
			for (guint i = 0; i < lrest->len; i++)
				assert_line_str(lines,
				                l1->len + from_m2 + i,
				                (const char *)g_ptr_array_index(lrest, i));
		}
	}
}

/* a gzip magic inside a member's data (a stored block copies its text) is not a header */
static void
test_gzip_magic_in_data(Fixture *f, gconstpointer data)
{
	g_autoptr(GByteArray) gz = g_byte_array_new();
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	const char *want[] = {"one \x1f\x8b\x08zzzz two", "\x1f\x8b\x08\x01", "{\"c\":1}", NULL};
	Gz w;
	(void)data;

	memset(&w, 0, sizeof w);
	w.out = gz;
	g_assert_cmpint(
	        deflateInit2(&w.zs, 0, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), ==, Z_OK);
	gz_write_str(&w, "one \x1f\x8b\x08zzzz two\n\x1f\x8b\x08\x01\n", Z_FINISH);
	gz_member(gz, "{\"c\":1}\n");
	path = write_bytes(f, "magic.jsonl.gz", gz);
	lines = read_path(path, 0, NULL);
	assert_lines(lines, want);
}

static void
test_gzip_garbage_after(Fixture *f, gconstpointer data)
{
	const char *tails[] = {"garbage that is not gzip\n{\"x\":1}\n",
	                       "\x1f\x8b\x08 not really a header at all",
	                       "\x1f",
	                       "\x1f\x8b",
	                       "",
	                       NULL};
	const char *want[] = {"{\"a\":1}", "{\"b\":2}", NULL};
	(void)data;

	for (guint i = 0; tails[i] != NULL; i++) {
		g_autoptr(GByteArray) gz = g_byte_array_new();
		g_autofree char *path = NULL;
		g_autoptr(GPtrArray) lines = NULL;
		gz_member(gz, "{\"a\":1}\n{\"b\":2}\n");
		g_byte_array_append(gz, (const guint8 *)tails[i], (guint)strlen(tails[i]));
		path = write_bytes(f, "garbage.jsonl.gz", gz);
		lines = read_path(path, 0, NULL);
		assert_lines(lines, want);
	}

	/* zero padding, as some tools leave it */
	{
		g_autoptr(GByteArray) gz = g_byte_array_new();
		g_autofree char *path = NULL;
		g_autoptr(GPtrArray) lines = NULL;
		guint8 zeros[4096] = {0};
		gz_member(gz, "{\"a\":1}\n{\"b\":2}\n");
		g_byte_array_append(gz, zeros, sizeof(zeros));
		path = write_bytes(f, "zeros.jsonl.gz", gz);
		lines = read_path(path, 0, NULL);
		assert_lines(lines, want);
	}
}

/* a member that breaks off mid-way (an invalid block after a sync point) then a good member:
 * the lines before the damage, not the half line, then the good member */
static void
test_gzip_resync(Fixture *f, gconstpointer data)
{
	g_autoptr(GByteArray) gz = g_byte_array_new();
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	const char *want[] = {"{\"a\":1}", "{\"b\":1}", "{\"b\":2}", NULL};
	guint damage;
	Gz w;
	(void)data;

	gz_begin(&w, gz);
	gz_write_str(&w, "{\"a\":1}\n", Z_SYNC_FLUSH);
	gz_write_str(&w, "{\"a\":\"half", Z_SYNC_FLUSH);
	damage = gz->len;
	gz_write_str(&w, " a line\"}\n{\"a\":3}\n", Z_FINISH);
	/* BFINAL=1, BTYPE=11: "invalid block type" */
	gz->data[damage] = 0x07;
	gz_member(gz, "{\"b\":1}\n{\"b\":2}\n");
	path = write_bytes(f, "resync.jsonl.gz", gz);
	lines = read_path(path, 0, NULL);
	assert_lines(lines, want);
}

/* a damaged header, a bad CRC: the next member is still found */
static void
test_gzip_resync_kinds(Fixture *f, gconstpointer data)
{
	(void)data;

	{
		/* an unknown compression method in the first member's header */
		g_autoptr(GByteArray) gz = g_byte_array_new();
		g_autofree char *path = NULL;
		g_autoptr(GPtrArray) lines = NULL;
		const char *want[] = {"{\"b\":1}", NULL};
		gz_member(gz, "{\"a\":1}\n");
		gz->data[2] = 0x09;
		gz_member(gz, "{\"b\":1}\n");
		path = write_bytes(f, "bad-header.jsonl.gz", gz);
		lines = read_path(path, 0, NULL);
		assert_lines(lines, want);
	}
	{
		/* a bad CRC: the data decoded fine, the member after it is read too */
		g_autoptr(GByteArray) gz = g_byte_array_new();
		g_autofree char *path = NULL;
		g_autoptr(GPtrArray) lines = NULL;
		const char *want[] = {"{\"a\":1}", "{\"b\":1}", NULL};
		gz_member(gz, "{\"a\":1}\n");
		gz->data[gz->len - 8] ^= 0xff;
		gz_member(gz, "{\"b\":1}\n");
		path = write_bytes(f, "bad-crc.jsonl.gz", gz);
		lines = read_path(path, 0, NULL);
		assert_lines(lines, want);
	}
	{
		/* damage with no member after it: what came before, no error */
		g_autoptr(GByteArray) gz = g_byte_array_new();
		g_autofree char *path = NULL;
		g_autoptr(GPtrArray) lines = NULL;
		const char *want[] = {"{\"a\":1}", NULL};
		guint damage;
		Gz w;
		gz_begin(&w, gz);
		gz_write_str(&w, "{\"a\":1}\n", Z_SYNC_FLUSH);
		damage = gz->len;
		gz_write_str(&w, "{\"a\":2}\n", Z_FINISH);
		gz->data[damage] = 0x07;
		path = write_bytes(f, "damaged-end.jsonl.gz", gz);
		lines = read_path(path, 0, NULL);
		assert_lines(lines, want);
	}
}

/* the gzip sink starts a new member each time a trace is opened: after a crash, the member it
 * was writing ends at a sync point without a trailer, and the next run appends a member */
static void
test_gzip_crash_then_append(Fixture *f, gconstpointer data)
{
	g_autoptr(GByteArray) gz = g_byte_array_new();
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	const char *want[] = {"{\"a\":1}", "{\"a\":2}", "{\"b\":1}", "{\"b\":2}", NULL};
	Gz w;
	(void)data;

	gz_begin(&w, gz);
	gz_write_str(&w, "{\"a\":1}\n", Z_SYNC_FLUSH);
	gz_write_str(&w, "{\"a\":2}\n", Z_SYNC_FLUSH);
	deflateEnd(&w.zs);
	gz_member(gz, "{\"b\":1}\n{\"b\":2}\n");
	path = write_bytes(f, "crash.jsonl.gz", gz);
	lines = read_path(path, 0, NULL);
	assert_lines(lines, want);
}

/* the next member's header lies across the reader's input buffer boundary */
static void
test_gzip_resync_boundary(Fixture *f, gconstpointer data)
{
	const char *want[] = {"{\"a\":1}", "{\"b\":1}", "{\"b\":2}", NULL};
	(void)data;

	for (guint start = CHUNK - 6; start <= CHUNK + 6; start++) {
		g_autoptr(GByteArray) gz = g_byte_array_new();
		g_autofree char *path = NULL;
		g_autoptr(GPtrArray) lines = NULL;
		guint damage;
		Gz w;

		gz_begin(&w, gz);
		gz_write_str(&w, "{\"a\":1}\n", Z_SYNC_FLUSH);
		damage = gz->len;
		gz_write_str(&w, "{\"a\":2}\n", Z_FINISH);
		gz->data[damage] = 0x07;
		/* padding that holds no gzip magic */
		while (gz->len < start)
			g_byte_array_append(gz, (const guint8 *)"\0", 1);
		gz_member(gz, "{\"b\":1}\n{\"b\":2}\n");
		path = write_bytes(f, "boundary.jsonl.gz", gz);
		lines = read_path(path, 0, NULL);
		assert_lines(lines, want);
	}
}

static void
test_gzip_limit(Fixture *f, gconstpointer data)
{
	g_autoptr(GByteArray) gz = g_byte_array_new();
	g_autofree char *path = NULL;
	guint first;
	(void)data;

	gz_member(gz, "{\"a\":1}\n{\"a\":2}\n");
	first = gz->len;
	gz_member(gz, "{\"b\":1}\n");
	path = write_bytes(f, "limit.jsonl.gz", gz);
	{
		g_autoptr(GPtrArray) lines = read_with_limit(path, first);
		const char *want[] = {"{\"a\":1}", "{\"a\":2}", NULL};
		assert_lines(lines, want);
	}
	{
		g_autoptr(GPtrArray) lines = read_with_limit(path, G_MAXUINT64);
		const char *want[] = {"{\"a\":1}", "{\"a\":2}", "{\"b\":1}", NULL};
		assert_lines(lines, want);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

#define ADD(name, func)                                                                            \
	g_test_add("/tldrs/reader/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("plain-basic", test_plain_basic);
	ADD("plain-long-lines", test_plain_long_lines);
	ADD("plain-too-long", test_plain_too_long);
	ADD("plain-max-line-exact", test_plain_max_line_exact);
	ADD("plain-small-max-line", test_plain_small_max_line);
	ADD("plain-limit", test_plain_limit);
	ADD("plain-limit-snapshot", test_plain_limit_snapshot);
	ADD("plain-limit-zero", test_plain_limit_zero);
	ADD("open-errors", test_open_errors);
	ADD("new-for-fd", test_new_for_fd);
	ADD("gzip-single", test_gzip_single);
	ADD("gzip-empty-member", test_gzip_empty_member);
	ADD("gzip-members", test_gzip_members);
	ADD("gzip-many-members", test_gzip_many_members);
	ADD("gzip-long-lines", test_gzip_long_lines);
	ADD("gzip-truncated", test_gzip_truncated);
	ADD("gzip-garbage-after", test_gzip_garbage_after);
	ADD("gzip-cut-then-members", test_gzip_cut_then_members);
	ADD("gzip-magic-in-data", test_gzip_magic_in_data);
	ADD("gzip-resync", test_gzip_resync);
	ADD("gzip-resync-kinds", test_gzip_resync_kinds);
	ADD("gzip-resync-boundary", test_gzip_resync_boundary);
	ADD("gzip-crash-then-append", test_gzip_crash_then_append);
	ADD("gzip-limit", test_gzip_limit);
#undef ADD

	return g_test_run();
}
