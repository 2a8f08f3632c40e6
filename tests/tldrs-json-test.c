/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#include <json-glib/json-glib.h>
#include <string.h>

#include "tldrs-json.h"
#include "tldrs-linecheck.h"

/* a string literal and its length, embedded NULs included */
#define L(s) s, sizeof(s) - 1

/* don't check the offset */
#define ANY_OFFSET G_MAXSIZE

typedef struct {
	const char *data;
	gsize len;
} ValidCase;

typedef struct {
	const char *data;
	gsize len;
	gsize offset;
	const char *reason;
} InvalidCase;

/* printable form of a line for failure messages, cut to a sensible length */
static char *
describe(const char *data, gsize len)
{
	g_autofree char *copy = g_strndup(data, MIN(len, 300));
	g_autofree char *esc = g_strescape(copy, NULL);
	return g_strdup_printf(
	        "\"%s\"%s (len %" G_GSIZE_FORMAT ")", esc, len > 300 ? "..." : "", len);
}

/* what tldrs_json_check_lines_fast() may say of data (ending with '\n'), line by line:
 * every line a plain event (tldrs_line_is_plain_event()); *n_lines: how many */
static gboolean
ref_check_lines(const char *data, gsize len, gsize max_line, guint *n_lines)
{
	const char *p = data;
	const char *end = data + len;

	*n_lines = 0;
	if (len == 0 || data[len - 1] != '\n')
		return FALSE;
	while (p < end) {
		const char *nl = memchr(p, '\n', (gsize)(end - p));
		gsize n = (gsize)(nl - p);
		if (!tldrs_line_is_plain_event(p, n, max_line))
			return FALSE;
		(*n_lines)++;
		p = nl + 1;
	}
	return TRUE;
}

/* the fast check of lines on an exactly-sized heap copy of data: never sure of lines the
 * exact validator refuses, and counts them right; returns whether it was sure */
static gboolean
check_lines_copy(const char *data, gsize len, gsize max_line)
{
	g_autofree char *copy = g_malloc(MAX(len, 1));
	guint n_fast = 0;
	guint n_ref = 0;
	gboolean fast;
	gboolean ref;

	memcpy(copy, data, len);
	fast = tldrs_json_check_lines_fast(copy, len, max_line, &n_fast);
	ref = ref_check_lines(copy, len, max_line, &n_ref);
	if (fast && !ref) {
		g_autofree char *desc = describe(data, len);
		g_error("the fast check of lines accepts %s (max_line %" G_GSIZE_FORMAT ")",
		        desc,
		        max_line);
	}
	if (fast)
		g_assert_cmpuint(n_fast, ==, n_ref);
	return fast;
}

/* the line as a line of its own and among others, with MaxLineBytes around its length: the
 * fast check of lines agrees with the exact validator, and is sure wherever the fast path
 * is sure of the line itself */
static void
check_as_lines(const char *line, gsize len)
{
	static const char before[] = "{\"ph\":\"i\",\"ts\":1}\n";
	static const char after[] = "{}\n";
	g_autoptr(GString) alone = g_string_new_len(line, (gssize)len);
	g_autoptr(GString) among = g_string_new(before);
	gboolean plain = len >= 2 && line[0] == '{' && line[len - 1] == '}' &&
	                 memchr(line, '\n', len) == NULL && tldrs_json_check_object_fast(line, len);

	g_string_append_c(alone, '\n');
	g_string_append_len(among, line, (gssize)len);
	g_string_append_c(among, '\n');
	g_string_append(among, after);
	if (!check_lines_copy(alone->str, alone->len, G_MAXSIZE) && plain) {
		g_autofree char *desc = describe(line, len);
		g_error("the fast check of lines is not sure of %s", desc);
	}
	if (!check_lines_copy(among->str, among->len, MAX(len, sizeof(before) - 2)) && plain) {
		g_autofree char *desc = describe(line, len);
		g_error("the fast check of lines is not sure of %s among others", desc);
	}
	if (len > sizeof(before) - 2)
		check_lines_copy(among->str, among->len, len - 1);
}

/* run the validator on an exactly-sized heap copy, so ASan sees any read past the end; and
 * the fast check of lines on the line as a line */
static gboolean
check_copy(const char *data, gsize len, gsize *offset, const char **reason)
{
	g_autofree char *copy = g_malloc(MAX(len, 1));
	gboolean ok;

	memcpy(copy, data, len);
	if (len == 0) {
		/* g_malloc(1) leaves a byte past the end; use the end of a one-byte block instead
		 */
		ok = tldrs_json_check_object(copy + 1, 0, offset, reason);
	} else {
		gboolean exact = tldrs_json_check_object_exact(copy, len, NULL, NULL);
		/* the fast path is never sure of a line the exact validator refuses */
		if (tldrs_json_check_object_fast(copy, len) && !exact) {
			g_autofree char *desc = describe(data, len);
			g_error("the fast path accepts %s", desc);
		}
		ok = tldrs_json_check_object(copy, len, offset, reason);
		g_assert_cmpint(ok, ==, exact);
		check_as_lines(data, len);
	}
	return ok;
}

static void
assert_valid(const char *data, gsize len)
{
	gsize offset = 0;
	const char *reason = NULL;

	if (!check_copy(data, len, &offset, &reason)) {
		g_autofree char *desc = describe(data, len);
		g_error("expected valid: %s, got \"%s\" at %" G_GSIZE_FORMAT, desc, reason, offset);
	}
}

static void
assert_invalid(const char *data, gsize len, gsize want_offset, const char *want_reason)
{
	gsize offset = G_MAXSIZE;
	const char *reason = NULL;
	g_autofree char *desc = describe(data, len);

	if (check_copy(data, len, &offset, &reason))
		g_error("expected invalid: %s", desc);
	g_assert_nonnull(reason);
	g_assert_cmpuint(offset, <=, len);
	if (g_strcmp0(reason, want_reason) != 0 ||
	    (want_offset != ANY_OFFSET && offset != want_offset)) {
		g_error("%s: expected \"%s\" at %" G_GSIZE_FORMAT
		        ", got \"%s\" at %" G_GSIZE_FORMAT,
		        desc,
		        want_reason,
		        want_offset,
		        reason,
		        offset);
	}
	/* NULL out-parameters are allowed */
	g_assert_false(tldrs_json_check_object(data, len, NULL, NULL));
}

static void
run_valid_cases(const ValidCase *cases, gsize n)
{
	for (gsize i = 0; i < n; i++)
		assert_valid(cases[i].data, cases[i].len);
}

static void
run_invalid_cases(const InvalidCase *cases, gsize n)
{
	for (gsize i = 0; i < n; i++)
		assert_invalid(cases[i].data, cases[i].len, cases[i].offset, cases[i].reason);
}

#define TEF_EVENT                                                                                  \
	"{\"ph\":\"X\",\"name\":\"compile foo.c\",\"cat\":\"build\",\"ts\":1732550000123456,"      \
	"\"dur\":1234,\"pid\":4242,\"tid\": 7,\"args\":{\"file\":\"src/foo.c\",\"n\":3}}"

static void
test_valid_basic(void)
{
	static const ValidCase cases[] = {
	        {L("{}")},
	        {L(" {} ")},
	        {L("{}\r")},
	        {L("{}\r\n")},
	        {L("{}\n")},
	        {L("\t\r\n {\t\r\n }\t\r\n ")},
	        {L(TEF_EVENT)},
	        {L(TEF_EVENT "\r")},
	        {L("{\"tid\": 0}")},
	        {L("{\"tid\" :0}")},
	        {L("{ \"tid\" : 0 }")},
	        {L("{\"tid\":\t0\t}")},
	        {L("{\"a\":1,\"b\":2}")},
	        {L("{\"a\" : 1 , \"b\" : 2}")},
	        {L("{\"\":\"\"}")},
	        {L("{\"a\":\"b\",\"a\":\"dup keys are allowed by the grammar\"}")},
	        {L("{\"a\":[]}")},
	        {L("{\"a\":[ ]}")},
	        {L("{\"a\":{}}")},
	        {L("{\"a\":{ }}")},
	        {L("{\"a\":[[],[{}],{\"b\":[1,[2,[3]]]}]}")},
	        {L("{\"a\":[1,\"x\",true,false,null,{},[],-0.5e+3]}")},
	        {L("{\"a\":{\"b\":{\"c\":{\"d\":null}}}}")},
	        {L("{\"a\":true,\"b\":false,\"c\":null}")},
	        {L("{\"a\":[true,false,null]}")},
	        {L("{\"del\":\"\x7f\"}")},
	        {L("{\"long\":\"abcdefghijklmnopqrstuvwxyz0123456789 "
	           "ABCDEFGHIJKLMNOPQRSTUVWXYZ\"}")},
	        {L("{\"k\":\"12345678\",\"l\":\"1234567\",\"m\":\"123456789\"}")},
	};
	run_valid_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_valid_escapes(void)
{
	static const ValidCase cases[] = {
	        {L("{\"e\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"}")},
	        {L("{\"e\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}")},
	        {L("{\"e\":\"\\u0041\\u00e9\\u00E9\\uFFFF\\uffff\\u0000\\u001f\"}")},
	        {L("{\"e\":\"\\uD7FF\\uE000\"}")},
	        {L("{\"e\":\"\\ud83d\\ude00\"}")},
	        {L("{\"e\":\"\\uD83D\\uDE00\"}")},
	        {L("{\"e\":\"\\uD800\\uDC00\\uDBFF\\uDFFF\"}")},
	        {L("{\"e\":\"x\\ud83d\\ude00y\"}")},
	        {L("{\"\\u0041\\n\":1}")},
	        {L("{\"e\":\"0123456\\\"0123456\\\\0123456\\n\"}")},
	};
	run_valid_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_valid_utf8(void)
{
	static const ValidCase cases[] = {
	        {L("{\"u\":\"\xc2\x80\"}")},                     /* U+0080 */
	        {L("{\"u\":\"\xdf\xbf\"}")},                     /* U+07FF */
	        {L("{\"u\":\"\xe0\xa0\x80\"}")},                 /* U+0800 */
	        {L("{\"u\":\"\xed\x9f\xbf\"}")},                 /* U+D7FF */
	        {L("{\"u\":\"\xee\x80\x80\"}")},                 /* U+E000 */
	        {L("{\"u\":\"\xef\xbf\xbf\"}")},                 /* U+FFFF */
	        {L("{\"u\":\"\xf0\x90\x80\x80\"}")},             /* U+10000 */
	        {L("{\"u\":\"\xf3\xbf\xbf\xbf\"}")},             /* U+FFFFF */
	        {L("{\"u\":\"\xf4\x8f\xbf\xbf\"}")},             /* U+10FFFF */
	        {L("{\"\xc3\xa9t\xc3\xa9\":\"\xe2\x82\xac\"}")}, /* key "été", value "€" */
	        {L("{\"u\":\"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 long tail "
	           "text\"}")},
	        {L("{\"u\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"}")},
	};
	run_valid_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_valid_numbers(void)
{
	static const char *numbers[] = {
	        "0",
	        "-0",
	        "1",
	        "-1",
	        "10",
	        "1234567890",
	        "1.5",
	        "-0.0",
	        "0.000001",
	        "0e0",
	        "0E+1",
	        "1e-10",
	        "1E10",
	        "-1.25e+308",
	        "2.5E-3",
	        "1e0001",
	        "9007199254740993",
	        "123456789012345678901234567890",
	        "1732550000123456",
	};
	for (gsize i = 0; i < G_N_ELEMENTS(numbers); i++) {
		g_autofree char *obj = g_strdup_printf("{\"n\":%s}", numbers[i]);
		g_autofree char *arr =
		        g_strdup_printf("{\"n\":[%s, %s ,%s]}", numbers[i], numbers[i], numbers[i]);
		assert_valid(obj, strlen(obj));
		assert_valid(arr, strlen(arr));
	}
}

static void
test_invalid_structure(void)
{
	static const InvalidCase cases[] = {
	        {L(""), 0, "empty line"},
	        {L(" "), 0, "empty line"},
	        {L(" \t\r\n "), 0, "empty line"},
	        {L("[]"), 0, "not a JSON object"},
	        {L("1"), 0, "not a JSON object"},
	        {L("\"s\""), 0, "not a JSON object"},
	        {L(" null"), 1, "not a JSON object"},
	        {L("}"), 0, "not a JSON object"},
	        {L("\f{}"), 0, "not a JSON object"},
	        {L("\v{}"), 0, "not a JSON object"},
	        {L("\xef\xbb\xbf{}"), 0, "not a JSON object"}, /* byte order mark */
	        {L("{} x"), 3, "trailing data after object"},
	        {L("{}{}"), 2, "trailing data after object"},
	        {L("{},"), 2, "trailing data after object"},
	        {L("{\"a\":1}}"), 7, "trailing data after object"},
	        {L("{}\f"), 2, "trailing data after object"},
	        {L("{}\xc3\xa9"), 2, "trailing data after object"},
	        {L("{"), 1, "unexpected end of line"},
	        {L("{ "), 2, "unexpected end of line"},
	        {L("{\"a\""), 4, "unexpected end of line"},
	        {L("{\"a\":"), 5, "unexpected end of line"},
	        {L("{\"a\":1"), 6, "unexpected end of line"},
	        {L("{\"a\":1,"), 7, "unexpected end of line"},
	        {L("{\"a\":["), 6, "unexpected end of line"},
	        {L("{\"a\":[1,"), 8, "unexpected end of line"},
	        {L("{\"a\":{}"), 7, "unexpected end of line"},
	        {L("{\"a\":tr"), 7, "unexpected end of line"},
	        {L("{\"a\" 1}"), 5, "expected ':'"},
	        {L("{\"a\",1}"), 4, "expected ':'"},
	        {L("{\"a\"=1}"), 4, "expected ':'"},
	        {L("{\"a\":1 \"b\":2}"), 7, "expected ',' or '}'"},
	        {L("{\"a\":1;\"b\":2}"), 6, "expected ',' or '}'"},
	        {L("{\"a\":\"x\"]"), 8, "expected ',' or '}'"},
	        {L("{\"a\":[1 2]}"), 8, "expected ',' or ']'"},
	        {L("{\"a\":[1}"), 7, "expected ',' or ']'"},
	        {L("{\"a\":1,}"), 7, "expected string key"},
	        {L("{,}"), 1, "expected string key"},
	        {L("{a:1}"), 1, "expected string key"},
	        {L("{1:1}"), 1, "expected string key"},
	        {L("{'a':1}"), 1, "expected string key"},
	        {L("{\"a\":{]}"), 6, "expected string key"},
	        {L("{\"a\":[1,]}"), 8, "expected value"},
	        {L("{\"a\":[,1]}"), 6, "expected value"},
	        {L("{\"a\":}"), 5, "expected value"},
	        {L("{\"a\":'x'}"), 5, "expected value"},
	        {L("{\"a\":[}"), 6, "expected value"},
	        {L("{\"a\":/*c*/1}"), 5, "expected value"},
	        {L("{\"a\":\xc3\xa9}"), 5, "expected value"},
	        {L("{\"a\":1}\xff"), 7, "invalid UTF-8"},
	        {L("\xff{}"), 0, "invalid UTF-8"},
	        {L("{\xc0\x80}"), 1, "invalid UTF-8"},
	        {L("{\"a\":\x80}"), 5, "invalid UTF-8"},
	};
	run_invalid_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_invalid_numbers(void)
{
	static const InvalidCase cases[] = {
	        {L("{\"a\":01}"), 6, "invalid number"},
	        {L("{\"a\":00}"), 6, "invalid number"},
	        {L("{\"a\":-01}"), 7, "invalid number"},
	        {L("{\"a\":+1}"), 5, "invalid number"},
	        {L("{\"a\":.5}"), 5, "invalid number"},
	        {L("{\"a\":-.5}"), 6, "invalid number"},
	        {L("{\"a\":1.}"), 7, "invalid number"},
	        {L("{\"a\":1.e5}"), 7, "invalid number"},
	        {L("{\"a\":1e}"), 7, "invalid number"},
	        {L("{\"a\":1E}"), 7, "invalid number"},
	        {L("{\"a\":1e+}"), 8, "invalid number"},
	        {L("{\"a\":1e-}"), 8, "invalid number"},
	        {L("{\"a\":1e+-1}"), 8, "invalid number"},
	        {L("{\"a\":-}"), 6, "invalid number"},
	        {L("{\"a\":--1}"), 6, "invalid number"},
	        {L("{\"a\":-a}"), 6, "invalid number"},
	        {L("{\"a\":- 1}"), 6, "invalid number"},
	        {L("{\"a\":1.2.3}"), 8, "invalid number"},
	        {L("{\"a\":1e5.0}"), 8, "invalid number"},
	        {L("{\"a\":1e5e5}"), 8, "invalid number"},
	        {L("{\"a\":1-2}"), 6, "invalid number"},
	        {L("{\"a\":0x10}"), 6, "invalid number"},
	        {L("{\"a\":12abc}"), 7, "invalid number"},
	        {L("{\"a\":-Infinity}"), 6, "invalid number"},
	        {L("{\"a\":NaN}"), 5, "expected value"},
	        {L("{\"a\":Infinity}"), 5, "expected value"},
	        {L("{\"a\":-"), 6, "invalid number"},
	        {L("{\"a\":1."), 7, "invalid number"},
	        {L("{\"a\":1e"), 7, "invalid number"},
	        {L("{\"a\":1e+"), 8, "invalid number"},
	};
	run_invalid_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_invalid_literals(void)
{
	static const InvalidCase cases[] = {
	        {L("{\"a\":tru}"), 5, "invalid literal"},
	        {L("{\"a\":trUe}"), 5, "invalid literal"},
	        {L("{\"a\":truex}"), 9, "invalid literal"},
	        {L("{\"a\":true1}"), 9, "invalid literal"},
	        {L("{\"a\":nul}"), 5, "invalid literal"},
	        {L("{\"a\":nulll}"), 9, "invalid literal"},
	        {L("{\"a\":fals}"), 5, "invalid literal"},
	        {L("{\"a\":falsey}"), 10, "invalid literal"},
	        {L("{\"a\":True}"), 5, "expected value"},
	        {L("{\"a\":NULL}"), 5, "expected value"},
	        {L("{\"a\":undefined}"), 5, "expected value"},
	        {L("{\"a\":nu"), 7, "unexpected end of line"},
	        {L("{\"a\":fa"), 7, "unexpected end of line"},
	        {L("{\"a\":nx"), 5, "invalid literal"},
	};
	run_invalid_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_invalid_strings(void)
{
	static const InvalidCase cases[] = {
	        {L("{\"a\":\"x"), 5, "unterminated string"},
	        {L("{\"a\":\"0123456789abcdef"), 5, "unterminated string"},
	        {L("{\"a"), 1, "unterminated string"},
	        {L("{\""), 1, "unterminated string"},
	        {L("{\"a\":\"\\"), 5, "unterminated string"},
	        {L("{\"a\":\"\\\"}"), 5, "unterminated string"},
	        {L("{\"a\":\"\\u12"), 5, "unterminated string"},
	        {L("{\"a\":\"\\ud83d"), 5, "unterminated string"},
	        {L("{\"a\":\"\\ud83d\\"), 5, "unterminated string"},
	        {L("{\"a\":\"\\ud83d\\ude"), 5, "unterminated string"},
	        {L("{\"a\":\"\\x\"}"), 6, "invalid escape"},
	        {L("{\"a\":\"\\'\"}"), 6, "invalid escape"},
	        {L("{\"a\":\"\\a\"}"), 6, "invalid escape"},
	        {L("{\"a\":\"\\0\"}"), 6, "invalid escape"},
	        {L("{\"a\":\"\\U0041\"}"), 6, "invalid escape"},
	        {L("{\"a\":\"\\ \"}"), 6, "invalid escape"},
	        {L("{\"a\":\"\\\xc3\xa9\"}"), 6, "invalid escape"},
	        {L("{\"a\":\"\\u00G1\"}"), 6, "invalid escape"},
	        {L("{\"a\":\"\\u12\"}"), 6, "invalid escape"},
	        {L("{\"a\":\"\\u-123\"}"), 6, "invalid escape"},
	        {L("{\"a\":\"\\ud800\\uZZZZ\"}"), 12, "invalid escape"},
	        {L("{\"a\":\"\\ud800\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"a\":\"\\udbff\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"a\":\"\\udc00\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"a\":\"\\uDFFF\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"a\":\"\\ud800\\u0041\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"a\":\"\\ud800\\ud800\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"a\":\"\\ud800\\ue000\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"a\":\"\\ud800x\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"a\":\"\\ud800\\n\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"a\":\"\\ude00\\ud83d\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"a\":\"\\udcff\\udc00\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"a\":\"\\udfff\\udfff\"}"), 6, "unpaired surrogate escape"},
	        {L("{\"\\udc00\":1}"), 2, "unpaired surrogate escape"},
	        {L("{\"a\":\"x\ty\"}"), 7, "control character in string"},
	        {L("{\"a\":\"x\ny\"}"), 7, "control character in string"},
	        {L("{\"a\":\"x\ry\"}"), 7, "control character in string"},
	        {L("{\"a\":\"\x01\"}"), 6, "control character in string"},
	        {L("{\"a\":\"\x1f\"}"), 6, "control character in string"},
	        {L("{\"a\":\"0123456789\x1f\"}"), 16, "control character in string"},
	        {L("{\"\x1b[0m\":1}"), 2, "control character in string"},
	};
	run_invalid_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_embedded_nul(void)
{
	static const InvalidCase cases[] = {
	        {L("{\"a\":\"x\0y\"}"), 7, "control character in string"},
	        {L("{\"a\":\"0123456789\0abcdef\"}"), 16, "control character in string"},
	        {L("{\"\0\":1}"), 2, "control character in string"},
	        {L("{}\0"), 2, "trailing data after object"},
	        {L("{\0}"), 1, "expected string key"},
	        {L("\0{}"), 0, "not a JSON object"},
	        {L("{\"a\":1\0}"), 6, "expected ',' or '}'"},
	        {L("{\"a\"\0:1}"), 4, "expected ':'"},
	        {L("{\"a\":\0}"), 5, "expected value"},
	        {L("{\"a\":tr\0e}"), 5, "invalid literal"},
	        {L("{\"a\":1\0"), 6, "expected ',' or '}'"},
	        {L("\0"), 0, "not a JSON object"},
	};
	run_invalid_cases(cases, G_N_ELEMENTS(cases));
}

static void
test_invalid_utf8(void)
{
	/* each is put inside a string value (offset 6), inside a key (offset 2), after 13 ASCII
	 * bytes of a string value for the eight-byte path (offset 19), and at the end of the line
	 */
	static const struct {
		const char *bytes;
		gsize len;
		gsize skip; /* valid bytes before the bad one */
	} bad[] = {
	        {L("\x80"), 0}, /* lone continuation bytes */
	        {L("\xbf"), 0},
	        {L("\x80\x80"), 0},
	        {L("\xc0\x80"), 0},     /* overlong NUL */
	        {L("\xc1\xbf"), 0},     /* overlong 2-byte */
	        {L("\xc0\xaf"), 0},     /* overlong '/' */
	        {L("\xe0\x80\x80"), 0}, /* overlong 3-byte */
	        {L("\xe0\x9f\xbf"), 0},
	        {L("\xf0\x80\x80\x80"), 0}, /* overlong 4-byte */
	        {L("\xf0\x8f\xbf\xbf"), 0},
	        {L("\xed\xa0\x80"), 0},             /* U+D800 */
	        {L("\xed\xbf\xbf"), 0},             /* U+DFFF */
	        {L("\xed\xa0\xbd\xed\xb8\x80"), 0}, /* CESU-8 surrogate pair */
	        {L("\xf4\x90\x80\x80"), 0},         /* U+110000 */
	        {L("\xf5\x80\x80\x80"), 0},
	        {L("\xf7\xbf\xbf\xbf"), 0},
	        {L("\xf8\x88\x80\x80\x80"), 0},     /* 5-byte form */
	        {L("\xfc\x84\x80\x80\x80\x80"), 0}, /* 6-byte form */
	        {L("\xfe"), 0},
	        {L("\xff"), 0},
	        {L("\xc3"), 0}, /* truncated sequences */
	        {L("\xe2\x82"), 0},
	        {L("\xf0\x9f\x98"), 0},
	        {L("\xc3\x28"), 0}, /* bad continuation bytes */
	        {L("\xc3\xc3\xa9"), 0},
	        {L("\xe2\x28\xa1"), 0},
	        {L("\xe2\x82\x28"), 0},
	        {L("\xf0\x28\x8c\xbc"), 0},
	        {L("\xf0\x90\x28\xbc"), 0},
	        {L("\xf0\x9f\x98\x28"), 0},
	        {L("\xe2\x82\xac\xe2\x82"), 3}, /* good then truncated: offset + 3 */
	};
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		gsize skip = bad[i].skip;
		g_autoptr(GString) val = g_string_new("{\"a\":\"");
		g_autoptr(GString) key = g_string_new("{\"");
		g_autoptr(GString) lng = g_string_new("{\"a\":\"0123456789abc");
		g_autoptr(GString) end = g_string_new("{\"a\":\"");

		g_string_append_len(val, bad[i].bytes, bad[i].len);
		g_string_append(val, "\"}");
		assert_invalid(val->str, val->len, 6 + skip, "invalid UTF-8");

		g_string_append_len(key, bad[i].bytes, bad[i].len);
		g_string_append(key, "\":1}");
		assert_invalid(key->str, key->len, 2 + skip, "invalid UTF-8");

		g_string_append_len(lng, bad[i].bytes, bad[i].len);
		g_string_append(lng, "0123456789abcdef\"}");
		assert_invalid(lng->str, lng->len, 19 + skip, "invalid UTF-8");

		/* the line ends right after the bytes */
		g_string_append_len(end, bad[i].bytes, bad[i].len);
		assert_invalid(end->str, end->len, 6 + skip, "invalid UTF-8");
	}
}

static void
test_depth(void)
{
	g_autoptr(GString) arrays = g_string_new("{\"a\":");
	g_autoptr(GString) objects = g_string_new(NULL);
	g_autoptr(GString) too_deep_arrays = NULL;
	g_autoptr(GString) too_deep_objects = NULL;

	/* exactly TLDRS_JSON_MAX_DEPTH containers, the outer object included */
	for (guint i = 0; i < TLDRS_JSON_MAX_DEPTH - 1; i++)
		g_string_append_c(arrays, '[');
	for (guint i = 0; i < TLDRS_JSON_MAX_DEPTH - 1; i++)
		g_string_append_c(arrays, ']');
	g_string_append_c(arrays, '}');
	assert_valid(arrays->str, arrays->len);

	for (guint i = 0; i < TLDRS_JSON_MAX_DEPTH - 1; i++)
		g_string_append(objects, "{\"a\":");
	g_string_append(objects, "{}");
	for (guint i = 0; i < TLDRS_JSON_MAX_DEPTH - 1; i++)
		g_string_append_c(objects, '}');
	assert_valid(objects->str, objects->len);

	/* one more */
	too_deep_arrays = g_string_new("{\"a\":");
	for (guint i = 0; i < TLDRS_JSON_MAX_DEPTH; i++)
		g_string_append_c(too_deep_arrays, '[');
	for (guint i = 0; i < TLDRS_JSON_MAX_DEPTH; i++)
		g_string_append_c(too_deep_arrays, ']');
	g_string_append_c(too_deep_arrays, '}');
	assert_invalid(too_deep_arrays->str,
	               too_deep_arrays->len,
	               5 + TLDRS_JSON_MAX_DEPTH - 1,
	               "nesting too deep");

	too_deep_objects = g_string_new(NULL);
	for (guint i = 0; i < TLDRS_JSON_MAX_DEPTH; i++)
		g_string_append(too_deep_objects, "{\"a\":");
	g_string_append(too_deep_objects, "{}");
	for (guint i = 0; i < TLDRS_JSON_MAX_DEPTH; i++)
		g_string_append_c(too_deep_objects, '}');
	assert_invalid(too_deep_objects->str,
	               too_deep_objects->len,
	               5 * TLDRS_JSON_MAX_DEPTH,
	               "nesting too deep");

	/* several maximal-depth excursions with mixed container kinds: the stack bits matter */
	{
		g_autoptr(GString) mixed = g_string_new("{");
		for (guint round = 0; round < 3; round++) {
			if (round > 0)
				g_string_append_c(mixed, ',');
			g_string_append(mixed, "\"r\":");
			for (guint i = 0; i < TLDRS_JSON_MAX_DEPTH - 1; i++)
				g_string_append(mixed, (i + round) % 3 == 0 ? "{\"k\":" : "[");
			g_string_append(mixed, "1");
			for (guint i = TLDRS_JSON_MAX_DEPTH - 1; i-- > 0;)
				g_string_append(mixed, (i + round) % 3 == 0 ? "}" : ",0]");
		}
		g_string_append_c(mixed, '}');
		assert_valid(mixed->str, mixed->len);
	}
}

/* every strict prefix of a valid line is refused, and no byte past it is read */
static void
test_truncated(void)
{
	static const char *lines[] = {
	        TEF_EVENT,
	        "{\"a\":[1,-2.5e+10,true,false,null,{\"b\":\"\\ud83d\\ude00\\n\"}],\"c\":{}}",
	        "{\"u\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac\",\"n\":0,\"x\":-0.0}",
	        " { \"tid\" : 0 , \"e\" : [ ] } ",
	        "{\"k\":\"\\u0041\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"z\":[[[[]]]]}",
	};
	for (gsize i = 0; i < G_N_ELEMENTS(lines); i++) {
		gsize len = strlen(lines[i]);
		gsize full = len;

		/* trailing whitespace isn't needed for validity */
		while (full > 0 && lines[i][full - 1] == ' ')
			full--;
		assert_valid(lines[i], len);
		for (gsize cut = 0; cut < full; cut++) {
			gsize offset = G_MAXSIZE;
			const char *reason = NULL;
			if (check_copy(lines[i], cut, &offset, &reason))
				g_error("prefix %" G_GSIZE_FORMAT " of line %" G_GSIZE_FORMAT
				        " was accepted",
				        cut,
				        i);
			g_assert_nonnull(reason);
			g_assert_cmpuint(offset, <=, cut);
		}
	}
}

static void
test_null_data(void)
{
	gsize offset = 99;
	const char *reason = NULL;

	g_assert_false(tldrs_json_check_object(NULL, 0, &offset, &reason));
	g_assert_cmpuint(offset, ==, 0);
	g_assert_cmpstr(reason, ==, "empty line");
}

/*
 * A deliberately simple, recursive reference validator, used as an oracle for random lines:
 * it must agree with tldrs_json_check_object() on every input.
 */

typedef struct {
	const guchar *p;
	const guchar *end;
	guint depth;
} RefParser;

static gboolean
ref_value(RefParser *r);

static void
ref_ws(RefParser *r)
{
	while (r->p < r->end && strchr(" \t\r\n", *r->p) != NULL && *r->p != '\0')
		r->p++;
}

static gboolean
ref_eat(RefParser *r, guchar c)
{
	if (r->p < r->end && *r->p == c) {
		r->p++;
		return TRUE;
	}
	return FALSE;
}

static gint
ref_hex4(RefParser *r)
{
	gint v = 0;
	for (guint i = 0; i < 4; i++) {
		if (r->p >= r->end || !g_ascii_isxdigit(*r->p))
			return -1;
		v = v * 16 + g_ascii_xdigit_value(*r->p);
		r->p++;
	}
	return v;
}

static gboolean
ref_string(RefParser *r)
{
	if (!ref_eat(r, '"'))
		return FALSE;
	for (;;) {
		guchar c;
		if (r->p >= r->end)
			return FALSE;
		c = *r->p++;
		if (c == '"')
			return TRUE;
		if (c < 0x20)
			return FALSE;
		if (c != '\\')
			continue; /* UTF-8 was checked for the whole line */
		if (r->p >= r->end)
			return FALSE;
		c = *r->p++;
		if (c == 'u') {
			gint u = ref_hex4(r);
			if (u < 0)
				return FALSE;
			if (u >= 0xdc00 && u <= 0xdfff)
				return FALSE;
			if (u >= 0xd800 && u <= 0xdbff) {
				if (!ref_eat(r, '\\') || !ref_eat(r, 'u'))
					return FALSE;
				u = ref_hex4(r);
				if (u < 0xdc00 || u > 0xdfff)
					return FALSE;
			}
		} else if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
			return FALSE;
		}
	}
}

static gboolean
ref_digits(RefParser *r)
{
	const guchar *start = r->p;
	while (r->p < r->end && g_ascii_isdigit(*r->p))
		r->p++;
	return r->p > start;
}

static gboolean
ref_number(RefParser *r)
{
	ref_eat(r, '-');
	if (!ref_eat(r, '0')) {
		if (r->p >= r->end || *r->p < '1' || *r->p > '9')
			return FALSE;
		ref_digits(r);
	}
	if (ref_eat(r, '.') && !ref_digits(r))
		return FALSE;
	if (ref_eat(r, 'e') || ref_eat(r, 'E')) {
		if (!ref_eat(r, '+'))
			ref_eat(r, '-');
		if (!ref_digits(r))
			return FALSE;
	}
	return TRUE;
}

static gboolean
ref_word(RefParser *r, const char *word)
{
	gsize n = strlen(word);
	if ((gsize)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return FALSE;
	r->p += n;
	return TRUE;
}

static gboolean
ref_container(RefParser *r, gboolean object)
{
	if (++r->depth > TLDRS_JSON_MAX_DEPTH)
		return FALSE;
	r->p++;
	ref_ws(r);
	if (!ref_eat(r, object ? '}' : ']')) {
		for (;;) {
			if (object) {
				if (!ref_string(r))
					return FALSE;
				ref_ws(r);
				if (!ref_eat(r, ':'))
					return FALSE;
				ref_ws(r);
			}
			if (!ref_value(r))
				return FALSE;
			ref_ws(r);
			if (ref_eat(r, ','))
				ref_ws(r);
			else if (ref_eat(r, object ? '}' : ']'))
				break;
			else
				return FALSE;
		}
	}
	r->depth--;
	return TRUE;
}

static gboolean
ref_value(RefParser *r)
{
	if (r->p >= r->end)
		return FALSE;
	switch (*r->p) {
	case '{':
		return ref_container(r, TRUE);
	case '[':
		return ref_container(r, FALSE);
	case '"':
		return ref_string(r);
	case 't':
		return ref_word(r, "true");
	case 'f':
		return ref_word(r, "false");
	case 'n':
		return ref_word(r, "null");
	default:
		return ref_number(r);
	}
}

static gboolean
ref_check_object(const char *data, gsize len)
{
	RefParser r = {(const guchar *)data, (const guchar *)data + len, 0};

	if (!g_utf8_validate_len(data, len, NULL))
		return FALSE;
	ref_ws(&r);
	if (r.p >= r.end || *r.p != '{')
		return FALSE;
	if (!ref_value(&r))
		return FALSE;
	ref_ws(&r);
	return r.p == r.end;
}

/* random valid lines */

static void
gen_ws(GString *s)
{
	static const char ws[] = " \t\r\n";
	if (g_test_rand_int_range(0, 4) != 0)
		return;
	for (gint n = g_test_rand_int_range(1, 3); n > 0; n--)
		g_string_append_c(s, ws[g_test_rand_int_range(0, 4)]);
}

static void
gen_string(GString *s)
{
	static const char *escapes[] = {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"};
	gint n = g_test_rand_int_range(0, 24);

	g_string_append_c(s, '"');
	for (gint i = 0; i < n; i++) {
		gint kind = g_test_rand_int_range(0, 20);
		if (kind < 14) {
			/* printable ASCII, without '"' and '\\' */
			gchar c;
			do {
				c = (gchar)g_test_rand_int_range(0x20, 0x7f);
			} while (c == '"' || c == '\\');
			g_string_append_c(s, c);
		} else if (kind == 14) {
			g_string_append(s,
			                escapes[g_test_rand_int_range(0, G_N_ELEMENTS(escapes))]);
		} else if (kind == 15) {
			gint u;
			do {
				u = g_test_rand_int_range(0, 0x10000);
			} while (u >= 0xd800 && u <= 0xdfff);
			g_string_append_printf(s, g_test_rand_bit() ? "\\u%04x" : "\\u%04X", u);
		} else if (kind == 16) {
			g_string_append_printf(s,
			                       "\\u%04x\\u%04x",
			                       g_test_rand_int_range(0xd800, 0xdc00),
			                       g_test_rand_int_range(0xdc00, 0xe000));
		} else {
			/* a UTF-8 character of 2, 3 or 4 bytes */
			static const gint ranges[][2] = {{0x80, 0x800},
			                                 {0x800, 0xd800},
			                                 {0xe000, 0x10000},
			                                 {0x10000, 0x110000}};
			const gint *range = ranges[g_test_rand_int_range(0, G_N_ELEMENTS(ranges))];
			g_string_append_unichar(
			        s, (gunichar)g_test_rand_int_range(range[0], range[1]));
		}
	}
	g_string_append_c(s, '"');
}

static void
gen_digits(GString *s, gint min, gint max)
{
	for (gint n = g_test_rand_int_range(min, max + 1); n > 0; n--)
		g_string_append_c(s, (gchar)g_test_rand_int_range('0', '9' + 1));
}

static void
gen_number(GString *s)
{
	if (g_test_rand_int_range(0, 4) == 0)
		g_string_append_c(s, '-');
	if (g_test_rand_int_range(0, 5) == 0) {
		g_string_append_c(s, '0');
	} else {
		g_string_append_c(s, (gchar)g_test_rand_int_range('1', '9' + 1));
		gen_digits(s, 0, 17);
	}
	if (g_test_rand_int_range(0, 4) == 0) {
		g_string_append_c(s, '.');
		gen_digits(s, 1, 6);
	}
	if (g_test_rand_int_range(0, 6) == 0) {
		g_string_append_c(s, g_test_rand_bit() ? 'e' : 'E');
		if (g_test_rand_bit())
			g_string_append_c(s, g_test_rand_bit() ? '+' : '-');
		gen_digits(s, 1, 2);
	}
}

static void
gen_value(GString *s, guint depth);

static void
gen_container(GString *s, guint depth, gboolean object)
{
	gint n = depth > 5 ? 0 : g_test_rand_int_range(0, 6);

	g_string_append_c(s, object ? '{' : '[');
	gen_ws(s);
	for (gint i = 0; i < n; i++) {
		if (i > 0) {
			g_string_append_c(s, ',');
			gen_ws(s);
		}
		if (object) {
			gen_string(s);
			gen_ws(s);
			g_string_append_c(s, ':');
			gen_ws(s);
		}
		gen_value(s, depth + 1);
		gen_ws(s);
	}
	g_string_append_c(s, object ? '}' : ']');
}

static void
gen_value(GString *s, guint depth)
{
	switch (g_test_rand_int_range(0, 10)) {
	case 0:
	case 1:
		gen_container(s, depth, TRUE);
		break;
	case 2:
		gen_container(s, depth, FALSE);
		break;
	case 3:
	case 4:
	case 5:
		gen_string(s);
		break;
	case 6:
	case 7:
		gen_number(s);
		break;
	case 8:
		g_string_append(s, g_test_rand_bit() ? "true" : "false");
		break;
	default:
		g_string_append(s, "null");
		break;
	}
}

static GString *
gen_line(void)
{
	GString *s = g_string_new(NULL);
	gen_ws(s);
	gen_container(s, 0, TRUE);
	gen_ws(s);
	return s;
}

static gboolean
json_glib_accepts_object(const char *data, gsize len)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonNode *root;

	if (!json_parser_load_from_data(parser, data, (gssize)len, NULL))
		return FALSE;
	root = json_parser_get_root(parser);
	return root != NULL && JSON_NODE_HOLDS_OBJECT(root);
}

/* bytes that are likely to change the meaning of a line */
static guchar
random_interesting_byte(void)
{
	static const char interesting[] = "{}[],:\"\\/ \t\r\n0123456789-+.eEtfnulrsabu";
	switch (g_test_rand_int_range(0, 4)) {
	case 0:
		return (guchar)g_test_rand_int_range(0, 256);
	case 1:
		return (guchar)g_test_rand_int_range(0x80, 0x100);
	default:
		return (guchar)interesting[g_test_rand_int_range(0, sizeof(interesting) - 1)];
	}
}

static void
mutate(GString *s)
{
	for (gint n = g_test_rand_int_range(1, 3); n > 0; n--) {
		gsize pos = s->len == 0 ? 0 : (gsize)g_test_rand_int_range(0, (gint32)s->len);
		switch (g_test_rand_int_range(0, 4)) {
		case 0:
			if (s->len > 0)
				s->str[pos] = (gchar)random_interesting_byte();
			break;
		case 1: {
			gchar c = (gchar)random_interesting_byte();
			g_string_insert_len(s, (gssize)pos, &c, 1);
			break;
		}
		case 2:
			if (s->len > 0)
				g_string_erase(s, (gssize)pos, 1);
			break;
		default:
			g_string_truncate(s, pos);
			break;
		}
	}
}

static void
test_random_crosscheck(void)
{
	guint n_lines = g_test_slow() ? 50000 : 4000;
	guint n_mutants = 0;
	guint n_mutants_valid = 0;

	for (guint i = 0; i < n_lines; i++) {
		g_autoptr(GString) line = gen_line();

		/* a generated line is valid for all three */
		assert_valid(line->str, line->len);
		g_assert_true(ref_check_object(line->str, line->len));
		if (!json_glib_accepts_object(line->str, line->len)) {
			g_autofree char *desc = describe(line->str, line->len);
			g_error("json-glib refused generated line %s", desc);
		}

		/* mutants: the reference must agree exactly; json-glib is lenient (comments,
		 * single quotes, leading zeros, raw tabs...) so it need only accept what we
		 * accept */
		for (guint j = 0; j < 8; j++) {
			g_autoptr(GString) m = g_string_new_len(line->str, (gssize)line->len);
			gsize offset = G_MAXSIZE;
			const char *reason = NULL;
			gboolean ours;

			mutate(m);
			ours = check_copy(m->str, m->len, &offset, &reason);
			n_mutants++;
			if (ours != ref_check_object(m->str, m->len)) {
				g_autofree char *desc = describe(m->str, m->len);
				g_error("reference disagrees (ours: %s) on %s",
				        ours ? "valid" : reason,
				        desc);
			}
			if (ours) {
				n_mutants_valid++;
				if (!json_glib_accepts_object(m->str, m->len)) {
					g_autofree char *desc = describe(m->str, m->len);
					g_error("json-glib refused accepted mutant %s", desc);
				}
			} else {
				g_assert_nonnull(reason);
				g_assert_cmpuint(offset, <=, m->len);
			}
		}
	}
	g_test_message("%u lines, %u mutants of which %u still valid",
	               n_lines,
	               n_mutants,
	               n_mutants_valid);
}

/* random bytes from a small alphabet: mostly garbage, must agree with the reference */
static void
test_random_bytes(void)
{
	static const char alphabet[] = "{}[]\":,\\u0e1-.tfn \x80\xc3\xa9\xed\xa0\x00";
	guint n = g_test_slow() ? 200000 : 20000;

	for (guint i = 0; i < n; i++) {
		char buf[24];
		gsize len = (gsize)g_test_rand_int_range(0, sizeof(buf) + 1);
		gboolean ours;
		for (gsize j = 0; j < len; j++)
			buf[j] = alphabet[g_test_rand_int_range(0, sizeof(alphabet) - 1)];
		if (len > 0 && g_test_rand_bit())
			buf[0] = '{';
		ours = check_copy(buf, len, NULL, NULL);
		if (ours != ref_check_object(buf, len)) {
			g_autoptr(GString) hex = g_string_new(NULL);
			for (gsize j = 0; j < len; j++)
				g_string_append_printf(hex, "%02x ", (guchar)buf[j]);
			g_error("reference disagrees on random bytes %s(ours %d)", hex->str, ours);
		}
		if (ours)
			g_assert_true(json_glib_accepts_object(buf, len));
	}
}

/* every token and every fault at every position of the fast path's 64-byte blocks and across
 * its 64-token chunks: shifted by 0..130 bytes of whitespace, or by a string that long */
static void
test_fast_path_boundaries(void)
{
	static const char *const pieces[] = {
	        "\"x\"",
	        "\"\\\"\"",
	        "\"\\\\\"",
	        "\"\\/\\b\\f\\n\\r\\t\"",
	        "\"\\u00e9\"",
	        "\"\\ud83d\\ude00\"",
	        "\"caf\xc3\xa9\"",
	        "\"\xe6\x97\xa5\"",
	        "\"\xf0\x9f\x98\x80\"",
	        "0",
	        "-0",
	        "12345678901234567",
	        "-1.5e-3",
	        "2.5E+10",
	        "true",
	        "false",
	        "null",
	        "{}",
	        "[]",
	        "[1,\"a\",null]",
	        "{\"k\":[{\"m\":{}}]}",
	};
	static const char *const faults[] = {
	        "\"\\x\"",
	        "\"\\u12\"",
	        "\"\\ud83d\"",
	        "\"\xc3\"",
	        "\"\xc0\xaf\"",
	        "\"\xed\xa0\x80\"",
	        "\"\x01\"",
	        "\"\t\"",
	        "01",
	        "1.",
	        "1e",
	        "-",
	        "tru",
	        "nul",
	        "1a",
	        "[1,]",
	        "{\"a\"}",
	        "{\"a\":1,}",
	        "{\"a\":1:2}",
	        "[\"a\":1]",
	        "{\"a\",\"b\"}",
	        "{]",
	        "[}",
	        "\"x",
	        "\"x\\",
	        "\x80",
	        "/",
	        "}",
	        "{",
	        ",",
	};
	gboolean have_fast = tldrs_json_check_object_fast("{}", 2);
	guint n_fast = 0;
	guint n = 0;

	for (guint shift = 0; shift <= 130; shift++) {
		for (guint kind = 0; kind < 2; kind++) {
			for (gsize i = 0; i < G_N_ELEMENTS(pieces) + G_N_ELEMENTS(faults); i++) {
				gboolean is_fault = i >= G_N_ELEMENTS(pieces);
				const char *piece =
				        is_fault ? faults[i - G_N_ELEMENTS(pieces)] : pieces[i];
				g_autoptr(GString) s = g_string_new(NULL);

				/* kind 0: leading whitespace; kind 1: a long string value first,
				 * and as many members as shift before the piece (more tokens than
				 * one chunk of 64) */
				if (kind == 0) {
					for (guint k = 0; k < shift; k++)
						g_string_append_c(s, k % 7 == 3 ? '\t' : ' ');
					g_string_append(s, "{\"p\":");
				} else {
					g_string_append(s, "{\"s\":\"");
					for (guint k = 0; k < shift; k++)
						g_string_append_c(s, 'a' + k % 26);
					g_string_append(s, "\",\"a\":[");
					for (guint k = 0; k < shift % 40; k++)
						g_string_append(s, k % 2 ? "1," : "\"\",");
					g_string_append(s, "0],\"p\":");
				}
				g_string_append(s, piece);
				g_string_append(s, kind == 0 ? "}" : ",\"z\":{\"y\":[]}}");
				n++;
				if (check_copy(s->str, s->len, NULL, NULL) !=
				    ref_check_object(s->str, s->len)) {
					g_autofree char *desc = describe(s->str, s->len);
					g_error("reference disagrees on %s", desc);
				}
				if (!is_fault) {
					gboolean sure =
					        tldrs_json_check_object_fast(s->str, s->len);
					if (have_fast && !sure) {
						g_autofree char *desc = describe(s->str, s->len);
						g_error("the fast path is not sure of %s", desc);
					}
					n_fast += sure;
				}
			}
		}
	}
	g_test_message("%u lines, %u sure on the fast path%s",
	               n,
	               n_fast,
	               have_fast ? "" : " (this CPU has no fast path)");
}

/* lines whose ends fall on every position of the fast path's 64-byte blocks, joined right
 * and wrongly: the fast check of lines is sure of every right one (where the CPU has the fast
 * path) and of no wrong one */
static void
test_fast_lines_boundaries(void)
{
	static const char *const joins[] = {
	        "\n", /* the right one */
	        " \n",
	        "\n ",
	        "\r\n",
	        "\n\n",
	        "\t\n",
	        "",
	        ",",
	        "\n,\n",
	        "\n}\n",
	        "\n{}}\n",
	        "\n\"x\"\n",
	};
	static const char second[] = "{\"b\":[1,2,{\"c\":null}],\"d\":\"\\n\"}";
	gboolean have_fast = tldrs_json_check_object_fast("{}", 2);
	guint n_sure = 0;
	guint n = 0;

	for (guint k = 0; k <= 130; k++) {
		for (guint form = 0; form < 4; form++) {
			g_autoptr(GString) first = g_string_new(NULL);

			/* what ends the first line: a string, a number, nested objects, a line
			 * that breaks inside a string */
			switch (form) {
			case 0:
				g_string_append(first, "{\"s\":\"");
				for (guint i = 0; i < k; i++)
					g_string_append_c(first, 'a' + i % 26);
				g_string_append(first, "\"}");
				break;
			case 1:
				g_string_append(first, "{\"n\":1");
				for (guint i = 0; i < k; i++)
					g_string_append_c(first, '0' + i % 10);
				g_string_append(first, "}");
				break;
			case 2:
				g_string_append(first, "{\"a\":{\"b\":[");
				for (guint i = 0; i < k; i++)
					g_string_append(first, i == 0 ? "0" : ",0");
				g_string_append(first, "]}}");
				break;
			default:
				g_string_append(first, "{\"s\":\"");
				for (guint i = 0; i < k; i++)
					g_string_append_c(first, i == k / 2 ? '\n' : 'x');
				g_string_append(first, "\"}");
				break;
			}
			for (gsize j = 0; j < G_N_ELEMENTS(joins); j++) {
				g_autoptr(GString) s = g_string_new(first->str);
				gboolean right = j == 0 && (form != 3 || k == 0);
				guint lines;
				gboolean sure;

				g_string_append(s, joins[j]);
				g_string_append(s, second);
				g_string_append_c(s, '\n');
				g_string_append(s, first->str);
				g_string_append_c(s, '\n');
				g_assert_cmpint(ref_check_lines(s->str, s->len, G_MAXSIZE, &lines),
				                ==,
				                right);
				sure = check_lines_copy(s->str, s->len, G_MAXSIZE);
				if (right && have_fast && !sure) {
					g_autofree char *desc = describe(s->str, s->len);
					g_error("the fast check of lines is not sure of %s", desc);
				}
				n_sure += sure;
				n++;
				/* every line just too long, and the last '\n' missing */
				check_lines_copy(
				        s->str, s->len, MAX(first->len, sizeof(second) - 1) - 1);
				check_lines_copy(s->str, s->len - 1, G_MAXSIZE);
			}
		}
	}
	g_test_message("%u runs of lines, %u sure on the fast path%s",
	               n,
	               n_sure,
	               have_fast ? "" : " (this CPU has no fast path)");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);

	g_test_add_func("/tldrs/json/valid-basic", test_valid_basic);
	g_test_add_func("/tldrs/json/valid-escapes", test_valid_escapes);
	g_test_add_func("/tldrs/json/valid-utf8", test_valid_utf8);
	g_test_add_func("/tldrs/json/valid-numbers", test_valid_numbers);
	g_test_add_func("/tldrs/json/invalid-structure", test_invalid_structure);
	g_test_add_func("/tldrs/json/invalid-numbers", test_invalid_numbers);
	g_test_add_func("/tldrs/json/invalid-literals", test_invalid_literals);
	g_test_add_func("/tldrs/json/invalid-strings", test_invalid_strings);
	g_test_add_func("/tldrs/json/embedded-nul", test_embedded_nul);
	g_test_add_func("/tldrs/json/invalid-utf8", test_invalid_utf8);
	g_test_add_func("/tldrs/json/depth", test_depth);
	g_test_add_func("/tldrs/json/truncated", test_truncated);
	g_test_add_func("/tldrs/json/null-data", test_null_data);
	g_test_add_func("/tldrs/json/random-crosscheck", test_random_crosscheck);
	g_test_add_func("/tldrs/json/random-bytes", test_random_bytes);
	g_test_add_func("/tldrs/json/fast-path-boundaries", test_fast_path_boundaries);
	g_test_add_func("/tldrs/json/fast-lines-boundaries", test_fast_lines_boundaries);

	return g_test_run();
}
