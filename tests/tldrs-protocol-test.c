/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#include <string.h>

#include "tldrs-protocol.h"

/* a string literal and its length, embedded NULs included */
#define L(s) s, sizeof(s) - 1

/* parse an exactly-sized heap copy, so ASan sees any read past the end; *copy keeps it alive
 * because out->data points into it */
static void
parse(const char *line, gsize len, char **copy, TldrsLine *out)
{
	*copy = g_malloc(MAX(len, 1));
	memcpy(*copy, line, len);
	memset(out, 0xaa, sizeof(*out));
	tldrs_protocol_parse_line(*copy, len, out);
	/* data always lies within the parsed buffer */
	g_assert_true(out->data >= *copy);
	g_assert_cmpuint(out->len, <=, len);
	g_assert_true(out->data + out->len <= *copy + len);
}

static void
assert_kind(const char *line, gsize len, TldrsLineKind kind, const char *arg)
{
	g_autofree char *copy = NULL;
	g_autofree char *esc = g_strescape(line, NULL);
	TldrsLine out;

	parse(line, len, &copy, &out);
	if (out.kind != kind) {
		g_error("\"%s\": expected %s, got %s (%s)",
		        esc,
		        tldrs_protocol_kind_to_string(kind),
		        tldrs_protocol_kind_to_string(out.kind),
		        out.reason);
	}
	g_assert_null(out.reason);
	if (arg != NULL) {
		g_autofree char *got = g_strndup(out.data, out.len);
		g_assert_cmpstr(got, ==, arg);
	}
}

static void
assert_refused(const char *line, gsize len, const char *reason)
{
	g_autofree char *copy = NULL;
	g_autofree char *esc = g_strescape(line, NULL);
	TldrsLine out;

	parse(line, len, &copy, &out);
	if (out.kind != TLDRS_LINE_REFUSED)
		g_error("\"%s\": expected refused, got %s",
		        esc,
		        tldrs_protocol_kind_to_string(out.kind));
	g_assert_nonnull(out.reason);
	if (reason != NULL)
		g_assert_cmpstr(out.reason, ==, reason);
}

static void
test_open(void)
{
	assert_kind(L("OPEN tr-1"), TLDRS_LINE_OPEN, "tr-1");
	assert_kind(L("OPEN tr-1\n"), TLDRS_LINE_OPEN, "tr-1");
	assert_kind(L("OPEN tr-1\r\n"), TLDRS_LINE_OPEN, "tr-1");
	assert_kind(L("  \tOPEN \t  tr-1 \t\r\n"), TLDRS_LINE_OPEN, "tr-1");
	assert_kind(L("OPEN\ttr-1"), TLDRS_LINE_OPEN, "tr-1");
	/* a space inside the id is kept: only the ends are trimmed */
	assert_kind(L("OPEN a b"), TLDRS_LINE_OPEN, "a b");
	assert_kind(L("OPEN tr-1732550000-5f2a0123456789abcdef0123456789ab"),
	            TLDRS_LINE_OPEN,
	            "tr-1732550000-5f2a0123456789abcdef0123456789ab");
	/* the same connection may OPEN again: each line stands alone */
	assert_kind(L("OPEN first\n"), TLDRS_LINE_OPEN, "first");
	assert_kind(L("OPEN   second   \r\n"), TLDRS_LINE_OPEN, "second");
	assert_kind(L("OPEN \t third"), TLDRS_LINE_OPEN, "third");

	assert_refused(L("OPEN"), "OPEN without a trace id");
	assert_refused(L("OPEN   \r\n"), "OPEN without a trace id");
	assert_refused(L("OPEN ../etc"), "trace id starts with '.'");
	assert_refused(L("OPEN a/b"), "trace id contains '/'");
	assert_refused(L("OPEN a\x01z"), "trace id contains a control character");
	assert_refused(L("OPEN a\tb"), "trace id contains a control character");
	assert_refused(L("OPEN a\nb"), "trace id contains a control character");
	assert_refused(L("OPEN a\0b"), NULL);
	assert_refused(L("OPEN \xff\xfe"), "trace id is not valid UTF-8");
	assert_refused(L("OPENX tr-1"), "unknown command");
	assert_refused(L("OPENtr-1"), "unknown command");
	assert_refused(L("open tr-1"), "unknown command");
}

static void
test_emit_tef(void)
{
	assert_kind(L("EMIT_TEF /tmp/out.json"), TLDRS_LINE_EMIT_TEF, "/tmp/out.json");
	assert_kind(L("EMIT_TEF /tmp/out.json\r\n"), TLDRS_LINE_EMIT_TEF, "/tmp/out.json");
	assert_kind(L(" EMIT_TEF\t /tmp/a b.json  "), TLDRS_LINE_EMIT_TEF, "/tmp/a b.json");
	assert_kind(
	        L("EMIT_TEF /tmp/caf\xc3\xa9.json"), TLDRS_LINE_EMIT_TEF, "/tmp/caf\xc3\xa9.json");
	assert_kind(
	        L("EMIT_TEF_AT_EXIT /tmp/out.json"), TLDRS_LINE_EMIT_TEF_AT_EXIT, "/tmp/out.json");
	assert_kind(L("\tEMIT_TEF_AT_EXIT  /tmp/out.json \r\n"),
	            TLDRS_LINE_EMIT_TEF_AT_EXIT,
	            "/tmp/out.json");

	assert_refused(L("EMIT_TEF"), "EMIT_TEF without a path");
	assert_refused(L("EMIT_TEF  \r\n"), "EMIT_TEF without a path");
	assert_refused(L("EMIT_TEF_AT_EXIT"), "EMIT_TEF_AT_EXIT without a path");
	assert_refused(L("EMIT_TEF_AT_EXIT \t "), "EMIT_TEF_AT_EXIT without a path");
	assert_refused(L("EMIT_TEF /tmp/a\0b"), "path is not valid UTF-8 text");
	assert_refused(L("EMIT_TEF /tmp/\xff"), "path is not valid UTF-8 text");
	assert_refused(L("EMIT_TEF_AT_EXIT /tmp/\xc3"), "path is not valid UTF-8 text");
	assert_refused(L("EMIT_TEFX /tmp/out.json"), "unknown command");
	assert_refused(L("EMIT_TEF_AT_EXITX /tmp/out.json"), "unknown command");
	assert_refused(L("EMIT_TEF_AT /tmp/out.json"), "unknown command");

	assert_kind(L("AWAIT_TEF /tmp/a b.json\r\n"), TLDRS_LINE_AWAIT_TEF, "/tmp/a b.json");
	assert_refused(L("AWAIT_TEF"), "AWAIT_TEF without a path");
	assert_refused(L("AWAIT_TEF /tmp/\xc3"), "path is not valid UTF-8 text");
	assert_refused(L("AWAIT_TEFX /tmp/out.json"), "unknown command");
}

static void
test_die(void)
{
	assert_kind(L("DIE"), TLDRS_LINE_DIE, NULL);
	assert_kind(L("DIE\n"), TLDRS_LINE_DIE, NULL);
	assert_kind(L("DIE\r\n"), TLDRS_LINE_DIE, NULL);
	assert_kind(L(" \tDIE \t"), TLDRS_LINE_DIE, NULL);
	assert_kind(L("DIE_WHEN_IDLE"), TLDRS_LINE_DIE_WHEN_IDLE, NULL);
	assert_kind(L("DIE_WHEN_IDLE\r\n"), TLDRS_LINE_DIE_WHEN_IDLE, NULL);
	assert_kind(L("  DIE_WHEN_IDLE  "), TLDRS_LINE_DIE_WHEN_IDLE, NULL);

	assert_refused(L("DIE now"), "DIE takes no argument");
	assert_refused(L("DIE\tnow\r\n"), "DIE takes no argument");
	assert_refused(L("DIE_WHEN_IDLE x"), "DIE_WHEN_IDLE takes no argument");
	assert_refused(L("DIENOW"), "unknown command");
	assert_refused(L("DIE_WHEN_IDLEX"), "unknown command");
	assert_refused(L("DIE_WHEN"), "unknown command");
	assert_refused(L("die"), "unknown command");
}

static void
test_empty(void)
{
	assert_kind(L(""), TLDRS_LINE_EMPTY, "");
	assert_kind(L("\n"), TLDRS_LINE_EMPTY, "");
	assert_kind(L("\r\n"), TLDRS_LINE_EMPTY, "");
	assert_kind(L(" \t \r\n"), TLDRS_LINE_EMPTY, "");
	assert_kind(L("\t\t\t"), TLDRS_LINE_EMPTY, "");
}

static void
test_events(void)
{
	assert_kind(L("{}"), TLDRS_LINE_EVENT, "{}");
	assert_kind(L("{\"ph\":\"X\",\"ts\":1.5,\"dur\":2,\"pid\":1,\"tid\":2,\"name\":\"a\"}"),
	            TLDRS_LINE_EVENT,
	            "{\"ph\":\"X\",\"ts\":1.5,\"dur\":2,\"pid\":1,\"tid\":2,\"name\":\"a\"}");
	assert_kind(L("  {\"a\":[1,{\"b\":null}]}\t\r\n"),
	            TLDRS_LINE_EVENT,
	            "{\"a\":[1,{\"b\":null}]}");
	assert_kind(L("{\"name\":\"caf\xc3\xa9 \\u00e9\"}\n"),
	            TLDRS_LINE_EVENT,
	            "{\"name\":\"caf\xc3\xa9 \\u00e9\"}");

	assert_refused(L("{"), "unexpected end of line");
	assert_refused(L("{\"a\":1"), "unexpected end of line");
	assert_refused(L("{\"a\":1 2}"), "expected ',' or '}'");
	assert_refused(L("{\"a\":1}}"), "trailing data after object");
	assert_refused(L("{\"a\":1} x"), "trailing data after object");
	assert_refused(L("{\"a\":01}"), "invalid number");
	assert_refused(L("{\"a\":\"\x01\"}"), "control character in string");
	assert_refused(L("{\"a\":\"\xff\"}"), "invalid UTF-8");
	assert_refused(L("{\"a\":\"\\q\"}"), "invalid escape");
	assert_refused(L("{\"a\":tru}"), "invalid literal");
	assert_refused(L("{\"a\":\"x}"), "unterminated string");
	assert_refused(L("{a:1}"), NULL);
	assert_refused(L("{\"a\":1}\0"), NULL);
	/* the reference only checked the first and last byte */
	assert_refused(L("{\"a\":1,}"), NULL);
	assert_refused(L("{\"a\" 1}"), "expected ':'");
}

static void
test_not_object(void)
{
	assert_refused(L("[1,2]"), "not a JSON object");
	assert_refused(L("[{\"a\":1}]"), "not a JSON object");
	assert_refused(L("\"string\""), "not a JSON object");
	assert_refused(L("42"), "unknown command");
	assert_refused(L("null"), "unknown command");
	assert_refused(L("true"), "unknown command");
	assert_refused(L("}"), "unknown command");
	assert_refused(L("hello world"), "unknown command");
	assert_refused(L("\x01"), "unknown command");
	assert_refused(L("\0OPEN x"), "unknown command");
}

static void
assert_id(const char *id, gsize len, const char *want_reason)
{
	g_autofree char *copy = g_malloc(MAX(len, 1));
	const char *reason = (const char *)0x1;
	gboolean ok;

	memcpy(copy, id, len);
	ok = tldrs_protocol_check_trace_id(copy, len, &reason);
	if (want_reason == NULL) {
		g_assert_true(ok);
		g_assert_null(reason);
	} else {
		g_assert_false(ok);
		g_assert_cmpstr(reason, ==, want_reason);
	}
	/* the reason is optional */
	g_assert_cmpint(tldrs_protocol_check_trace_id(copy, len, NULL), ==, ok);
}

/* docs/protocol.md: a trace id with a control character is refused; U+0080..U+009F are
 * control characters (Cc) too */
static void
test_trace_id_c1_control(void)
{
	assert_id(L("a\xc2\x85"
	            "b"),
	          "trace id contains a control character");
	assert_id(L("a\xc2\x9b"
	            "31m"),
	          "trace id contains a control character");
	assert_id(L("\xc2\x80"), "trace id contains a control character");
}

static void
test_trace_id(void)
{
	g_autofree char *max = g_strnfill(TLDRS_TRACE_ID_MAX, 'a');
	g_autofree char *over = g_strnfill(TLDRS_TRACE_ID_MAX + 1, 'a');
	/* 100 two-byte characters: 200 bytes */
	GString *utf8 = g_string_new(NULL);
	g_autofree char *utf8_max = NULL;
	g_autofree char *utf8_over = NULL;

	for (guint i = 0; i < 100; i++)
		g_string_append(utf8, "\xc3\xa9");
	utf8_max = g_strdup(utf8->str);
	g_string_append_c(utf8, 'x');
	utf8_over = g_string_free(utf8, FALSE);

	assert_id(L("tr-1732550000-5f2a0123456789abcdef0123456789ab"), NULL);
	assert_id(L("a"), NULL);
	assert_id(L("a.b..c"), NULL);
	assert_id(L("a b"), NULL);
	assert_id(L("trace~1"), NULL);
	assert_id(L("caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80"), NULL);
	assert_id(max, TLDRS_TRACE_ID_MAX, NULL);
	assert_id(utf8_max, strlen(utf8_max), NULL);

	assert_id("", 0, "empty trace id");
	assert_id(over, TLDRS_TRACE_ID_MAX + 1, "trace id longer than 200 bytes");
	assert_id(utf8_over, strlen(utf8_over), "trace id longer than 200 bytes");
	assert_id(L("."), "trace id starts with '.'");
	assert_id(L(".."), "trace id starts with '.'");
	assert_id(L(".hidden"), "trace id starts with '.'");
	assert_id(L("/"), "trace id contains '/'");
	assert_id(L("/etc/passwd"), "trace id contains '/'");
	assert_id(L("a/../b"), "trace id contains '/'");
	assert_id(L("a/"), "trace id contains '/'");
	assert_id(L("a\x01"), "trace id contains a control character");
	assert_id(L("a\x1f"), "trace id contains a control character");
	assert_id(L("a\tb"), "trace id contains a control character");
	assert_id(L("a\nb"), "trace id contains a control character");
	assert_id(L("a\rb"), "trace id contains a control character");
	assert_id(L("a\x7f"), "trace id contains a control character");
	assert_id(L("a\x1b[31m"), "trace id contains a control character");
	assert_id(L("\xff"), "trace id is not valid UTF-8");
	assert_id(L("a\xc3"), "trace id is not valid UTF-8");
	assert_id(L("\xc0\xaf"), "trace id is not valid UTF-8");
	assert_id(L("\xed\xa0\x80"), "trace id is not valid UTF-8");
	/* NUL is refused, whichever reason says so */
	{
		const char *reason = NULL;
		g_assert_false(tldrs_protocol_check_trace_id(L("a\0b"), &reason));
		g_assert_nonnull(reason);
		g_assert_false(tldrs_protocol_check_trace_id(L("\0"), &reason));
		g_assert_false(tldrs_protocol_check_trace_id(L("ab\0"), &reason));
	}
	/* only len bytes are looked at */
	assert_id("abc/def", 3, NULL);
}

/* one line of printable ASCII, no backslash that isn't an escape */
static void
assert_printable(const char *s)
{
	for (const char *p = s; *p != '\0'; p++)
		g_assert_true(*p >= 0x20 && *p < 0x7f);
}

static char *
excerpt(const char *line, gsize len)
{
	g_autofree char *copy = g_malloc(MAX(len, 1));
	char *result;

	memcpy(copy, line, len);
	result = tldrs_protocol_excerpt(copy, len);
	g_assert_nonnull(result);
	assert_printable(result);
	return result;
}

static void
test_excerpt(void)
{
	g_autofree char *e1 = excerpt(L("{\"a\":1}"));
	g_autofree char *e2 = excerpt(L(""));
	g_autofree char *e3 = excerpt(L("a\nb\r\tc\x01\x7f\\d"));
	g_autofree char *e4 = excerpt(L("caf\xc3\xa9\xff"));
	g_autofree char *e5 = excerpt(L("a\0b"));
	g_autofree char *long_line = g_strnfill(100000, 'x');
	g_autofree char *e6 = excerpt(long_line, 100000);
	g_autofree char *at_60 = g_strnfill(60, 'y');
	g_autofree char *e7 = excerpt(at_60, 60);
	g_autofree char *at_61 = g_strnfill(61, 'y');
	g_autofree char *e8 = excerpt(at_61, 61);
	g_autofree char *nasty = g_strnfill(5000, '\n');
	g_autofree char *e9 = excerpt(nasty, 5000);
	g_autofree char *prefix = NULL;

	g_assert_cmpstr(e1, ==, "{\"a\":1}");
	g_assert_cmpstr(e2, ==, "");
	g_assert_cmpstr(e3, ==, "a\\x0ab\\x0d\\x09c\\x01\\x7f\\x5cd");
	g_assert_cmpstr(e4, ==, "caf\\xc3\\xa9\\xff");
	g_assert_cmpstr(e5, ==, "a\\x00b");

	/* long lines: a bounded prefix and the total length */
	g_assert_cmpuint(strlen(e6), <, 200);
	g_assert_true(g_str_has_prefix(e6, "xxxxxxxxxx"));
	g_assert_true(g_str_has_suffix(e6, "... (100000 bytes)"));
	prefix = g_strnfill(60, 'x');
	g_assert_true(g_str_has_prefix(e6, prefix));
	g_assert_cmpstr(e7, ==, at_60);
	g_assert_true(g_str_has_suffix(e8, "... (61 bytes)"));
	g_assert_cmpuint(strlen(e8), ==, 60 + strlen("... (61 bytes)"));
	/* escaping keeps it bounded too */
	g_assert_cmpuint(strlen(e9), <=, 4 * 60 + 32);
	g_assert_true(g_str_has_prefix(e9, "\\x0a\\x0a"));
	g_assert_true(g_str_has_suffix(e9, "... (5000 bytes)"));
}

static void
test_kind_to_string(void)
{
	g_assert_cmpstr(tldrs_protocol_kind_to_string(TLDRS_LINE_EMPTY), ==, "empty");
	g_assert_cmpstr(tldrs_protocol_kind_to_string(TLDRS_LINE_EVENT), ==, "event");
	g_assert_cmpstr(tldrs_protocol_kind_to_string(TLDRS_LINE_OPEN), ==, "OPEN");
	g_assert_cmpstr(tldrs_protocol_kind_to_string(TLDRS_LINE_EMIT_TEF), ==, "EMIT_TEF");
	g_assert_cmpstr(
	        tldrs_protocol_kind_to_string(TLDRS_LINE_EMIT_TEF_AT_EXIT), ==, "EMIT_TEF_AT_EXIT");
	g_assert_cmpstr(tldrs_protocol_kind_to_string(TLDRS_LINE_DIE), ==, "DIE");
	g_assert_cmpstr(
	        tldrs_protocol_kind_to_string(TLDRS_LINE_DIE_WHEN_IDLE), ==, "DIE_WHEN_IDLE");
	g_assert_cmpstr(tldrs_protocol_kind_to_string(TLDRS_LINE_REFUSED), ==, "refused");
}

/* every prefix of every line parses without reading past the end, and classifies sanely */
static void
test_prefixes(void)
{
	const char *lines[] = {
	        "OPEN tr-1\r\n",
	        "EMIT_TEF_AT_EXIT /tmp/x.json\r\n",
	        "DIE_WHEN_IDLE\r\n",
	        " {\"a\":[1,2,{\"b\":\"\\u00e9\"}]} \r\n",
	};
	for (guint i = 0; i < G_N_ELEMENTS(lines); i++) {
		gsize n = strlen(lines[i]);
		for (gsize k = 0; k <= n; k++) {
			g_autofree char *copy = NULL;
			TldrsLine out;
			parse(lines[i], k, &copy, &out);
			g_assert_cmpint(out.kind, <=, TLDRS_LINE_REFUSED);
			g_assert_true((out.kind == TLDRS_LINE_REFUSED) == (out.reason != NULL));
		}
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/tldrs/protocol/open", test_open);
	g_test_add_func("/tldrs/protocol/emit-tef", test_emit_tef);
	g_test_add_func("/tldrs/protocol/die", test_die);
	g_test_add_func("/tldrs/protocol/empty", test_empty);
	g_test_add_func("/tldrs/protocol/events", test_events);
	g_test_add_func("/tldrs/protocol/not-object", test_not_object);
	g_test_add_func("/tldrs/protocol/prefixes", test_prefixes);
	g_test_add_func("/tldrs/protocol/trace-id", test_trace_id);
	g_test_add_func("/tldrs/protocol/trace-id-c1-control", test_trace_id_c1_control);
	g_test_add_func("/tldrs/protocol/excerpt", test_excerpt);
	g_test_add_func("/tldrs/protocol/kind-to-string", test_kind_to_string);

	return g_test_run();
}
