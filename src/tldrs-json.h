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

#define TLDRS_JSON_MAX_DEPTH 256

G_END_DECLS
