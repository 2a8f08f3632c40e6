/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* libFuzzer target for the line protocol: each input line goes through
 * tldrs_protocol_parse_line(); what it calls an event must be a strict JSON object, what it
 * calls OPEN must carry a safe trace id, and excerpts stay short printable ASCII. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tldrs-json.h"
#include "tldrs-protocol.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *end = p + size;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		TldrsLine line;
		g_autofree char *excerpt = tldrs_protocol_excerpt(p, len);

		for (const char *c = excerpt; *c != '\0'; c++) {
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				abort();
		}
		/* 60 bytes, each at most 4 characters escaped, and the length note */
		if (strlen(excerpt) > 60 * 4 + 40)
			abort();
		tldrs_protocol_parse_line(p, len, &line);
		if (line.data < p || line.data + line.len > p + len)
			abort();
		switch (line.kind) {
		case TLDRS_LINE_EVENT:
			if (!tldrs_json_check_object(line.data, line.len, NULL, NULL))
				abort();
			break;
		case TLDRS_LINE_OPEN:
			if (!tldrs_protocol_check_trace_id(line.data, line.len, NULL) ||
			    memchr(line.data, '/', line.len) != NULL || line.data[0] == '.')
				abort();
			break;
		case TLDRS_LINE_REFUSED:
			if (line.reason == NULL)
				abort();
			break;
		default:
			break;
		}
		p += len + 1;
	}
	return 0;
}
