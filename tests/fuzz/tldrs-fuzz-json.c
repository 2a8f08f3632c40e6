/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/*
 * libFuzzer target for tldrs_json_check_object().
 *
 * Besides memory safety, it checks the verdict against json-glib in the one direction where
 * that is meaningful: json-glib is more lenient than RFC 8259 (it takes comments, single
 * quotes, leading zeros, raw control characters...), so everything we accept must parse there
 * as an object, but not the other way round.
 */

#include <json-glib/json-glib.h>
#include <stdint.h>
#include <stdlib.h>

#include "tldrs-json.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gsize offset = G_MAXSIZE;
	const char *reason = NULL;
	g_autoptr(JsonParser) parser = NULL;
	g_autoptr(GError) error = NULL;
	JsonNode *root;

	if (!tldrs_json_check_object((const char *)data, size, &offset, &reason)) {
		if (reason == NULL || offset > size)
			abort();
		return 0;
	}

	/* what we accept is valid UTF-8 without NUL bytes */
	if (!g_utf8_validate_len((const char *)data, size, NULL))
		abort();

	parser = json_parser_new();
	if (!json_parser_load_from_data(parser, (const char *)data, (gssize)size, &error)) {
		g_printerr("json-glib refused an accepted line: %s\n", error->message);
		abort();
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		abort();
	return 0;
}
