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
tldrs_json_check_object(const char *data, gsize len, gsize *error_offset, const char **error_reason)
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
