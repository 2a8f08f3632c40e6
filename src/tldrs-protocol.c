/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include <string.h>

#include "tldrs-json.h"
#include "tldrs-protocol.h"

/* how much of a refused line goes into a log message */
#define TLDRS_EXCERPT_MAX 60

static inline gboolean
tldrs_protocol_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

gboolean
tldrs_protocol_check_trace_id(const char *id, gsize len, const char **reason)
{
	const char *why = NULL;

	if (len == 0)
		why = "empty trace id";
	else if (len > TLDRS_TRACE_ID_MAX)
		why = "trace id longer than 200 bytes";
	else if (id[0] == '.')
		why = "trace id starts with '.'";
	else if (!g_utf8_validate_len(id, len, NULL))
		why = "trace id is not valid UTF-8";
	else {
		for (const char *p = id; p < id + len; p = g_utf8_next_char(p)) {
			gunichar c = g_utf8_get_char(p);
			if (c == '/') {
				why = "trace id contains '/'";
				break;
			}
			/* C0, DEL and C1 (U+0080..U+009F, e.g. CSI) */
			if (g_unichar_iscntrl(c)) {
				why = "trace id contains a control character";
				break;
			}
		}
	}
	if (reason != NULL)
		*reason = why;
	return why == NULL;
}

/* @word matches at the start of @s, followed by the end or a blank; returns the argument */
static gboolean
tldrs_protocol_match(const char *s, gsize len, const char *word, const char **arg, gsize *arg_len)
{
	gsize wlen = strlen(word);
	gsize i;

	if (len < wlen || memcmp(s, word, wlen) != 0)
		return FALSE;
	if (len > wlen && s[wlen] != ' ' && s[wlen] != '\t')
		return FALSE;
	i = wlen;
	while (i < len && tldrs_protocol_is_space(s[i]))
		i++;
	*arg = s + i;
	*arg_len = len - i;
	return TRUE;
}

void
tldrs_protocol_parse_line(const char *line, gsize len, TldrsLine *out)
{
	const char *arg = NULL;
	gsize arg_len = 0;

	/* trim */
	while (len > 0 && tldrs_protocol_is_space(line[0])) {
		line++;
		len--;
	}
	while (len > 0 && tldrs_protocol_is_space(line[len - 1]))
		len--;

	out->data = line;
	out->len = len;
	out->reason = NULL;

	if (len == 0) {
		out->kind = TLDRS_LINE_EMPTY;
		return;
	}
	if (line[0] == '{') {
		if (tldrs_json_check_object(line, len, NULL, &out->reason))
			out->kind = TLDRS_LINE_EVENT;
		else
			out->kind = TLDRS_LINE_REFUSED;
		return;
	}

	out->kind = TLDRS_LINE_REFUSED;
	if (tldrs_protocol_match(line, len, "OPEN", &arg, &arg_len)) {
		out->kind = TLDRS_LINE_OPEN;
		if (arg_len == 0)
			out->reason = "OPEN without a trace id";
		else
			tldrs_protocol_check_trace_id(arg, arg_len, &out->reason);
	} else if (tldrs_protocol_match(line, len, "EMIT_TEF_AT_EXIT", &arg, &arg_len)) {
		out->kind = TLDRS_LINE_EMIT_TEF_AT_EXIT;
		if (arg_len == 0)
			out->reason = "EMIT_TEF_AT_EXIT without a path";
	} else if (tldrs_protocol_match(line, len, "AWAIT_TEF", &arg, &arg_len)) {
		out->kind = TLDRS_LINE_AWAIT_TEF;
		if (arg_len == 0)
			out->reason = "AWAIT_TEF without a path";
	} else if (tldrs_protocol_match(line, len, "EMIT_TEF", &arg, &arg_len)) {
		out->kind = TLDRS_LINE_EMIT_TEF;
		if (arg_len == 0)
			out->reason = "EMIT_TEF without a path";
	} else if (tldrs_protocol_match(line, len, "DIE_WHEN_IDLE", &arg, &arg_len)) {
		out->kind = TLDRS_LINE_DIE_WHEN_IDLE;
		if (arg_len != 0)
			out->reason = "DIE_WHEN_IDLE takes no argument";
	} else if (tldrs_protocol_match(line, len, "DIE", &arg, &arg_len)) {
		out->kind = TLDRS_LINE_DIE;
		if (arg_len != 0)
			out->reason = "DIE takes no argument";
	} else if (line[0] == '[' || line[0] == '"') {
		out->reason = "not a JSON object";
	} else {
		out->reason = "unknown command";
	}
	if (out->reason != NULL) {
		out->kind = TLDRS_LINE_REFUSED;
		return;
	}
	if ((out->kind == TLDRS_LINE_EMIT_TEF || out->kind == TLDRS_LINE_EMIT_TEF_AT_EXIT ||
	     out->kind == TLDRS_LINE_AWAIT_TEF) &&
	    (memchr(arg, '\0', arg_len) != NULL || !g_utf8_validate_len(arg, arg_len, NULL))) {
		out->kind = TLDRS_LINE_REFUSED;
		out->reason = "path is not valid UTF-8 text";
		return;
	}
	out->data = arg;
	out->len = arg_len;
}

char *
tldrs_protocol_excerpt(const char *line, gsize len)
{
	gsize n = MIN(len, TLDRS_EXCERPT_MAX);
	GString *out = g_string_sized_new(n + 32);

	/* bytes outside printable ASCII are escaped, so a log line stays one clean line */
	for (gsize i = 0; i < n; i++) {
		guchar c = (guchar)line[i];
		if (c < 0x20 || c >= 0x7f || c == '\\')
			g_string_append_printf(out, "\\x%02x", c);
		else
			g_string_append_c(out, (char)c);
	}
	if (n < len)
		g_string_append_printf(out, "... (%" G_GSIZE_FORMAT " bytes)", len);
	return g_string_free(out, FALSE);
}

const char *
tldrs_protocol_kind_to_string(TldrsLineKind kind)
{
	switch (kind) {
	case TLDRS_LINE_EMPTY:
		return "empty";
	case TLDRS_LINE_EVENT:
		return "event";
	case TLDRS_LINE_OPEN:
		return "OPEN";
	case TLDRS_LINE_EMIT_TEF:
		return "EMIT_TEF";
	case TLDRS_LINE_EMIT_TEF_AT_EXIT:
		return "EMIT_TEF_AT_EXIT";
	case TLDRS_LINE_AWAIT_TEF:
		return "AWAIT_TEF";
	case TLDRS_LINE_DIE:
		return "DIE";
	case TLDRS_LINE_DIE_WHEN_IDLE:
		return "DIE_WHEN_IDLE";
	case TLDRS_LINE_REFUSED:
	default:
		return "refused";
	}
}
