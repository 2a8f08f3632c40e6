/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Returns TRUE when data[0..len) is exactly one JSON object (RFC 8259), optionally
 * surrounded by JSON whitespace (space, \t, \r, \n), in valid UTF-8, with nothing else.
 * On FALSE, *error_offset (if non-NULL) is the byte offset of the problem and *error_reason
 * (if non-NULL) a static, short, human-readable English reason such as
 * "invalid UTF-8", "unterminated string", "control character in string", "invalid escape",
 * "unpaired surrogate escape", "invalid number", "expected ':'", "expected ',' or '}'",
 * "trailing data after object", "not a JSON object", "nesting too deep", "empty line",
 * "unexpected end of line", "invalid literal". */
gboolean
tldrs_json_check_object(const char *data,
                        gsize len,
                        gsize *error_offset,
                        const char **error_reason);

/* the same decision as tldrs_json_check_object(), always by the exact validator, a goto state
 * machine that walks the line token by token; tldrs_json_check_object() runs it whenever the
 * fast path is not sure (and so for every line it refuses) */
gboolean
tldrs_json_check_object_exact(const char *data,
                              gsize len,
                              gsize *error_offset,
                              const char **error_reason);

/* TRUE only when the fast path (AVX-512, when this CPU has it) is sure that data[0..len) is
 * valid; FALSE says nothing: the line may still be valid (nesting deeper than 64, no
 * AVX-512).
 * Never TRUE for a line that tldrs_json_check_object_exact() refuses. For tests. */
gboolean
tldrs_json_check_object_fast(const char *data, gsize len);

/* TRUE only when the fast path is sure that every line of data[0..len) (which ends with
 * '\n') is a plain event: a valid JSON object from the line's first byte to the byte before
 * its '\n', of at most max_line bytes (what tldrs_line_is_plain_event() says of each); then
 * *n_lines is how many lines there are. FALSE says nothing of any line: it is as sure
 * as tldrs_json_check_object_fast() on each, in one pass (no search for the line ends
 * first, no call per line) */
gboolean
tldrs_json_check_lines_fast(const char *data, gsize len, gsize max_line, guint *n_lines);

#define TLDRS_JSON_MAX_DEPTH 256

G_END_DECLS
