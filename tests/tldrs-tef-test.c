/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "tldrs-json.h"
#include "tldrs-reader.h"
#include "tldrs-state.h"
#include "tldrs-tef.h"
#include "tldrs-test-util.h"

typedef struct {
	char *dir;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	(void)data;
	f->dir = g_dir_make_tmp("tldrs-tef-test-XXXXXX", &error);
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
write_file(Fixture *f, const char *name, const char *data, gsize len)
{
	g_autoptr(GError) error = NULL;
	char *path = g_build_filename(f->dir, name, NULL);
	g_file_set_contents(path, data, (gssize)len, &error);
	g_assert_no_error(error);
	return path;
}

static char *
dest_path(Fixture *f, const char *name)
{
	return g_build_filename(f->dir, name, NULL);
}

/* TRUE when @contents is strict JSON by tldrs_json_check_object() (the array form wrapped as
 * {"a":...}) and json-glib; *root gets the parsed document */
static gboolean
parse_strict(const char *contents, gsize len, JsonNode **root)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	const char *reason = NULL;
	gsize where = 0;
	gboolean ok;

	if (len > 0 && contents[0] == '[') {
		g_autofree char *wrapped = g_strdup_printf("{\"a\":%s}", contents);
		ok = tldrs_json_check_object(wrapped, strlen(wrapped), &where, &reason);
	} else {
		ok = tldrs_json_check_object(contents, len, &where, &reason);
	}
	if (!ok) {
		g_test_message("not strict JSON at %" G_GSIZE_FORMAT ": %s", where, reason);
		return FALSE;
	}
	if (!json_parser_load_from_data(parser, contents, (gssize)len, &error)) {
		g_test_message("json-glib: %s", error->message);
		return FALSE;
	}
	if (root != NULL)
		*root = json_node_copy(json_parser_get_root(parser));
	return TRUE;
}

static JsonNode *
load_tef(const char *path)
{
	g_autofree char *contents = NULL;
	g_autoptr(GError) error = NULL;
	JsonNode *root = NULL;
	gsize len = 0;

	g_file_get_contents(path, &contents, &len, &error);
	g_assert_no_error(error);
	if (!parse_strict(contents, len, &root))
		g_error("%s is not strict JSON:\n%s", path, contents);
	return root;
}

static JsonArray *
tef_events(JsonNode *root)
{
	if (JSON_NODE_HOLDS_ARRAY(root))
		return json_node_get_array(root);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
	return json_object_get_array_member(json_node_get_object(root), "traceEvents");
}

static JsonObject *
tef_other(JsonNode *root)
{
	g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
	return json_object_get_object_member(json_node_get_object(root), "otherData");
}

static gint
cmp_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* names of the files in @dir, sorted, joined by ',' */
static char *
list_dir(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *name;

	g_assert_nonnull(d);
	while ((name = g_dir_read_name(d)) != NULL)
		g_ptr_array_add(names, g_strdup(name));
	g_ptr_array_sort(names, cmp_names);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(",", (char **)names->pdata);
}

static const char *const events3 =
        "{\"name\":\"a\",\"ph\":\"B\",\"ts\":1,\"pid\":1,\"tid\":1}\n"
        "{\"name\":\"a\",\"ph\":\"E\",\"ts\":2.5,\"pid\":1,\"tid\":1}\n"
        "{\"name\":\"caf\xc3\xa9\",\"ph\":\"i\",\"ts\":3,\"pid\":2,\"tid\":7,\"args\":{\"x\":[1,"
        "null]}}\n";

static void
test_object_format(Fixture *f, gconstpointer data)
{
	g_autofree char *src = write_file(f, "t.jsonl", events3, strlen(events3));
	g_autofree char *dest = dest_path(f, "out.json");
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *contents = NULL;
	TldrsTefStats stats = {99, 99, 99};
	JsonArray *events;
	JsonObject *other;
	JsonObject *ev;
	GStatBuf sb;
	(void)data;

	g_assert_true(tldrs_tef_write_file(
	        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-1", &stats, &error));
	g_assert_no_error(error);
	root = load_tef(dest);
	events = tef_events(root);
	g_assert_nonnull(events);
	g_assert_cmpuint(json_array_get_length(events), ==, 3);
	ev = json_array_get_object_element(events, 0);
	g_assert_cmpstr(json_object_get_string_member(ev, "ph"), ==, "B");
	ev = json_array_get_object_element(events, 1);
	g_assert_cmpfloat(json_object_get_double_member(ev, "ts"), ==, 2.5);
	ev = json_array_get_object_element(events, 2);
	g_assert_cmpstr(json_object_get_string_member(ev, "name"), ==, "caf\xc3\xa9");
	g_assert_cmpint(json_object_get_int_member(ev, "tid"), ==, 7);

	g_assert_cmpstr(
	        json_object_get_string_member(json_node_get_object(root), "displayTimeUnit"),
	        ==,
	        "ms");
	other = tef_other(root);
	g_assert_nonnull(other);
	g_assert_cmpstr(json_object_get_string_member(other, "traceId"), ==, "tr-1");
	g_assert_cmpstr(json_object_get_string_member(other, "tool"), ==, "tldrs");
	g_assert_cmpstr(json_object_get_string_member(other, "version"), ==, PACKAGE_VERSION);
	g_assert_cmpint(json_object_get_int_member(other, "events"), ==, 3);
	g_assert_cmpint(json_object_get_int_member(other, "linesLeftOut"), ==, 0);

	g_assert_cmpuint(stats.events, ==, 3);
	g_assert_cmpuint(stats.refused, ==, 0);
	g_assert_cmpint(g_stat(dest, &sb), ==, 0);
	g_assert_cmpuint(stats.bytes, ==, (guint64)sb.st_size);

	/* the stored lines are copied byte for byte */
	g_file_get_contents(dest, &contents, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_str_has_prefix(contents, "{\"traceEvents\":["));
	g_assert_true(g_str_has_suffix(contents, "}\n"));
	g_assert_nonnull(strstr(contents, "\"caf\xc3\xa9\""));
	g_assert_nonnull(
	        strstr(contents, "{\"name\":\"a\",\"ph\":\"E\",\"ts\":2.5,\"pid\":1,\"tid\":1}"));
}

static void
test_array_format(Fixture *f, gconstpointer data)
{
	g_autofree char *src = write_file(f, "t.jsonl", events3, strlen(events3));
	g_autofree char *dest = dest_path(f, "out.json");
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *contents = NULL;
	TldrsTefStats stats = {0};
	JsonArray *events;
	(void)data;

	g_assert_true(tldrs_tef_write_file(
	        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_ARRAY, "tr-1", &stats, &error));
	g_assert_no_error(error);
	root = load_tef(dest);
	g_assert_true(JSON_NODE_HOLDS_ARRAY(root));
	events = tef_events(root);
	g_assert_cmpuint(json_array_get_length(events), ==, 3);
	g_assert_cmpstr(
	        json_object_get_string_member(json_array_get_object_element(events, 2), "name"),
	        ==,
	        "caf\xc3\xa9");
	g_assert_cmpuint(stats.events, ==, 3);
	g_file_get_contents(dest, &contents, NULL, &error);
	g_assert_no_error(error);
	/* no metadata in the array form */
	g_assert_null(strstr(contents, "tr-1"));
	g_assert_null(strstr(contents, "traceEvents"));
}

static void
test_trace_id_escaping(Fixture *f, gconstpointer data)
{
	const char *ids[] = {
	        "tr-1732550000-5f2a0123456789abcdef0123456789ab",
	        "a\"b",
	        "back\\slash\\",
	        "\"\\\"",
	        "ctl\x01\x02\x1f\t\n\r\b\f end",
	        "del\x7f",
	        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	        "</script>",
	        "",
	};
	g_autofree char *src = write_file(f, "t.jsonl", events3, strlen(events3));
	(void)data;

	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree char *dest = dest_path(f, "out.json");
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) root = NULL;
		g_assert_true(tldrs_tef_write_file(
		        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, ids[i], NULL, &error));
		g_assert_no_error(error);
		root = load_tef(dest);
		g_assert_cmpstr(
		        json_object_get_string_member(tef_other(root), "traceId"), ==, ids[i]);
	}

	/* no id: an empty one */
	{
		g_autofree char *dest = dest_path(f, "out.json");
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) root = NULL;
		g_assert_true(tldrs_tef_write_file(
		        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, NULL, NULL, &error));
		g_assert_no_error(error);
		root = load_tef(dest);
		g_assert_cmpstr(json_object_get_string_member(tef_other(root), "traceId"), ==, "");
	}
}

/* get-tef on a path takes the trace id from the file name, which need not be UTF-8; and a
 * TEF file we write is strict JSON, always (docs/protocol.md, docs/security.md) */
static void
test_trace_id_invalid_utf8(Fixture *f, gconstpointer data)
{
	g_autofree char *src = write_file(f, "t.jsonl", events3, strlen(events3));
	g_autofree char *dest = dest_path(f, "out.json");
	g_autoptr(GError) error = NULL;
	g_autofree char *contents = NULL;
	gsize len = 0;
	(void)data;

	g_assert_true(tldrs_tef_write_file(
	        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "bad\xff\xfe-id", NULL, &error));
	g_assert_no_error(error);
	g_file_get_contents(dest, &contents, &len, &error);
	g_assert_no_error(error);
	g_assert_true(parse_strict(contents, len, NULL));
}

static void
test_empty_source(Fixture *f, gconstpointer data)
{
	g_autofree char *empty = write_file(f, "empty.jsonl", "", 0);
	const char *sources[] = {NULL, empty};
	(void)data;

	for (guint i = 0; i < G_N_ELEMENTS(sources); i++) {
		for (TldrsTefFormat fmt = TLDRS_TEF_FORMAT_OBJECT; fmt <= TLDRS_TEF_FORMAT_ARRAY;
		     fmt++) {
			g_autofree char *dest = dest_path(f, "out.json");
			g_autoptr(GError) error = NULL;
			g_autoptr(JsonNode) root = NULL;
			TldrsTefStats stats = {99, 99, 0};

			g_assert_true(tldrs_tef_write_file(
			        sources[i], G_MAXUINT64, dest, fmt, "tr-empty", &stats, &error));
			g_assert_no_error(error);
			root = load_tef(dest);
			g_assert_cmpuint(json_array_get_length(tef_events(root)), ==, 0);
			g_assert_cmpuint(stats.events, ==, 0);
			g_assert_cmpuint(stats.refused, ==, 0);
			g_assert_cmpuint(stats.bytes, >, 0);
			if (fmt == TLDRS_TEF_FORMAT_OBJECT) {
				JsonObject *other = tef_other(root);
				g_assert_cmpstr(json_object_get_string_member(other, "traceId"),
				                ==,
				                "tr-empty");
				g_assert_cmpint(json_object_get_int_member(other, "events"), ==, 0);
			}
		}
	}
}

static void
test_refused_lines(Fixture *f, gconstpointer data)
{
	g_autofree char *content =
	        g_strconcat("{\"ok\":1}\n",
	                    "{\"bad\":\n",          /* cut short */
	                    "[1,2]\n",              /* not an object */
	                    "\n",                   /* blank lines are skipped, not refused */
	                    "   \t\r\n",            /* blank too */
	                    "{\"ok\":2}\r\n",       /* \r tolerated */
	                    "{\"ok\":3}  \t \r\n",  /* trailing blanks tolerated */
	                    "  {\"ok\":4}\n",       /* leading blanks are JSON whitespace */
	                    "{\"a\":1}{\"b\":2}\n", /* two objects */
	                    "{\"a\":\"\xff\"}\n",   /* invalid UTF-8 */
	                    "{\"a\":\"x\x01y\"}\n", /* control character */
	                    "{\"a\":1,}\n",         /* the reference's check lets this through */
	                    "OPEN tr-1\n",          /* a command, not an event */
	                    "{\"ok\":5}\n",
	                    "{\"a\":\"\\x\"}\n", /* invalid escape */
	                    "{\"ok\":6}",        /* no final newline */
	                    NULL);
	g_autofree char *src = write_file(f, "t.jsonl", content, strlen(content));
	g_autofree char *dest = dest_path(f, "out.json");
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = NULL;
	TldrsTefStats stats = {0};
	JsonArray *events;
	JsonObject *other;
	(void)data;

	g_assert_true(tldrs_tef_write_file(
	        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-1", &stats, &error));
	g_assert_no_error(error);
	root = load_tef(dest);
	events = tef_events(root);
	g_assert_cmpuint(json_array_get_length(events), ==, 6);
	for (guint i = 0; i < 6; i++) {
		JsonObject *ev = json_array_get_object_element(events, i);
		g_assert_cmpint(json_object_get_int_member(ev, "ok"), ==, i + 1);
	}
	g_assert_cmpuint(stats.events, ==, 6);
	g_assert_cmpuint(stats.refused, ==, 8);
	other = tef_other(root);
	g_assert_cmpint(json_object_get_int_member(other, "events"), ==, 6);
	g_assert_cmpint(json_object_get_int_member(other, "linesLeftOut"), ==, 8);

	/* and the array form is strict as well */
	g_assert_true(tldrs_tef_write_file(
	        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_ARRAY, "tr-1", &stats, &error));
	g_assert_no_error(error);
	g_clear_pointer(&root, json_node_unref);
	root = load_tef(dest);
	g_assert_cmpuint(json_array_get_length(tef_events(root)), ==, 6);
	g_assert_cmpuint(stats.refused, ==, 8);
}

/* the daemon accepts lines up to MaxLineBytes (at most 1 GiB, 8 MiB by default): a TEF file
 * carries every one of them */
static void
test_long_event(Fixture *f, gconstpointer data)
{
	gsize n = 9 * 1024 * 1024;
	g_autofree char *huge = g_strnfill(n, 'x');
	g_autofree char *content =
	        g_strconcat("{\"ok\":1}\n{\"ok\":2,\"huge\":\"", huge, "\"}\n{\"ok\":3}\n", NULL);
	g_autofree char *src = write_file(f, "t.jsonl", content, strlen(content));
	g_autofree char *dest = dest_path(f, "out.json");
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = NULL;
	TldrsTefStats stats = {0};
	JsonObject *ev;
	(void)data;

	g_assert_true(tldrs_tef_write_file(
	        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-1", &stats, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(stats.events, ==, 3);
	g_assert_cmpuint(stats.refused, ==, 0);
	root = load_tef(dest);
	g_assert_cmpuint(json_array_get_length(tef_events(root)), ==, 3);
	ev = json_array_get_object_element(tef_events(root), 1);
	g_assert_cmpuint(strlen(json_object_get_string_member(ev, "huge")), ==, n);
}

/* a TEF file we wrote is a source too (get-tef on <id>.json): the same events come back */
static void
test_read_back(Fixture *f, gconstpointer data)
{
	g_autofree char *src = write_file(f, "t.jsonl", events3, strlen(events3));
	(void)data;

	for (TldrsTefFormat fmt = TLDRS_TEF_FORMAT_OBJECT; fmt <= TLDRS_TEF_FORMAT_ARRAY; fmt++) {
		g_autofree char *first = dest_path(f, "first.json");
		g_autofree char *second = dest_path(f, "second.json");
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) root1 = NULL;
		g_autoptr(JsonNode) root2 = NULL;
		g_autoptr(JsonNode) events1 = NULL;
		g_autoptr(JsonNode) events2 = NULL;
		TldrsTefStats stats = {0};

		g_assert_true(tldrs_tef_write_file(
		        src, G_MAXUINT64, first, fmt, "tr-\"1\"\n", NULL, &error));
		g_assert_no_error(error);
		g_assert_true(tldrs_tef_write_file(first,
		                                   G_MAXUINT64,
		                                   second,
		                                   TLDRS_TEF_FORMAT_OBJECT,
		                                   "tr-2",
		                                   &stats,
		                                   &error));
		g_assert_no_error(error);
		g_assert_cmpuint(stats.events, ==, 3);
		g_assert_cmpuint(stats.refused, ==, 0);
		root1 = load_tef(first);
		root2 = load_tef(second);
		events1 = json_node_init_array(json_node_alloc(), tef_events(root1));
		events2 = json_node_init_array(json_node_alloc(), tef_events(root2));
		g_assert_true(json_node_equal(events1, events2));
	}

	/* one event per line with a ',' after it, as our TEF files have */
	{
		const char *content = "[\n{\"a\":1},\n{\"a\":2} ,\r\n{\"a\":3}\n]\n";
		g_autofree char *other = write_file(f, "commas.json", content, strlen(content));
		g_autofree char *dest = dest_path(f, "out.json");
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) root = NULL;
		TldrsTefStats stats = {0};
		g_assert_true(tldrs_tef_write_file(
		        other, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_ARRAY, "x", &stats, &error));
		g_assert_no_error(error);
		root = load_tef(dest);
		g_assert_cmpuint(json_array_get_length(tef_events(root)), ==, 3);
		g_assert_cmpuint(stats.events, ==, 3);
		g_assert_cmpuint(stats.refused, ==, 0);
	}
}

static void
test_source_limit(Fixture *f, gconstpointer data)
{
	const char *content = "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n";
	g_autofree char *src = write_file(f, "t.jsonl", content, strlen(content));
	g_autofree char *dest = dest_path(f, "out.json");
	gsize two = strlen("{\"n\":1}\n{\"n\":2}\n");
	(void)data;

	for (guint64 limit = two; limit <= strlen(content) + 1; limit++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) root = NULL;
		TldrsTefStats stats = {0};
		/* the last line without its '\n' is still a whole event */
		guint want = limit >= strlen(content) - 1 ? 3 : 2;

		g_assert_true(tldrs_tef_write_file(
		        src, limit, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-1", &stats, &error));
		g_assert_no_error(error);
		root = load_tef(dest);
		g_assert_cmpuint(json_array_get_length(tef_events(root)), ==, want);
		g_assert_cmpuint(stats.events, ==, want);
		/* a line cut by the limit is left out, never half-written */
		g_assert_cmpuint(
		        stats.refused, ==, (limit > two && limit < strlen(content) - 1) ? 1 : 0);
	}
}

static void
test_gzip_source(Fixture *f, gconstpointer data)
{
	g_autofree char *src = g_build_filename(f->dir, "t.jsonl.gz", NULL);
	g_autofree char *dest = dest_path(f, "out.json");
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = NULL;
	TldrsTefStats stats = {0};
	JsonArray *events;
	gzFile gz;
	(void)data;

	/* two members, the second appended as the gzip sink would */
	for (guint m = 0; m < 2; m++) {
		gz = gzopen(src, m == 0 ? "wb" : "ab");
		g_assert_nonnull(gz);
		for (guint i = 0; i < 1000; i++) {
			g_autofree char *line = g_strdup_printf("{\"m\":%u,\"i\":%u}\n", m, i);
			g_assert_cmpint(gzputs(gz, line), ==, (int)strlen(line));
		}
		g_assert_cmpint(gzputs(gz, "not json\n"), >, 0);
		g_assert_cmpint(gzclose(gz), ==, Z_OK);
	}

	g_assert_true(tldrs_tef_write_file(
	        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-gz", &stats, &error));
	g_assert_no_error(error);
	root = load_tef(dest);
	events = tef_events(root);
	g_assert_cmpuint(json_array_get_length(events), ==, 2000);
	g_assert_cmpint(
	        json_object_get_int_member(json_array_get_object_element(events, 1999), "m"),
	        ==,
	        1);
	g_assert_cmpint(
	        json_object_get_int_member(json_array_get_object_element(events, 1999), "i"),
	        ==,
	        999);
	g_assert_cmpuint(stats.events, ==, 2000);
	g_assert_cmpuint(stats.refused, ==, 2);
}

static void
test_missing_directory(Fixture *f, gconstpointer data)
{
	g_autofree char *src = write_file(f, "t.jsonl", events3, strlen(events3));
	g_autofree char *missing = g_build_filename(f->dir, "no-such-dir", NULL);
	g_autofree char *dest = g_build_filename(missing, "out.json", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree char *listing = NULL;
	(void)data;

	g_assert_false(tldrs_tef_write_file(
	        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-1", NULL, &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
	g_assert_nonnull(strstr(error->message, missing));
	g_assert_false(g_file_test(missing, G_FILE_TEST_EXISTS));
	listing = list_dir(f->dir);
	g_assert_cmpstr(listing, ==, "t.jsonl");
}

static void
test_no_temp_file_left(Fixture *f, gconstpointer data)
{
	g_autofree char *src = write_file(f, "t.jsonl", events3, strlen(events3));
	g_autofree char *outdir = g_build_filename(f->dir, "out", NULL);
	g_autofree char *dest = g_build_filename(outdir, "trace.json", NULL);
	g_autofree char *missing = g_build_filename(f->dir, "missing.jsonl", NULL);
	(void)data;

	g_assert_cmpint(g_mkdir(outdir, 0755), ==, 0);

	/* success */
	{
		g_autoptr(GError) error = NULL;
		g_autofree char *listing = NULL;
		g_assert_true(tldrs_tef_write_file(
		        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-1", NULL, &error));
		g_assert_no_error(error);
		listing = list_dir(outdir);
		g_assert_cmpstr(listing, ==, "trace.json");
	}
	/* success, replacing an existing file */
	{
		g_autoptr(GError) error = NULL;
		g_autofree char *listing = NULL;
		g_autoptr(JsonNode) root = NULL;
		g_file_set_contents(dest, "old", -1, &error);
		g_assert_no_error(error);
		g_assert_true(tldrs_tef_write_file(
		        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_ARRAY, "tr-1", NULL, &error));
		g_assert_no_error(error);
		listing = list_dir(outdir);
		g_assert_cmpstr(listing, ==, "trace.json");
		root = load_tef(dest);
		g_assert_cmpuint(json_array_get_length(tef_events(root)), ==, 3);
	}
	g_assert_cmpint(g_unlink(dest), ==, 0);

	/* failure: the source is missing */
	{
		g_autoptr(GError) error = NULL;
		g_autofree char *listing = NULL;
		g_assert_false(tldrs_tef_write_file(
		        missing, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-1", NULL, &error));
		g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
		g_assert_nonnull(strstr(error->message, missing));
		listing = list_dir(outdir);
		g_assert_cmpstr(listing, ==, "");
	}
	/* failure: the source cannot be read */
	{
		g_autoptr(GError) error = NULL;
		g_autofree char *listing = NULL;
		g_assert_false(tldrs_tef_write_file(
		        outdir, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-1", NULL, &error));
		g_assert_nonnull(error);
		listing = list_dir(outdir);
		g_assert_cmpstr(listing, ==, "");
	}
	/* failure: the destination is a directory that cannot be replaced */
	{
		g_autoptr(GError) error = NULL;
		g_autofree char *listing = NULL;
		g_autofree char *inner = g_build_filename(dest, "keep", NULL);
		g_assert_cmpint(g_mkdir(dest, 0755), ==, 0);
		g_assert_true(g_file_set_contents(inner, "x", -1, NULL));
		g_assert_false(tldrs_tef_write_file(
		        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-1", NULL, &error));
		g_assert_nonnull(error);
		g_assert_nonnull(strstr(error->message, dest));
		listing = list_dir(outdir);
		g_assert_cmpstr(listing, ==, "trace.json");
		g_assert_true(g_file_test(inner, G_FILE_TEST_IS_REGULAR));
	}
}

static void
test_file_mode(Fixture *f, gconstpointer data)
{
	g_autofree char *src = write_file(f, "t.jsonl", events3, strlen(events3));
	g_autofree char *dest = dest_path(f, "out.json");
	g_autoptr(GError) error = NULL;
	mode_t old = umask(022);
	GStatBuf sb;
	(void)data;

	g_assert_true(tldrs_tef_write_file(
	        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-1", NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_stat(dest, &sb), ==, 0);
	g_assert_cmpint(sb.st_mode & 07777, ==, 0644);
	g_assert_true(S_ISREG(sb.st_mode));

	/* the user's umask is honoured, not overridden */
	umask(077);
	g_assert_true(tldrs_tef_write_file(
	        src, G_MAXUINT64, dest, TLDRS_TEF_FORMAT_OBJECT, "tr-1", NULL, &error));
	g_assert_no_error(error);
	g_assert_cmpint(g_stat(dest, &sb), ==, 0);
	g_assert_cmpint(sb.st_mode & 07777, ==, 0600);
	umask(old);
}

typedef struct {
	guint calls;
	guint64 last_done;
	guint64 last_total;
} Progress;

static void
progress_cb(guint64 done, guint64 total, gpointer user_data)
{
	Progress *p = user_data;
	g_assert_cmpuint(done, >=, p->last_done);
	p->calls++;
	p->last_done = done;
	p->last_total = total;
}

static void
test_write_fd(Fixture *f, gconstpointer data)
{
	g_autoptr(GString) content = g_string_new(NULL);
	g_autofree char *src = NULL;
	g_autofree char *dest = dest_path(f, "fd-out.json");
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = NULL;
	TldrsTefStats stats = {0};
	Progress p = {0};
	GStatBuf sb;
	int fd;
	(void)data;

	/* a few MiB, so output is written in several chunks */
	for (guint i = 0; i < 60000; i++)
		g_string_append_printf(
		        content,
		        "{\"name\":\"event "
		        "%u\",\"ph\":\"X\",\"ts\":%u,\"dur\":1,\"pid\":1,\"tid\":1}\n",
		        i,
		        i);
	src = write_file(f, "big.jsonl", content->str, content->len);

	fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	g_assert_cmpint(fd, >=, 0);
	g_assert_true(tldrs_tef_write_fd(src,
	                                 G_MAXUINT64,
	                                 fd,
	                                 "fd-out",
	                                 TLDRS_TEF_FORMAT_OBJECT,
	                                 "tr-fd",
	                                 NULL,
	                                 progress_cb,
	                                 &p,
	                                 &stats,
	                                 &error));
	g_assert_no_error(error);
	/* the caller's fd stays open */
	g_assert_cmpint(fcntl(fd, F_GETFD), >=, 0);
	close(fd);

	root = load_tef(dest);
	g_assert_cmpuint(json_array_get_length(tef_events(root)), ==, 60000);
	g_assert_cmpuint(stats.events, ==, 60000);
	g_assert_cmpint(g_stat(dest, &sb), ==, 0);
	g_assert_cmpuint(stats.bytes, ==, (guint64)sb.st_size);
	g_assert_cmpuint(p.calls, >=, 2);
	g_assert_cmpuint(p.last_done, ==, content->len);
	g_assert_cmpuint(p.last_total, ==, content->len);
}

static void
test_write_fd_error(Fixture *f, gconstpointer data)
{
	g_autofree char *src = write_file(f, "t.jsonl", events3, strlen(events3));
	g_autoptr(GError) error = NULL;
	TldrsTefStats stats = {7, 7, 7};
	int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
	(void)data;

	if (fd < 0) {
		g_test_skip("no /dev/full");
		return;
	}
	g_assert_false(tldrs_tef_write_fd(src,
	                                  G_MAXUINT64,
	                                  fd,
	                                  "the-output",
	                                  TLDRS_TEF_FORMAT_OBJECT,
	                                  "tr-1",
	                                  NULL,
	                                  NULL,
	                                  NULL,
	                                  &stats,
	                                  &error));
	g_assert_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
	g_assert_nonnull(strstr(error->message, "the-output"));
	close(fd);
}

static void
assert_json_string(const char *in, const char *want)
{
	g_autoptr(GString) out = g_string_new("x=");
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *wrapped = NULL;

	tldrs_tef_append_json_string(out, in);
	g_assert_true(g_str_has_prefix(out->str, "x="));
	g_assert_cmpstr(out->str + 2, ==, want);

	/* and it reads back as the same string, by both parsers */
	wrapped = g_strdup_printf("{\"s\":%s}", out->str + 2);
	g_assert_true(tldrs_json_check_object(wrapped, strlen(wrapped), NULL, NULL));
	g_assert_true(json_parser_load_from_data(parser, wrapped, -1, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(json_object_get_string_member(
	                        json_node_get_object(json_parser_get_root(parser)), "s"),
	                ==,
	                in);
}

static void
test_append_json_string(void)
{
	assert_json_string("", "\"\"");
	assert_json_string("tr-1", "\"tr-1\"");
	assert_json_string("a\"b", "\"a\\\"b\"");
	assert_json_string("a\\b", "\"a\\\\b\"");
	assert_json_string("\\\"", "\"\\\\\\\"\"");
	assert_json_string("\n\t\r", "\"\\u000a\\u0009\\u000d\"");
	assert_json_string("\x01\x1f", "\"\\u0001\\u001f\"");
	assert_json_string(" \x7f", "\" \x7f\"");
	assert_json_string("/", "\"/\"");
	assert_json_string("caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
}

static void
test_append_json_string_invalid_utf8(void)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree char *wrapped = NULL;

	tldrs_tef_append_json_string(out, "a\xff\xc3(b");
	wrapped = g_strdup_printf("{\"s\":%s}", out->str);
	g_assert_true(tldrs_json_check_object(wrapped, strlen(wrapped), NULL, NULL));
}

static void
test_format_from_string(void)
{
	const char *bad[] = {"", "Object", "ARRAY", "arrays", "object ", " array", "json", NULL};
	TldrsTefFormat fmt = TLDRS_TEF_FORMAT_ARRAY;

	g_assert_true(tldrs_tef_format_from_string("object", &fmt));
	g_assert_cmpint(fmt, ==, TLDRS_TEF_FORMAT_OBJECT);
	g_assert_true(tldrs_tef_format_from_string("array", &fmt));
	g_assert_cmpint(fmt, ==, TLDRS_TEF_FORMAT_ARRAY);
	for (guint i = 0; bad[i] != NULL; i++) {
		fmt = (TldrsTefFormat)42;
		g_assert_false(tldrs_tef_format_from_string(bad[i], &fmt));
		g_assert_cmpint(fmt, ==, 42);
	}
	fmt = (TldrsTefFormat)42;
	g_assert_false(tldrs_tef_format_from_string(NULL, &fmt));
	g_assert_cmpint(fmt, ==, 42);

	g_assert_cmpstr(tldrs_tef_format_to_string(TLDRS_TEF_FORMAT_OBJECT), ==, "object");
	g_assert_cmpstr(tldrs_tef_format_to_string(TLDRS_TEF_FORMAT_ARRAY), ==, "array");
}

/* what a daemon vouches for, as the daemon's TEF jobs are given it */
static TldrsChecked *test_checked;

static void
vouch_for(const char *path)
{
	TldrsCheckedFile file;
	GStatBuf st;
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	tldrs_checked_file_from_stat(&file, &st);
	tldrs_checked_vouch(test_checked, path, &file);
}

static char *
tef_of(const char *src, guint64 limit, const char *dest, TldrsTefStats *stats)
{
	g_autoptr(GError) error = NULL;
	char *contents = NULL;
	g_assert_true(tldrs_tef_write_file_full(src,
	                                        limit,
	                                        dest,
	                                        TLDRS_TEF_FORMAT_OBJECT,
	                                        "tr-v",
	                                        test_checked,
	                                        NULL,
	                                        NULL,
	                                        stats,
	                                        &error));
	g_assert_no_error(error);
	g_file_get_contents(dest, &contents, NULL, &error);
	g_assert_no_error(error);
	return contents;
}

/* the lines of a file the daemon vouches for are copied as they are, byte for byte what
 * checking them gives, whatever the buffer boundaries (a line longer than the input buffer,
 * a limit inside a line); a change to the file ends the trust */
static void
test_checked_lines(Fixture *f, gconstpointer data)
{
	g_autoptr(GString) in = g_string_new(NULL);
	g_autofree char *src = NULL;
	g_autofree char *dest = dest_path(f, "out.json");
	g_autofree char *plain = NULL;
	g_autofree char *copied = NULL;
	g_autofree char *cut_plain = NULL;
	g_autofree char *cut_copied = NULL;
	g_autofree char *changed = NULL;
	TldrsTefStats st0 = {0}, st1 = {0};
	guint64 cut;
	int fd;
	(void)data;

	for (guint i = 0; i < 20000; i++) {
		g_string_append_printf(
		        in, "{\"ph\":\"i\",\"n\":%u,\"s\":\"%*s\"}\n", i, i % 97, "");
		if (i == 7000) {
			/* longer than the reader's buffer */
			g_string_append(in, "{\"long\":\"");
			for (guint k = 0; k < TLDRS_READER_CHUNK + 40000; k++)
				g_string_append_c(in, 'a' + (char)(k % 26));
			g_string_append(in, "\"}\n");
		}
	}
	src = write_file(f, "tr-v.jsonl", in->str, in->len);
	plain = tef_of(src, G_MAXUINT64, dest, &st0);
	vouch_for(src);
	copied = tef_of(src, G_MAXUINT64, dest, &st1);
	g_assert_cmpstr(plain, ==, copied);
	g_assert_cmpuint(st0.events, ==, 20001);
	g_assert_cmpuint(st1.events, ==, 20001);
	g_assert_cmpuint(st1.refused, ==, 0);

	/* a limit inside a line: that line is cut, and left out either way */
	cut = in->len / 2 + 17;
	tldrs_checked_vouch(test_checked, src, NULL);
	cut_plain = tef_of(src, cut, dest, &st0);
	vouch_for(src);
	cut_copied = tef_of(src, cut, dest, &st1);
	g_assert_cmpstr(cut_plain, ==, cut_copied);
	g_assert_cmpuint(st0.refused, ==, st1.refused);
	g_assert_cmpuint(st0.events, ==, st1.events);
	g_assert_cmpuint(st1.refused, ==, 1);

	/* the proof that vouched lines are not checked: a bad line in a vouched file is copied
	 * (only ever so for a file the daemon itself wrote) ... */
	fd = g_open(src, O_WRONLY | O_APPEND, 0);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, "{\"bad\":}\n", 9), ==, 9);
	close(fd);
	vouch_for(src);
	changed = tef_of(src, G_MAXUINT64, dest, &st1);
	g_assert_nonnull(strstr(changed, "{\"bad\":}"));
	g_assert_cmpuint(st1.events, ==, 20002);
	/* ... and a file changed since (here: replaced) is checked again */
	g_assert_true(g_file_set_contents(src, in->str, (gssize)in->len, NULL));
	g_clear_pointer(&changed, g_free);
	changed = tef_of(src, G_MAXUINT64, dest, &st1);
	g_assert_cmpstr(changed, ==, plain);
	fd = g_open(src, O_WRONLY | O_APPEND, 0);
	g_assert_cmpint(write(fd, "{\"bad\":}\n", 9), ==, 9);
	close(fd);
	g_clear_pointer(&changed, g_free);
	changed = tef_of(src, G_MAXUINT64, dest, &st1);
	g_assert_null(strstr(changed, "{\"bad\":}"));
	g_assert_cmpuint(st1.refused, ==, 1);
	tldrs_checked_vouch(test_checked, src, NULL);
}

/* the copy of vouched lines against the plain rule it implements (every non-empty line is
 * an event, as it is; events joined by ",\n"), for lines of every length around the 64-byte
 * blocks it works in, several in a block, empty ones, and '\n' at each block edge */
static void
test_checked_lines_shapes(Fixture *f, gconstpointer data)
{
	g_autofree char *dest = dest_path(f, "out.json");
	(void)data;

	for (guint round = 0; round < 40; round++) {
		g_autoptr(GString) in = g_string_new(NULL);
		g_autoptr(GString) want = g_string_new("{\"traceEvents\":[\n");
		g_autofree char *src = NULL;
		g_autofree char *got = NULL;
		TldrsTefStats st = {0};
		guint64 events = 0;
		guint n_lines = round < 20 ? 3000 : 300;

		for (guint i = 0; i < n_lines; i++) {
			/* short, block-sized and long lines; now and then an empty one */
			guint len = round % 4 == 0   ? i % 200
			            : round % 4 == 1 ? (guint)g_test_rand_int_range(0, 8)
			            : round % 4 == 2 ? (guint)g_test_rand_int_range(60, 70)
			                             : (guint)g_test_rand_int_range(0, 700);
			gsize start = in->len;
			if (len == 0) {
				g_string_append_c(in, '\n');
				continue;
			}
			/* not JSON: vouched lines are copied, not looked at */
			for (guint k = 0; k < len; k++)
				g_string_append_c(in, (char)('a' + (i + k) % 26));
			g_string_append_c(in, '\n');
			if (events++ > 0)
				g_string_append(want, ",\n");
			g_string_append_len(want, in->str + start, len);
		}
		src = write_file(f, "shapes.jsonl", in->str, in->len);
		vouch_for(src);
		got = tef_of(src, G_MAXUINT64, dest, &st);
		tldrs_checked_vouch(test_checked, src, NULL);
		g_string_append(want, "\n],");
		g_assert_cmpuint(st.events, ==, events);
		g_assert_cmpuint(st.refused, ==, 0);
		g_assert_cmpuint(strlen(got), >=, want->len);
		if (memcmp(got, want->str, want->len) != 0) {
			gsize at = 0;
			while (got[at] == want->str[at])
				at++;
			g_error("round %u: the copy differs at byte %" G_GSIZE_FORMAT
			        " of %" G_GSIZE_FORMAT,
			        round,
			        at,
			        want->len);
		}
	}
}

int
main(int argc, char **argv)
{
	g_autoptr(TldrsChecked) checked = tldrs_checked_new();
	g_test_init(&argc, &argv, NULL);
	test_checked = checked;

#define ADD(name, func)                                                                            \
	g_test_add("/tldrs/tef/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)
	ADD("object-format", test_object_format);
	ADD("array-format", test_array_format);
	ADD("trace-id-escaping", test_trace_id_escaping);
	ADD("trace-id-invalid-utf8", test_trace_id_invalid_utf8);
	ADD("empty-source", test_empty_source);
	ADD("refused-lines", test_refused_lines);
	ADD("long-event", test_long_event);
	ADD("read-back", test_read_back);
	ADD("source-limit", test_source_limit);
	ADD("gzip-source", test_gzip_source);
	ADD("missing-directory", test_missing_directory);
	ADD("no-temp-file-left", test_no_temp_file_left);
	ADD("file-mode", test_file_mode);
	ADD("write-fd", test_write_fd);
	ADD("write-fd-error", test_write_fd_error);
	ADD("checked-lines", test_checked_lines);
	ADD("checked-lines-shapes", test_checked_lines_shapes);
#undef ADD
	g_test_add_func("/tldrs/tef/append-json-string", test_append_json_string);
	g_test_add_func("/tldrs/tef/append-json-string-invalid-utf8",
	                test_append_json_string_invalid_utf8);
	g_test_add_func("/tldrs/tef/format-from-string", test_format_from_string);

	return g_test_run();
}
