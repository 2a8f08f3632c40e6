/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* the longest trace id we accept, in bytes */
#define TLDRS_TRACE_ID_MAX 200

typedef enum {
	TLDRS_LINE_EMPTY,
	TLDRS_LINE_EVENT,
	TLDRS_LINE_OPEN,
	TLDRS_LINE_EMIT_TEF,
	TLDRS_LINE_EMIT_TEF_AT_EXIT,
	TLDRS_LINE_AWAIT_TEF,
	TLDRS_LINE_DIE,
	TLDRS_LINE_DIE_WHEN_IDLE,
	TLDRS_LINE_REFUSED,
} TldrsLineKind;

/**
 * TldrsLine:
 * @kind: what the line is
 * @data: for an event, the trimmed JSON object; for a command, its trimmed argument
 *   (not NUL-terminated; points into the parsed buffer)
 * @len: length of @data
 * @reason: for %TLDRS_LINE_REFUSED, a static English reason
 */
typedef struct {
	TldrsLineKind kind;
	const char *data;
	gsize len;
	const char *reason;
} TldrsLine;

void
tldrs_protocol_parse_line(const char *line, gsize len, TldrsLine *out);
gboolean
tldrs_protocol_check_trace_id(const char *id, gsize len, const char **reason);
char *
tldrs_protocol_excerpt(const char *line, gsize len);
const char *
tldrs_protocol_kind_to_string(TldrsLineKind kind);

G_END_DECLS
