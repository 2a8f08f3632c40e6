/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/*
 * A strict, allocation-free, non-recursive validator for "one JSON object on one line".
 *
 * The parser is a small state machine with three states (expecting a value, expecting a member
 * key, after a complete value) and an explicit stack of one bit per open container (1 = object,
 * 0 = array), so hostile nesting costs 32 bytes of stack at most.  String bodies are scanned
 * eight bytes at a time (SWAR; long runs of digits too) up to the next byte that needs attention:
 * '"' ends the string, while '\\', control characters and non-ASCII bytes take a slower path.
 * That is tldrs_json_check_object_exact(); tldrs_json_check_object() first tries a fast path
 * (AVX-512, at the end of this file) that is either sure the line is valid or hands it over.
 */

#include <string.h>

#include "tldrs-json.h"

#define TLDRS_JSON_ONES  G_GUINT64_CONSTANT(0x0101010101010101)
#define TLDRS_JSON_HIGHS G_GUINT64_CONSTANT(0x8080808080808080)

typedef struct {
	const guchar *end;
	const guchar *err_pos;
	const char *err_reason;
} TldrsJsonCtx;

/* always returns NULL, so helpers can `return tldrs_json_fail(...)` */
static const guchar *
tldrs_json_fail(TldrsJsonCtx *ctx, const guchar *pos, const char *reason)
{
	ctx->err_pos = pos;
	ctx->err_reason = reason;
	return NULL;
}

static inline gboolean
tldrs_json_is_digit(guchar c)
{
	return (guint)(c - '0') < 10u;
}

static inline const guchar *
tldrs_json_skip_ws(const guchar *p, const guchar *end)
{
	/* every JSON whitespace byte is <= ' ', so most calls test one byte and leave */
	while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	return p;
}

/* length of the well-formed UTF-8 sequence starting at a byte >= 0x80, or 0 (Unicode 15, Table
 * 3-7: no overlong forms, no surrogates, nothing above U+10FFFF, no truncation) */
static gsize
tldrs_json_utf8_len(const guchar *p, const guchar *end)
{
	gsize avail = (gsize)(end - p);
	guchar c = p[0];
	guchar lo = 0x80;
	guchar hi = 0xbf;
	gsize n;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0; /* continuation byte, 0xc0, 0xc1, 0xf5..0xff */
	}
	if (avail < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (gsize i = 2; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

/* high bit set in each byte of x that is '"', '\\', < 0x20 or >= 0x80; bits above the lowest
 * true hit may be spurious (borrows), but the mask is non-zero iff there is a hit, and its lowest
 * set bit is always a true one */
static inline guint64
tldrs_json_swar_special(guint64 x)
{
	guint64 q = x ^ (TLDRS_JSON_ONES * '"');
	guint64 b = x ^ (TLDRS_JSON_ONES * '\\');
	guint64 ctl = (x - TLDRS_JSON_ONES * 0x20) & ~x;
	guint64 zq = (q - TLDRS_JSON_ONES) & ~q;
	guint64 zb = (b - TLDRS_JSON_ONES) & ~b;
	return (ctl | zq | zb | x) & TLDRS_JSON_HIGHS;
}

static inline gboolean
tldrs_json_is_plain(guchar c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* first byte at or after p inside a string that is not plain printable ASCII, or end */
static inline const guchar *
tldrs_json_skip_plain(const guchar *p, const guchar *end)
{
	while (end - p >= 8) {
		guint64 x;
		guint64 mask;
		memcpy(&x, p, sizeof(x));
		mask = tldrs_json_swar_special(x);
		if (mask != 0) {
#if defined(__GNUC__) && G_BYTE_ORDER == G_LITTLE_ENDIAN
			return p + (__builtin_ctzll(mask) >> 3);
#else
			while (tldrs_json_is_plain(*p))
				p++;
			return p;
#endif
		}
		p += 8;
	}
	while (p < end && tldrs_json_is_plain(*p))
		p++;
	return p;
}

static inline gint
tldrs_json_hex_value(guchar c)
{
	if (tldrs_json_is_digit(c))
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* the four hex digits at p as a code unit, -1 if one is not a hex digit, -2 if the line ends
 * first */
static gint
tldrs_json_hex4(const guchar *p, const guchar *end)
{
	gint value = 0;
	for (guint i = 0; i < 4; i++) {
		gint digit;
		if (p + i >= end)
			return -2;
		digit = tldrs_json_hex_value(p[i]);
		if (digit < 0)
			return -1;
		value = (value << 4) | digit;
	}
	return value;
}

/* p is at a backslash inside a string; returns the byte after the escape sequence */
static const guchar *
tldrs_json_scan_escape(TldrsJsonCtx *ctx, const guchar *str, const guchar *p)
{
	const guchar *end = ctx->end;
	const guchar *q;
	gint unit;

	if (end - p < 2)
		return tldrs_json_fail(ctx, str, "unterminated string");
	switch (p[1]) {
	case '"':
	case '\\':
	case '/':
	case 'b':
	case 'f':
	case 'n':
	case 'r':
	case 't':
		return p + 2;
	case 'u':
		break;
	default:
		return tldrs_json_fail(ctx, p, "invalid escape");
	}

	unit = tldrs_json_hex4(p + 2, end);
	if (unit == -2)
		return tldrs_json_fail(ctx, str, "unterminated string");
	if (unit < 0)
		return tldrs_json_fail(ctx, p, "invalid escape");
	if (unit < 0xd800 || unit > 0xdfff)
		return p + 6;
	if (unit >= 0xdc00)
		return tldrs_json_fail(ctx, p, "unpaired surrogate escape");

	/* a high surrogate: the next thing must be a low surrogate escape */
	q = p + 6;
	if (q >= end || (q[0] == '\\' && q + 1 >= end))
		return tldrs_json_fail(ctx, str, "unterminated string");
	if (q[0] != '\\' || q[1] != 'u')
		return tldrs_json_fail(ctx, p, "unpaired surrogate escape");
	unit = tldrs_json_hex4(q + 2, end);
	if (unit == -2)
		return tldrs_json_fail(ctx, str, "unterminated string");
	if (unit < 0)
		return tldrs_json_fail(ctx, q, "invalid escape");
	if (unit < 0xdc00 || unit > 0xdfff)
		return tldrs_json_fail(ctx, p, "unpaired surrogate escape");
	return q + 6;
}

/* p is at the opening quote; returns the byte after the closing quote */
static inline const guchar *
tldrs_json_scan_string(TldrsJsonCtx *ctx, const guchar *p)
{
	const guchar *str = p;
	const guchar *end = ctx->end;

	p++;
	for (;;) {
		guchar c;

		p = tldrs_json_skip_plain(p, end);
		if (G_UNLIKELY(p == end))
			return tldrs_json_fail(ctx, str, "unterminated string");
		c = *p;
		if (G_LIKELY(c == '"'))
			return p + 1;
		if (c == '\\') {
			p = tldrs_json_scan_escape(ctx, str, p);
			if (p == NULL)
				return NULL;
		} else if (c < 0x20) {
			return tldrs_json_fail(ctx, p, "control character in string");
		} else {
			gsize n = tldrs_json_utf8_len(p, end);
			if (n == 0)
				return tldrs_json_fail(ctx, p, "invalid UTF-8");
			p += n;
		}
	}
}

/* first byte at or after p that is not an ASCII digit, or end */
static inline const guchar *
tldrs_json_skip_digits(const guchar *p, const guchar *end)
{
	while (end - p >= 8) {
		guint64 x;
		guint64 mask;
		memcpy(&x, p, sizeof(x));
		/* high bit set for bytes below '0', above '9' (adding 0x46 to a byte <= 0x7f
		 * doesn't carry out) or >= 0x80; as above, only the lowest set bit is sure to be
		 * true */
		mask = (((x - TLDRS_JSON_ONES * '0') & ~x) | (x + TLDRS_JSON_ONES * 0x46) | x) &
		       TLDRS_JSON_HIGHS;
		if (mask != 0) {
#if defined(__GNUC__) && G_BYTE_ORDER == G_LITTLE_ENDIAN
			return p + (__builtin_ctzll(mask) >> 3);
#else
			while (tldrs_json_is_digit(*p))
				p++;
			return p;
#endif
		}
		p += 8;
	}
	while (p < end && tldrs_json_is_digit(*p))
		p++;
	return p;
}

/* p is at '-' or a digit; returns the byte after the number */
static inline const guchar *
tldrs_json_scan_number(TldrsJsonCtx *ctx, const guchar *p)
{
	const guchar *end = ctx->end;

	if (*p == '-') {
		p++;
		if (p == end)
			return tldrs_json_fail(ctx, p, "invalid number");
	}
	if (*p == '0') {
		p++;
	} else if (tldrs_json_is_digit(*p)) {
		p = tldrs_json_skip_digits(p + 1, end);
	} else {
		return tldrs_json_fail(ctx, p, "invalid number");
	}
	if (p < end && *p == '.') {
		p++;
		if (p == end || !tldrs_json_is_digit(*p))
			return tldrs_json_fail(ctx, p, "invalid number");
		while (p < end && tldrs_json_is_digit(*p))
			p++;
	}
	if (p < end && (*p | 0x20) == 'e') {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !tldrs_json_is_digit(*p))
			return tldrs_json_fail(ctx, p, "invalid number");
		while (p < end && tldrs_json_is_digit(*p))
			p++;
	}
	/* "01", "1.2.3", "1e5e5", "1-2", "0x1f": say so rather than "expected ','" */
	if (p < end && (g_ascii_isalnum(*p) || *p == '.' || *p == '+' || *p == '-'))
		return tldrs_json_fail(ctx, p, "invalid number");
	return p;
}

/* p is at the first letter of what must be `word`; returns the byte after it */
static const guchar *
tldrs_json_scan_literal(TldrsJsonCtx *ctx, const guchar *p, const char *word, gsize word_len)
{
	gsize avail = (gsize)(ctx->end - p);

	if (avail >= word_len && memcmp(p, word, word_len) == 0) {
		p += word_len;
		if (p < ctx->end && g_ascii_isalnum(*p))
			return tldrs_json_fail(ctx, p, "invalid literal");
		return p;
	}
	if (avail < word_len && memcmp(p, word, avail) == 0)
		return tldrs_json_fail(ctx, ctx->end, "unexpected end of line");
	return tldrs_json_fail(ctx, p, "invalid literal");
}

gboolean
tldrs_json_check_object_exact(const char *data,
                              gsize len,
                              gsize *error_offset,
                              const char **error_reason)
{
	const guchar *start = (const guchar *)data;
	const guchar *end;
	const guchar *p;
	TldrsJsonCtx ctx;
	guint64 stack[TLDRS_JSON_MAX_DEPTH / 64] = {0}; /* bit set: that level is an object */
	guint depth = 0;
	gboolean in_object = TRUE;

	g_return_val_if_fail(data != NULL || len == 0, FALSE);

	if (start == NULL)
		start = (const guchar *)"";
	end = start + len;
	ctx.end = end;
	ctx.err_pos = start;
	ctx.err_reason = NULL;

	p = tldrs_json_skip_ws(start, end);
	if (p == end) {
		tldrs_json_fail(&ctx, start, "empty line");
		goto failed;
	}
	if (*p != '{') {
		tldrs_json_fail(&ctx, p, "not a JSON object");
		goto failed_syntax;
	}

value:
	/* p is at the first byte of a value, or at end */
	if (G_UNLIKELY(p == end))
		goto unexpected_end;
	/* strings and numbers first: a branch each predicts better than a jump table */
	if (*p == '"') {
		p = tldrs_json_scan_string(&ctx, p);
		if (p == NULL)
			goto failed;
		goto after_value;
	}
	if (tldrs_json_is_digit(*p) || *p == '-') {
		p = tldrs_json_scan_number(&ctx, p);
		if (p == NULL)
			goto failed;
		goto after_value;
	}
	switch (*p) {
	case '+':
	case '.':
		tldrs_json_fail(&ctx, p, "invalid number");
		goto failed;
	case '{':
	case '[':
		if (G_UNLIKELY(depth == TLDRS_JSON_MAX_DEPTH)) {
			tldrs_json_fail(&ctx, p, "nesting too deep");
			goto failed;
		}
		in_object = *p == '{';
		if (in_object)
			stack[depth / 64] |= G_GUINT64_CONSTANT(1) << (depth % 64);
		else
			stack[depth / 64] &= ~(G_GUINT64_CONSTANT(1) << (depth % 64));
		depth++;
		p = tldrs_json_skip_ws(p + 1, end);
		if (p < end && *p == (in_object ? '}' : ']')) {
			p++;
			goto close;
		}
		if (in_object)
			goto member;
		goto value;
	case 't':
		p = tldrs_json_scan_literal(&ctx, p, "true", 4);
		if (p == NULL)
			goto failed;
		break;
	case 'f':
		p = tldrs_json_scan_literal(&ctx, p, "false", 5);
		if (p == NULL)
			goto failed;
		break;
	case 'n':
		p = tldrs_json_scan_literal(&ctx, p, "null", 4);
		if (p == NULL)
			goto failed;
		break;
	default:
		tldrs_json_fail(&ctx, p, "expected value");
		goto failed_syntax;
	}

after_value:
	/* a complete value ends just before p, depth >= 1 */
	p = tldrs_json_skip_ws(p, end);
	if (G_UNLIKELY(p == end))
		goto unexpected_end;
	if (*p == ',') {
		p = tldrs_json_skip_ws(p + 1, end);
		if (in_object)
			goto member;
		goto value;
	}
	if (*p == (in_object ? '}' : ']')) {
		p++;
		goto close;
	}
	tldrs_json_fail(&ctx, p, in_object ? "expected ',' or '}'" : "expected ',' or ']'");
	goto failed_syntax;

close:
	/* the container at the top of the stack was just closed */
	depth--;
	if (depth > 0) {
		guint top = depth - 1;
		in_object = (stack[top / 64] >> (top % 64)) & 1;
		goto after_value;
	}
	p = tldrs_json_skip_ws(p, end);
	if (G_LIKELY(p == end))
		return TRUE;
	tldrs_json_fail(&ctx, p, "trailing data after object");
	goto failed_syntax;

member:
	/* p is at the opening quote of a key, or at end */
	if (G_UNLIKELY(p == end))
		goto unexpected_end;
	if (G_UNLIKELY(*p != '"')) {
		tldrs_json_fail(&ctx, p, "expected string key");
		goto failed_syntax;
	}
	p = tldrs_json_scan_string(&ctx, p);
	if (p == NULL)
		goto failed;
	p = tldrs_json_skip_ws(p, end);
	if (G_UNLIKELY(p == end))
		goto unexpected_end;
	if (G_UNLIKELY(*p != ':')) {
		tldrs_json_fail(&ctx, p, "expected ':'");
		goto failed_syntax;
	}
	p = tldrs_json_skip_ws(p + 1, end);
	goto value;

unexpected_end:
	tldrs_json_fail(&ctx, end, "unexpected end of line");
	goto failed;

failed_syntax:
	/* a syntax error on a byte that is not even UTF-8 is reported as the latter */
	if (ctx.err_pos < end && *ctx.err_pos >= 0x80 && tldrs_json_utf8_len(ctx.err_pos, end) == 0)
		ctx.err_reason = "invalid UTF-8";
failed:
	if (error_offset != NULL)
		*error_offset = (gsize)(ctx.err_pos - start);
	if (error_reason != NULL)
		*error_reason = ctx.err_reason;
	return FALSE;
}

/*
 * The fast path: TRUE only when it is sure that the line is valid; FALSE means "not sure", and
 * the exact validator above decides (and says where and why a line is wrong). So error messages
 * never change, and all the fast path must get right is never to accept a line that the exact
 * validator refuses; tests/fuzz/tldrs-fuzz-json-fast.c checks exactly that.
 *
 * It avoids the per-token walk with its branch per token. Each 64-byte block of the line is
 * classified at once with AVX-512 (one table lookup per byte), giving bit masks of quotes,
 * backslashes, control bytes, non-ASCII bytes, whitespace and structural characters; a prefix
 * XOR of the quotes (carry-less multiply) gives the inside of strings. The rare backslashes and
 * non-ASCII bytes are checked one by one (escapes, UTF-8 by tldrs_json_utf8_len()), and so is each
 * number or literal. What is left of the line is its skeleton: one byte per token ('{', '}', '[',
 * ']', ',', ':', a string, a number or literal), packed with VPCOMPRESSB, 64 tokens at a time.
 * The grammar is then checked on the skeleton without a walk: every pair of neighbouring tokens
 * must be allowed (a table lookup per pair, 64 pairs at once), a ':' must follow exactly the
 * strings that are keys (those right after '{' or after a ',' inside an object), and only the
 * brackets (a few per line) are matched one by one, which also tells each ',' whether it is in
 * an object or an array.
 */

#if defined(__x86_64__) && defined(__GNUC__) && !defined(TLDRS_JSON_NO_SIMD)
#define TLDRS_JSON_HAVE_FAST 1
#endif

#ifdef TLDRS_JSON_HAVE_FAST

#include <immintrin.h>

#define TLDRS_JSON_FAST_TARGET                                                                     \
	__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2,bmi,bmi2,popcnt,"  \
	                      "lzcnt,pclmul")))

/* byte classes (from the tables' class_lo and class_hi, for bytes < 0x80); those below
 * TLDRS_JSON_T_COMMA_OBJECT are also the token codes of the skeleton. The brackets and the
 * newline (codes below TLDRS_JSON_T_COMMA) are followed one by one. */
enum {
	TLDRS_JSON_T_OPEN_OBJECT = 0,
	TLDRS_JSON_T_CLOSE_OBJECT = 1,
	TLDRS_JSON_T_OPEN_ARRAY = 2,
	TLDRS_JSON_T_CLOSE_ARRAY = 3,
	TLDRS_JSON_T_NEWLINE = 4, /* the end of a line, when checking lines */
	TLDRS_JSON_T_COMMA = 5,   /* in the skeleton: a ',' in an array */
	TLDRS_JSON_T_COLON = 6,
	TLDRS_JSON_T_STRING = 7, /* the opening quote */
	TLDRS_JSON_T_SCALAR = 8, /* the first byte of a number or literal (or of garbage) */
	TLDRS_JSON_T_COMMA_OBJECT = 9,
	TLDRS_JSON_T_START = 10, /* before the first token */
	TLDRS_JSON_C_BACKSLASH = 16,
	TLDRS_JSON_C_SPACE = 32,
	TLDRS_JSON_C_WS_CONTROL = 33, /* \t \n \r (\n but when checking lines) */
	TLDRS_JSON_C_CONTROL = 48,
};

#define TLDRS_JSON_BIT(t) (1u << (t))
/* the tokens that may follow each token */
static const guint16 tldrs_json_fast_next[16] = {
        [TLDRS_JSON_T_OPEN_OBJECT] =
                TLDRS_JSON_BIT(TLDRS_JSON_T_STRING) | TLDRS_JSON_BIT(TLDRS_JSON_T_CLOSE_OBJECT),
        [TLDRS_JSON_T_CLOSE_OBJECT] =
                TLDRS_JSON_BIT(TLDRS_JSON_T_COMMA) | TLDRS_JSON_BIT(TLDRS_JSON_T_COMMA_OBJECT) |
                TLDRS_JSON_BIT(TLDRS_JSON_T_CLOSE_OBJECT) |
                TLDRS_JSON_BIT(TLDRS_JSON_T_CLOSE_ARRAY) | TLDRS_JSON_BIT(TLDRS_JSON_T_NEWLINE),
        [TLDRS_JSON_T_OPEN_ARRAY] =
                TLDRS_JSON_BIT(TLDRS_JSON_T_STRING) | TLDRS_JSON_BIT(TLDRS_JSON_T_SCALAR) |
                TLDRS_JSON_BIT(TLDRS_JSON_T_OPEN_OBJECT) | TLDRS_JSON_BIT(TLDRS_JSON_T_OPEN_ARRAY) |
                TLDRS_JSON_BIT(TLDRS_JSON_T_CLOSE_ARRAY),
        [TLDRS_JSON_T_CLOSE_ARRAY] = TLDRS_JSON_BIT(TLDRS_JSON_T_COMMA) |
                                     TLDRS_JSON_BIT(TLDRS_JSON_T_COMMA_OBJECT) |
                                     TLDRS_JSON_BIT(TLDRS_JSON_T_CLOSE_OBJECT) |
                                     TLDRS_JSON_BIT(TLDRS_JSON_T_CLOSE_ARRAY),
        [TLDRS_JSON_T_COMMA] =
                TLDRS_JSON_BIT(TLDRS_JSON_T_STRING) | TLDRS_JSON_BIT(TLDRS_JSON_T_SCALAR) |
                TLDRS_JSON_BIT(TLDRS_JSON_T_OPEN_OBJECT) | TLDRS_JSON_BIT(TLDRS_JSON_T_OPEN_ARRAY),
        [TLDRS_JSON_T_COLON] =
                TLDRS_JSON_BIT(TLDRS_JSON_T_STRING) | TLDRS_JSON_BIT(TLDRS_JSON_T_SCALAR) |
                TLDRS_JSON_BIT(TLDRS_JSON_T_OPEN_OBJECT) | TLDRS_JSON_BIT(TLDRS_JSON_T_OPEN_ARRAY),
        [TLDRS_JSON_T_STRING] = TLDRS_JSON_BIT(TLDRS_JSON_T_COLON) |
                                TLDRS_JSON_BIT(TLDRS_JSON_T_COMMA) |
                                TLDRS_JSON_BIT(TLDRS_JSON_T_COMMA_OBJECT) |
                                TLDRS_JSON_BIT(TLDRS_JSON_T_CLOSE_OBJECT) |
                                TLDRS_JSON_BIT(TLDRS_JSON_T_CLOSE_ARRAY),
        [TLDRS_JSON_T_SCALAR] = TLDRS_JSON_BIT(TLDRS_JSON_T_COMMA) |
                                TLDRS_JSON_BIT(TLDRS_JSON_T_COMMA_OBJECT) |
                                TLDRS_JSON_BIT(TLDRS_JSON_T_CLOSE_OBJECT) |
                                TLDRS_JSON_BIT(TLDRS_JSON_T_CLOSE_ARRAY),
        [TLDRS_JSON_T_COMMA_OBJECT] = TLDRS_JSON_BIT(TLDRS_JSON_T_STRING),
        [TLDRS_JSON_T_START] = TLDRS_JSON_BIT(TLDRS_JSON_T_OPEN_OBJECT),
        [TLDRS_JSON_T_NEWLINE] = TLDRS_JSON_BIT(TLDRS_JSON_T_OPEN_OBJECT),
};

typedef struct {
	guint8 class_lo[64];       /* the class of bytes 0x00..0x3f */
	guint8 class_lo_lines[64]; /* the same, but '\n' is a token: when checking lines */
	guint8 class_hi[64];       /* ... and 0x40..0x7f */
	guint8 next_lo[64];        /* the low byte of tldrs_json_fast_next[], by token */
	guint8 next_hi[64];
	guint8 onehot[64];     /* 1 << (token % 8) */
	guint8 prev_index[64]; /* shifts the skeleton by one token, see tldrs_json_fast_chunk() */
	guint8 iota[64];       /* 0, 1, ... 63 */
} TldrsJsonFastTables;

static TldrsJsonFastTables tldrs_json_fast_tables;

static void
tldrs_json_fast_init_tables(void)
{
	TldrsJsonFastTables *t = &tldrs_json_fast_tables;
	guint8 cls[128];

	for (guint c = 0; c < 128; c++) {
		if (c == ' ')
			cls[c] = TLDRS_JSON_C_SPACE;
		else if (c == '\t' || c == '\n' || c == '\r')
			cls[c] = TLDRS_JSON_C_WS_CONTROL;
		else if (c < 0x20)
			cls[c] = TLDRS_JSON_C_CONTROL;
		else
			cls[c] = TLDRS_JSON_T_SCALAR;
	}
	cls['{'] = TLDRS_JSON_T_OPEN_OBJECT;
	cls['}'] = TLDRS_JSON_T_CLOSE_OBJECT;
	cls['['] = TLDRS_JSON_T_OPEN_ARRAY;
	cls[']'] = TLDRS_JSON_T_CLOSE_ARRAY;
	cls[','] = TLDRS_JSON_T_COMMA;
	cls[':'] = TLDRS_JSON_T_COLON;
	cls['"'] = TLDRS_JSON_T_STRING;
	cls['\\'] = TLDRS_JSON_C_BACKSLASH;
	memcpy(t->class_lo, cls, 64);
	memcpy(t->class_lo_lines, cls, 64);
	t->class_lo_lines['\n'] = TLDRS_JSON_T_NEWLINE;
	memcpy(t->class_hi, cls + 64, 64);
	for (guint i = 0; i < 64; i++) {
		guint16 next = i < G_N_ELEMENTS(tldrs_json_fast_next) ? tldrs_json_fast_next[i] : 0;
		t->next_lo[i] = (guint8)(next & 0xff);
		t->next_hi[i] = (guint8)(next >> 8);
		t->onehot[i] = (guint8)(1u << (i % 8));
		t->prev_index[i] = (guint8)(i == 0 ? 64 + 63 : i - 1);
		t->iota[i] = (guint8)i;
	}
}

/* bits [from, 64) */
static inline guint64
tldrs_json_bits_from(guint from)
{
	return from >= 64 ? 0 : ~G_GUINT64_CONSTANT(0) << from;
}

/* a byte that would continue a number or literal: not whitespace, structural or a quote */
static inline gboolean
tldrs_json_is_scalar_byte(guchar c)
{
	switch (c) {
	case ' ':
	case '\t':
	case '\n':
	case '\r':
	case '"':
	case ',':
	case ':':
	case '{':
	case '}':
	case '[':
	case ']':
		return FALSE;
	default:
		return TRUE;
	}
}

/* p is at the first byte of a run of scalar bytes outside strings: TRUE when the whole run is
 * one number or literal (the grammar of tldrs_json_scan_number() and _literal(), written
 * again without their error reporting: calling them costs 7 % on tldrs-json-bench) */
static inline gboolean
tldrs_json_fast_scalar(const guchar *p, const guchar *end)
{
	gsize avail = (gsize)(end - p);

	switch (*p) {
	case 't':
		if (avail < 4 || memcmp(p, "true", 4) != 0)
			return FALSE;
		p += 4;
		break;
	case 'f':
		if (avail < 5 || memcmp(p, "false", 5) != 0)
			return FALSE;
		p += 5;
		break;
	case 'n':
		if (avail < 4 || memcmp(p, "null", 4) != 0)
			return FALSE;
		p += 4;
		break;
	default:
		if (*p == '-') {
			p++;
			if (p == end)
				return FALSE;
		}
		if (*p == '0')
			p++;
		else if (tldrs_json_is_digit(*p))
			p = tldrs_json_skip_digits(p + 1, end);
		else
			return FALSE;
		if (p < end && *p == '.') {
			p++;
			if (p == end || !tldrs_json_is_digit(*p))
				return FALSE;
			p = tldrs_json_skip_digits(p + 1, end);
		}
		if (p < end && (*p | 0x20) == 'e') {
			p++;
			if (p < end && (*p == '+' || *p == '-'))
				p++;
			if (p == end || !tldrs_json_is_digit(*p))
				return FALSE;
			p = tldrs_json_skip_digits(p + 1, end);
		}
		break;
	}
	return p == end || !tldrs_json_is_scalar_byte(*p);
}

/* marks byte i + k of the block (which may be in the next block) as escaped: neither a quote
 * nor the start of an escape */
static inline void
tldrs_json_fast_mark(guint64 *escaped, guint64 *todo, guint64 *carry, guint pos)
{
	if (pos < 64) {
		*escaped |= G_GUINT64_CONSTANT(1) << pos;
		*todo &= ~(G_GUINT64_CONSTANT(1) << pos);
	} else {
		*carry |= G_GUINT64_CONSTANT(1) << (pos - 64);
	}
}

/* the escapes that start in the 64-byte block at p (backslashes: its backslashes; *escaped on
 * entry: its bytes escaped from the block before): FALSE on a bad or truncated one. Adds the
 * escaped bytes to *escaped, and those of the next block to *carry. */
static gboolean
tldrs_json_fast_escapes(const guchar *p,
                        const guchar *end,
                        guint64 backslashes,
                        guint64 *escaped,
                        guint64 *carry)
{
	guint64 todo = backslashes & ~*escaped;
	TldrsJsonCtx ctx = {end, NULL, NULL};

	while (todo != 0) {
		guint i = (guint)__builtin_ctzll(todo);
		const guchar *after;

		todo &= todo - 1;
		/* the exact validator's own check; its hex digits are never special bytes */
		after = tldrs_json_scan_escape(&ctx, p + i, p + i);
		if (after == NULL)
			return FALSE;
		/* a surrogate pair: the backslash of its low half is no escape of its own */
		if (after - (p + i) == 12)
			tldrs_json_fast_mark(escaped, &todo, carry, i + 6);
		tldrs_json_fast_mark(escaped, &todo, carry, i + 1);
	}
	return TRUE;
}

typedef struct {
	__m512i prev;    /* the last chunk of the skeleton (its last token in byte 63) */
	guint64 carry_p; /* the last token was '{' or a ',' in an object */
	guint64 carry_k; /* the last token was a key */
	guint64 stack;   /* bit set: that level is an object */
	guint depth;
	gboolean in_object;
	gboolean closed; /* the outermost object has been closed */
	gsize n_tokens;  /* before this chunk */
	gsize closed_at; /* the token that closed it */
} TldrsJsonSkeleton;

/* checks the next n (1..64) tokens of the skeleton, in the first n bytes of codes */
TLDRS_JSON_FAST_TARGET static inline gboolean
tldrs_json_fast_chunk(TldrsJsonSkeleton *sk, __m512i codes, guint n)
{
	const TldrsJsonFastTables *t = &tldrs_json_fast_tables;
	guint64 valid = n >= 64 ? ~G_GUINT64_CONSTANT(0) : (G_GUINT64_CONSTANT(1) << n) - 1;
	guint64 brackets =
	        _mm512_mask_cmplt_epu8_mask(valid, codes, _mm512_set1_epi8(TLDRS_JSON_T_COMMA));
	guint64 in_object = 0;
	guint from = 0;
	guint64 commas;
	guint64 ok;
	guint64 p_mask;
	guint64 keys;
	guint64 colons;
	__m512i prev;
	__m512i next;
	__m512i bit;
	guint8 code[64];

	/* the brackets, one by one; in_object gets the tokens that are directly in an object */
	if (brackets != 0)
		_mm512_storeu_si512(code, codes);
	while (brackets != 0) {
		guint b = (guint)__builtin_ctzll(brackets);
		brackets &= brackets - 1;
		if (sk->in_object)
			in_object |= tldrs_json_bits_from(from) & ~tldrs_json_bits_from(b + 1);
		from = b + 1;
		if (G_UNLIKELY(sk->closed)) {
			/* only the end of its line may follow a line's object */
			if (code[b] != TLDRS_JSON_T_NEWLINE)
				return FALSE;
			sk->closed = FALSE;
			continue;
		}
		switch (code[b]) {
		case TLDRS_JSON_T_NEWLINE:
			return FALSE; /* in the middle of its object */
		case TLDRS_JSON_T_OPEN_OBJECT:
		case TLDRS_JSON_T_OPEN_ARRAY:
			if (sk->depth == 64)
				return FALSE; /* deep: let the exact validator decide */
			sk->in_object = code[b] == TLDRS_JSON_T_OPEN_OBJECT;
			if (sk->in_object)
				sk->stack |= G_GUINT64_CONSTANT(1) << sk->depth;
			else
				sk->stack &= ~(G_GUINT64_CONSTANT(1) << sk->depth);
			sk->depth++;
			break;
		default:
			if (sk->depth == 0)
				return FALSE;
			sk->depth--;
			if (((sk->stack >> sk->depth) & 1) !=
			    (code[b] == TLDRS_JSON_T_CLOSE_OBJECT))
				return FALSE;
			if (sk->depth == 0) {
				sk->closed = TRUE;
				sk->closed_at = sk->n_tokens + b;
				sk->in_object = FALSE;
			} else {
				sk->in_object = (sk->stack >> (sk->depth - 1)) & 1;
			}
			break;
		}
	}
	if (sk->in_object)
		in_object |= tldrs_json_bits_from(from);

	/* a ',' directly in an object gets a token of its own */
	commas = _mm512_mask_cmpeq_epu8_mask(
	        valid & in_object, codes, _mm512_set1_epi8(TLDRS_JSON_T_COMMA));
	codes = _mm512_mask_mov_epi8(codes, commas, _mm512_set1_epi8(TLDRS_JSON_T_COMMA_OBJECT));

	/* every pair of neighbours must be allowed: look up the tokens that may follow each
	 * token's predecessor, and test the token's bit in them */
	prev = _mm512_permutex2var_epi8(codes, _mm512_loadu_si512(t->prev_index), sk->prev);
	next = _mm512_mask_blend_epi8(
	        _mm512_cmpge_epu8_mask(codes, _mm512_set1_epi8(8)),
	        _mm512_permutexvar_epi8(prev, _mm512_loadu_si512(t->next_lo)),
	        _mm512_permutexvar_epi8(prev, _mm512_loadu_si512(t->next_hi)));
	bit = _mm512_permutexvar_epi8(codes, _mm512_loadu_si512(t->onehot));
	ok = _mm512_test_epi8_mask(next, bit);
	if ((valid & ~ok) != 0)
		return FALSE;

	/* a key is a string right after '{' or an object's ','; a ':' follows every key and
	 * nothing else */
	p_mask = _mm512_mask_cmpeq_epu8_mask(
	                 valid, codes, _mm512_set1_epi8(TLDRS_JSON_T_OPEN_OBJECT)) |
	         commas;
	keys = _mm512_mask_cmpeq_epu8_mask(valid, codes, _mm512_set1_epi8(TLDRS_JSON_T_STRING)) &
	       ((p_mask << 1) | sk->carry_p);
	colons = _mm512_mask_cmpeq_epu8_mask(valid, codes, _mm512_set1_epi8(TLDRS_JSON_T_COLON));
	if ((((keys << 1) | sk->carry_k) & valid) != colons)
		return FALSE;

	sk->carry_p = p_mask >> 63;
	sk->carry_k = keys >> 63;
	sk->prev = codes;
	sk->n_tokens += n;
	return TRUE;
}

/* the fast path over data[0..len): one object, or (@lines) lines that each hold one object
 * from their first byte to the byte before their '\n', of at most @max_line bytes; data then
 * ends with '\n', and *n_lines gets how many */
TLDRS_JSON_FAST_TARGET static inline __attribute__((always_inline)) gboolean
tldrs_json_fast_avx512_body(const guchar *start,
                            gsize len,
                            gboolean lines,
                            gsize max_line,
                            guint *n_lines)
{
	const TldrsJsonFastTables *t = &tldrs_json_fast_tables;
	const guchar *end = start + len;
	const __m512i class_lo = _mm512_loadu_si512(lines ? t->class_lo_lines : t->class_lo);
	const __m512i class_hi = _mm512_loadu_si512(t->class_hi);
	TldrsJsonSkeleton sk = {0};
	const __m512i iota = _mm512_loadu_si512(t->iota);
	/* tokens not yet checked, from byte 0, kept in a register: stored at an odd offset and
	 * loaded whole, they stalled the load on the stores (7 % of the time) */
	__m512i skeleton = _mm512_setzero_si512();
	guint fill = 0;
	guint64 in_string = 0;     /* all ones when a string goes on into the next block */
	guint64 escaped_carry = 0; /* bit 0: the next block's first byte is escaped */
	guint64 utf8_carry = 0;    /* the next block's first bytes continue a UTF-8 sequence */
	guint64 scalar_carry = 0;  /* bit 0: the last block ended in a number or literal */
	guint64 close_carry = 0;   /* lines: bit 0: the last block ended in '}' */
	guint64 newline_carry = 0; /* lines: bit 0: the last block ended in '\n' */
	gsize line_start = 0;      /* lines: where the line goes on from */
	guint count = 0;           /* lines: how many ended */

	if (lines && (len == 0 || start[0] != '{' || start[len - 1] != '\n'))
		return FALSE;

	sk.prev = _mm512_set1_epi8(TLDRS_JSON_T_START);
	for (gsize off = 0; off < len; off += 64) {
		const guchar *p = start + off;
		gsize left = len - off;
		guint64 load =
		        left >= 64 ? ~G_GUINT64_CONSTANT(0) : (G_GUINT64_CONSTANT(1) << left) - 1;
		__m512i v = _mm512_maskz_loadu_epi8(load, p);
		guint64 high = _mm512_movepi8_mask(v);
		__m512i cls = _mm512_mask_mov_epi8(_mm512_permutex2var_epi8(class_lo, v, class_hi),
		                                   high,
		                                   _mm512_set1_epi8(TLDRS_JSON_T_SCALAR));
		guint64 quotes = _mm512_cmpeq_epu8_mask(cls, _mm512_set1_epi8(TLDRS_JSON_T_STRING));
		guint64 backslashes =
		        _mm512_cmpeq_epu8_mask(cls, _mm512_set1_epi8(TLDRS_JSON_C_BACKSLASH));
		guint64 controls = _mm512_mask_cmpge_epu8_mask(
		        load, cls, _mm512_set1_epi8(TLDRS_JSON_C_WS_CONTROL));
		guint64 newlines = 0;
		guint64 not_scalar =
		        _mm512_cmplt_epu8_mask(cls, _mm512_set1_epi8(TLDRS_JSON_T_SCALAR)) |
		        _mm512_cmplt_epu8_mask(
		                _mm512_sub_epi8(cls, _mm512_set1_epi8(TLDRS_JSON_C_SPACE)),
		                _mm512_set1_epi8(2));
		guint64 escaped = escaped_carry;
		guint64 strings;
		guint64 outside;
		guint64 scalars;
		guint64 scalar_starts;
		guint64 tokens;
		__m512i codes;

		if (lines) {
			/* each line is '{' ... '}' with nothing around them, and not too long */
			guint64 opens = _mm512_cmpeq_epu8_mask(
			        cls, _mm512_set1_epi8(TLDRS_JSON_T_OPEN_OBJECT));
			guint64 closes = _mm512_cmpeq_epu8_mask(
			        cls, _mm512_set1_epi8(TLDRS_JSON_T_CLOSE_OBJECT));
			newlines =
			        _mm512_cmpeq_epu8_mask(cls, _mm512_set1_epi8(TLDRS_JSON_T_NEWLINE));
			if ((newlines & ~((closes << 1) | close_carry)) != 0 ||
			    (((newlines << 1) | newline_carry) & load & ~opens) != 0)
				return FALSE;
			close_carry = closes >> 63;
			newline_carry = newlines >> 63;
			controls |= newlines;
			for (guint64 m = newlines; m != 0; m &= m - 1) {
				gsize at = off + (gsize)__builtin_ctzll(m);
				if (at - line_start > max_line)
					return FALSE;
				line_start = at + 1;
				count++;
			}
		}

		/* escapes: each backslash that is not itself escaped escapes the next byte */
		escaped_carry = 0;
		if (G_UNLIKELY((backslashes & ~escaped) != 0) &&
		    !tldrs_json_fast_escapes(p, end, backslashes, &escaped, &escaped_carry))
			return FALSE;
		quotes &= ~escaped;

		/* inside strings: from an opening quote up to (not including) the closing one */
		strings = (guint64)_mm_cvtsi128_si64(_mm_clmulepi64_si128(
		                  _mm_cvtsi64_si128((gint64)quotes), _mm_set1_epi8(-1), 0)) ^
		          in_string;
		in_string = (guint64)((gint64)strings >> 63);
		if ((backslashes & ~strings) != 0 || (controls & strings) != 0)
			return FALSE;

		/* non-ASCII bytes, one sequence at a time */
		if (G_UNLIKELY((high & ~utf8_carry) != 0)) {
			guint64 m = high & ~utf8_carry;
			utf8_carry = 0;
			while (m != 0) {
				guint i = (guint)__builtin_ctzll(m);
				gsize n = tldrs_json_utf8_len(p + i, end);
				if (n == 0)
					return FALSE;
				m &= ~(((G_GUINT64_CONSTANT(1) << n) - 1) << i);
				if (i + n > 64)
					utf8_carry = (G_GUINT64_CONSTANT(1) << (i + n - 64)) - 1;
			}
		} else {
			utf8_carry = 0;
		}

		/* numbers and literals, one by one: a run of digits that ends in the block and
		 * has no leading zero is an integer by the masks alone; any other run (a sign,
		 * a fraction, an exponent, a literal, garbage, or one going on into the next
		 * block) is read byte by byte */
		outside = ~strings & ~quotes & load;
		scalars = outside & ~not_scalar;
		scalar_starts = scalars & ~((scalars << 1) | scalar_carry);
		scalar_carry = scalars >> 63;
		if (scalar_starts != 0) {
			guint64 digits = _mm512_cmplt_epu8_mask(
			        _mm512_sub_epi8(v, _mm512_set1_epi8('0')), _mm512_set1_epi8(10));
			guint64 zeros = _mm512_cmpeq_epu8_mask(v, _mm512_set1_epi8('0'));
			guint64 not_digits = scalars & ~digits;
			for (guint64 m = scalar_starts; m != 0; m &= m - 1) {
				guint at = (guint)__builtin_ctzll(m);
				guint64 after = ~(scalars >> at); /* 0: the run fills the block */
				guint run = after == 0 ? 64 : (guint)__builtin_ctzll(after);
				if (at + run < 64 &&
				    ((not_digits >> at) & ((G_GUINT64_CONSTANT(1) << run) - 1)) ==
				            0 &&
				    (run == 1 || ((zeros >> at) & 1) == 0))
					continue;
				if (!tldrs_json_fast_scalar(p + at, end))
					return FALSE;
			}
		}

		/* the skeleton: one token per structural character, string and scalar */
		tokens = (outside &
		          _mm512_cmplt_epu8_mask(cls, _mm512_set1_epi8(TLDRS_JSON_T_STRING))) |
		         (quotes & strings) | scalar_starts;
		codes = _mm512_min_epu8(cls, _mm512_set1_epi8(TLDRS_JSON_T_SCALAR));
		if (tokens != 0) {
			__m512i packed = _mm512_maskz_compress_epi8(tokens, codes);
			guint n = (guint)__builtin_popcountll(tokens);
			__m512i at = _mm512_set1_epi8((char)fill);
			/* skeleton[0..fill) then packed[0..64 - fill) */
			__m512i merged = _mm512_permutex2var_epi8(
			        skeleton,
			        _mm512_mask_blend_epi8(_mm512_cmplt_epu8_mask(iota, at),
			                               _mm512_or_si512(_mm512_sub_epi8(iota, at),
			                                               _mm512_set1_epi8(64)),
			                               iota),
			        packed);
			fill += n;
			if (fill >= 64) {
				if (!tldrs_json_fast_chunk(&sk, merged, 64))
					return FALSE;
				fill -= 64;
				/* what did not fit: packed[n - fill .. n) */
				skeleton = _mm512_permutexvar_epi8(
				        _mm512_add_epi8(iota, _mm512_set1_epi8((char)(n - fill))),
				        packed);
			} else {
				skeleton = merged;
			}
		}
	}
	if (in_string != 0 || escaped_carry != 0)
		return FALSE;
	if (fill > 0 && !tldrs_json_fast_chunk(&sk, skeleton, fill))
		return FALSE;
	if (lines) {
		/* data ends with '\n', a token, which the skeleton took only right after the
		 * close of its line's object: every line ended so */
		if (sk.closed || sk.depth != 0)
			return FALSE;
		*n_lines = count;
		return TRUE;
	}
	return sk.closed && sk.closed_at + 1 == sk.n_tokens;
}

TLDRS_JSON_FAST_TARGET static gboolean
tldrs_json_fast_avx512(const guchar *start, gsize len)
{
	return tldrs_json_fast_avx512_body(start, len, FALSE, 0, NULL);
}

TLDRS_JSON_FAST_TARGET static gboolean
tldrs_json_fast_avx512_lines(const guchar *start, gsize len, gsize max_line, guint *n_lines)
{
	return tldrs_json_fast_avx512_body(start, len, TRUE, max_line, n_lines);
}

static gsize tldrs_json_fast_once;
static gboolean tldrs_json_fast_cpu;

static gboolean
tldrs_json_fast_available(void)
{
	if (g_once_init_enter(&tldrs_json_fast_once)) {
		__builtin_cpu_init();
		tldrs_json_fast_cpu =
		        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		        __builtin_cpu_supports("avx512vl") &&
		        __builtin_cpu_supports("avx512vbmi") &&
		        __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("bmi") &&
		        __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt") &&
		        __builtin_cpu_supports("pclmul");
		if (tldrs_json_fast_cpu)
			tldrs_json_fast_init_tables();
		g_once_init_leave(&tldrs_json_fast_once, 1);
	}
	return tldrs_json_fast_cpu;
}

#endif /* TLDRS_JSON_HAVE_FAST */

gboolean
tldrs_json_check_object_fast(const char *data, gsize len)
{
#ifdef TLDRS_JSON_HAVE_FAST
	if (data != NULL && tldrs_json_fast_available())
		return tldrs_json_fast_avx512((const guchar *)data, len);
#endif
	(void)data;
	(void)len;
	return FALSE;
}

gboolean
tldrs_json_check_lines_fast(const char *data, gsize len, gsize max_line, guint *n_lines)
{
	*n_lines = 0;
#ifdef TLDRS_JSON_HAVE_FAST
	if (data != NULL && tldrs_json_fast_available())
		return tldrs_json_fast_avx512_lines((const guchar *)data, len, max_line, n_lines);
#endif
	(void)data;
	(void)len;
	(void)max_line;
	return FALSE;
}

gboolean
tldrs_json_check_object(const char *data, gsize len, gsize *error_offset, const char **error_reason)
{
	if (tldrs_json_check_object_fast(data, len))
		return TRUE;
	return tldrs_json_check_object_exact(data, len, error_offset, error_reason);
}
