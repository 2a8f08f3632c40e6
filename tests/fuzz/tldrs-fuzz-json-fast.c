/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/*
 * libFuzzer target for the fast path of tldrs_json_check_object(): it must never be sure of a
 * line that the exact validator refuses, and the two together must decide as the exact one
 * alone. The first byte shifts the rest by 0..63 bytes of leading whitespace, so that every
 * token falls on every position of the fast path's 64-byte blocks; each copy is allocated at
 * its exact size, so that AddressSanitizer sees a read beyond the line's end.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tldrs-json.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_one(const char *line, gsize len)
{
	gboolean exact = tldrs_json_check_object_exact(line, len, NULL, NULL);
	gboolean fast = tldrs_json_check_object_fast(line, len);
	gsize offset = G_MAXSIZE;
	const char *reason = NULL;

	if (fast && !exact) {
		g_printerr("the fast path accepts a line the exact validator refuses\n");
		abort();
	}
	if (tldrs_json_check_object(line, len, &offset, &reason) != exact)
		abort();
	if (!exact && (reason == NULL || offset > len))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gsize shift;
	char *copy;

	if (size == 0)
		return 0;
	shift = data[0] % 64;
	data++;
	size--;

	copy = g_malloc(MAX(size, 1)); /* exactly the line: ASan sees one byte too far */
	memcpy(copy, data, size);
	check_one(copy, size);
	g_free(copy);

	if (shift > 0) {
		copy = g_malloc(shift + size);
		for (gsize i = 0; i < shift; i++)
			copy[i] = (shift % 5 == 0) ? '\n' : ' ';
		memcpy(copy + shift, data, size);
		check_one(copy, shift + size);
		g_free(copy);
	}
	return 0;
}
