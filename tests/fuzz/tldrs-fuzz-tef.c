/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* libFuzzer target for the TEF writer: whatever a stored trace file holds (plain or gzip,
 * damaged, cut), the TEF written from it is strict JSON. When the input's first byte has bit
 * 1 set and it is a plain file ending in '\n', it is vouched for as the daemon's own, and the
 * events of the TEF must be its non-empty lines exactly as they are (the copy that does not check
 * them). */

/* _GNU_SOURCE (for memfd_create) comes from config.h, which every file includes first */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "tldrs-checked.h"
#include "tldrs-json.h"
#include "tldrs-tef.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gboolean
write_all(int fd, const uint8_t *data, size_t size)
{
	while (size > 0) {
		ssize_t n = write(fd, data, size);
		if (n <= 0)
			return FALSE;
		data += n;
		size -= (size_t)n;
	}
	return TRUE;
}

/* the TEF of a vouched file: its header, the non-empty lines joined by ",\n", "\n]" */
static void
check_vouched_copy(const uint8_t *data, size_t size, const char *tef, gsize len, guint64 events)
{
	g_autoptr(GString) want = g_string_new(data[0] & 1 ? "[\n" : "{\"traceEvents\":[\n");
	guint64 n = 0;
	size_t start = 0;
	for (size_t i = 0; i < size; i++) {
		if (data[i] != '\n')
			continue;
		if (i > start) {
			if (n++ > 0)
				g_string_append(want, ",\n");
			g_string_append_len(want, (const char *)data + start, (gssize)(i - start));
		}
		start = i + 1;
	}
	g_string_append(want, "\n]");
	if (n != events || len < want->len || memcmp(tef, want->str, want->len) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int in = memfd_create("tldrs-fuzz-in", MFD_CLOEXEC);
	int out = memfd_create("tldrs-fuzz-out", MFD_CLOEXEC);
	g_autofree char *in_path = NULL;
	g_autofree char *result = NULL;
	g_autoptr(GError) error = NULL;
	TldrsTefStats stats = {0};
	gboolean vouched;
	off_t len;
	/* what the daemon vouches for, as its TEF jobs are given it */
	static TldrsChecked *checked = NULL;

	if (checked == NULL)
		checked = tldrs_checked_new();
	if (in < 0 || out < 0 || !write_all(in, data, size))
		abort();
	in_path = g_strdup_printf("/proc/self/fd/%d", in);
	/* the daemon vouches only for a plain .jsonl: not for what the reader takes as gzip */
	vouched = size > 0 && (data[0] & 2) != 0 && data[size - 1] == '\n' &&
	          !(size >= 2 && data[0] == 0x1f && data[1] == 0x8b);
	if (vouched) {
		GStatBuf st;
		TldrsCheckedFile file;
		if (g_stat(in_path, &st) != 0)
			abort();
		tldrs_checked_file_from_stat(&file, &st);
		tldrs_checked_vouch(checked, in_path, &file);
	}
	if (!tldrs_tef_write_fd(in_path,
	                        G_MAXUINT64,
	                        out,
	                        "fuzz",
	                        data[0] & 1 ? TLDRS_TEF_FORMAT_ARRAY : TLDRS_TEF_FORMAT_OBJECT,
	                        "fuzz \"id\"",
	                        checked,
	                        NULL,
	                        NULL,
	                        &stats,
	                        &error)) {
		/* only a read error may fail it, and a memfd has none */
		abort();
	}
	len = lseek(out, 0, SEEK_CUR);
	result = g_malloc((gsize)len + 16);
	if (pread(out, result + 7, (size_t)len, 0) != len)
		abort();
	if (vouched) {
		tldrs_checked_vouch(checked, in_path, NULL);
		check_vouched_copy(data, size, result + 7, (gsize)len, stats.events);
		/* a vouched file's lines are not checked: the output need not be JSON */
		close(in);
		close(out);
		return 0;
	}
	if (size > 0 && (data[0] & 1)) {
		/* the array form, wrapped into an object for the validator */
		memcpy(result + 2, "{\"a\":", 5);
		result[7 + len] = '}';
		if (!tldrs_json_check_object(result + 2, (gsize)len + 6, NULL, NULL))
			abort();
	} else if (!tldrs_json_check_object(result + 7, (gsize)len, NULL, NULL)) {
		abort();
	}
	close(in);
	close(out);
	return 0;
}
