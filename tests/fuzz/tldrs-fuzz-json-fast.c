/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/*
 * libFuzzer target for the fast path of tldrs_json_check_object(): it must never be sure of a
 * line that the exact validator refuses, and the two together must decide as the exact one
 * alone. The first byte shifts the rest by 0..63 bytes of leading whitespace, so that every
 * token falls on every position of the fast path's 64-byte blocks; each copy is allocated at
 * its exact size, so that AddressSanitizer sees a read beyond the line's end. The input with a
 * '\n' added goes through the fast check of lines too, which must never be sure of lines of
 * which one is not a plain event (MaxLineBytes from the first byte as well).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tldrs-json.h"
#include "tldrs-linecheck.h"

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

/* every line of data (ending with '\n') a plain event, line by line as the daemon decides */
static gboolean
plain_lines(const char *data, gsize len, gsize max_line, guint *n_lines)
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

static void
check_lines(const char *data, gsize size, gsize max_line)
{
	char *copy = g_malloc(size + 1); /* exactly the lines */
	guint n_fast = 0;
	guint n_plain = 0;

	memcpy(copy, data, size);
	copy[size] = '\n';
	if (tldrs_json_check_lines_fast(copy, size + 1, max_line, &n_fast)) {
		if (!plain_lines(copy, size + 1, max_line, &n_plain) || n_fast != n_plain) {
			g_printerr("the fast check of lines accepts lines that are not all plain "
			           "events, or miscounts them\n");
			abort();
		}
	}
	g_free(copy);
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

	check_lines((const char *)data, size, shift < 32 ? G_MAXSIZE : shift * 4);

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
