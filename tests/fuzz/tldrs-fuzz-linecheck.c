/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/*
 * libFuzzer target for tldrs_line_check_prefix(), the daemon's check of whole reads on
 * several threads. The input, repeated to about 48 KiB (so that it is shared out in chunks
 * whose edges fall everywhere), must give exactly what checking line by line gives.
 */

#include <stdint.h>
#include <stdlib.h>

#include "tldrs-linecheck.h"

#define FUZZ_MIN_LEN (48 * 1024)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static TldrsLineCheck *check;
	g_autoptr(GString) s = NULL;
	gsize max_line;
	gsize got;
	gsize want;
	guint got_events = 0;
	guint want_events = 0;

	if (size == 0)
		return 0;
	if (check == NULL)
		check = tldrs_line_check_new(2);
	/* the first byte picks MaxLineBytes, so that over-long lines come up too */
	max_line = 16 + (gsize)data[0] * 64;
	s = g_string_sized_new(FUZZ_MIN_LEN + size + 1);
	while (s->len < FUZZ_MIN_LEN) {
		g_string_append_len(s, (const char *)data, (gssize)size);
		if (s->str[s->len - 1] != '\n')
			g_string_append_c(s, '\n');
	}
	got = tldrs_line_check_prefix(check, s->str, s->len, max_line, &got_events);
	want = tldrs_line_check_prefix(NULL, s->str, s->len, max_line, &want_events);
	if (got != want || got_events != want_events)
		abort();
	return 0;
}
