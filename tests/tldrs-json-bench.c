/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/*
 * Throughput of tldrs_json_check_object() (against the exact validator alone) on ~100 MB of
 * realistic, varied trace-event lines, of the daemon's check of whole reads
 * (tldrs_line_check_prefix()) with 0 to 3 helper threads and on one read kept in the cache,
 * with json-glib on a 10 MB subset for comparison. Not a test: it only prints figures.
 *
 *   tldrs-json-bench [MEGABYTES]
 */

#include "config.h"

#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include "tldrs-json.h"
#include "tldrs-linecheck.h"

#define N_RUNS  5
#define N_PAIRS 11

typedef struct {
	GString *buf;    /* all lines, each followed by '\n' */
	GArray *offsets; /* gsize: start of each line, plus one past the last */
} Lines;

static const char *words[] = {"compile", "link",     "foo.c",  "bar.cc",  "main",  "parse",
                              "codegen", "optimize", "Lexer",  "emit",    "cache", "lookup",
                              "write",   "read",     "sched",  "wait",    "io",    "thread",
                              "GC",      "frame",    "render", "layout",  "paint", "tick",
                              "x86_64",  "libglib",  "json",   "archive", "fetch", "unpack"};

static const char *
pick_word(GRand *rand)
{
	return words[g_rand_int_range(rand, 0, G_N_ELEMENTS(words))];
}

static void
append_name(GString *s, GRand *rand)
{
	gint n = g_rand_int_range(rand, 1, 4);
	for (gint i = 0; i < n; i++) {
		if (i > 0)
			g_string_append_c(s, ' ');
		g_string_append(s, pick_word(rand));
	}
	/* now and then some non-ASCII text or an escape, as real build logs have */
	switch (g_rand_int_range(rand, 0, 20)) {
	case 0:
		g_string_append(s, " caf\xc3\xa9");
		break;
	case 1:
		g_string_append(s, " \xe6\x97\xa5\xe6\x9c\xac");
		break;
	case 2:
		g_string_append(s, " \\\"quoted\\\"");
		break;
	case 3:
		g_string_append(s, "\\tC:\\\\tmp\\\\x");
		break;
	default:
		break;
	}
}

static void
append_event(GString *s, GRand *rand, guint64 ts)
{
	static const char *phases[] = {"X", "X", "X", "X", "B", "E", "i", "C", "M"};
	const char *ph = phases[g_rand_int_range(rand, 0, G_N_ELEMENTS(phases))];
	const char *sep = g_rand_int_range(rand, 0, 4) == 0 ? ": " : ":";

	g_string_append_printf(s, "{\"ph\":\"%s\",\"name\":\"", ph);
	append_name(s, rand);
	g_string_append_printf(s, "\",\"cat\":\"%s\"", pick_word(rand));
	g_string_append_printf(s, ",\"ts\"%s%" G_GUINT64_FORMAT, sep, ts);
	if (ph[0] == 'X')
		g_string_append_printf(s, ",\"dur\":%d", g_rand_int_range(rand, 1, 5000000));
	g_string_append_printf(s,
	                       ",\"pid\":%d,\"tid\"%s%d",
	                       g_rand_int_range(rand, 1, 65536),
	                       sep,
	                       g_rand_int_range(rand, 0, 64));
	switch (ph[0]) {
	case 'X':
	case 'B':
		g_string_append_printf(s,
		                       ",\"args\":{\"file\":\"src/%s/%s.c\",\"n\":%d}",
		                       pick_word(rand),
		                       pick_word(rand),
		                       g_rand_int_range(rand, 0, 1000));
		break;
	case 'C':
		g_string_append_printf(s,
		                       ",\"args\":{\"cpu\":%.3f,\"rss\":%d,\"ok\":true}",
		                       g_rand_double(rand),
		                       g_rand_int(rand));
		break;
	case 'i':
		g_string_append(s, ",\"s\":\"g\",\"args\":{\"tags\":[\"a\",\"b\",null,-1.5e-3]}");
		break;
	case 'M':
		g_string_append(s, ",\"args\":{\"name\":\"worker\",\"sort_index\":-1}");
		break;
	default:
		break;
	}
	g_string_append(s, "}\n");
}

static Lines
make_lines(gsize megabytes)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(42);
	Lines lines = {g_string_sized_new(megabytes * 1024 * 1024 + 1024),
	               g_array_new(FALSE, FALSE, sizeof(gsize))};
	guint64 ts = G_GUINT64_CONSTANT(1732550000000000);

	while (lines.buf->len < megabytes * 1024 * 1024) {
		gsize start = lines.buf->len;
		g_array_append_val(lines.offsets, start);
		ts += (guint64)g_rand_int_range(rand, 0, 2000);
		append_event(lines.buf, rand, ts);
	}
	g_array_append_val(lines.offsets, lines.buf->len);
	return lines;
}

static gint
cmp_double(gconstpointer a, gconstpointer b)
{
	gdouble x = *(const gdouble *)a;
	gdouble y = *(const gdouble *)b;
	return (x > y) - (x < y);
}

typedef gboolean (*CheckFunc)(const char *data, gsize len, gsize *offset, const char **reason);

static gboolean
check_fast_only(const char *data, gsize len, gsize *offset, const char **reason)
{
	(void)offset;
	(void)reason;
	return tldrs_json_check_object_fast(data, len);
}

/* seconds to check lines [0, n_lines), without their '\n' */
static gdouble
time_ours(const Lines *lines, guint n_lines, CheckFunc check, guint *n_valid)
{
	const gsize *off = (const gsize *)lines->offsets->data;
	gint64 begin = g_get_monotonic_time();
	guint valid = 0;

	for (guint i = 0; i < n_lines; i++) {
		const char *line = lines->buf->str + off[i];
		valid += check(line, off[i + 1] - off[i] - 1, NULL, NULL);
	}
	*n_valid = valid;
	return (gdouble)(g_get_monotonic_time() - begin) / G_USEC_PER_SEC;
}

static gdouble
time_json_glib(const Lines *lines, guint n_lines, guint *n_valid)
{
	const gsize *off = (const gsize *)lines->offsets->data;
	g_autoptr(JsonParser) parser = json_parser_new();
	gint64 begin = g_get_monotonic_time();
	guint valid = 0;

	for (guint i = 0; i < n_lines; i++) {
		const char *line = lines->buf->str + off[i];
		gssize len = (gssize)(off[i + 1] - off[i] - 1);
		if (json_parser_load_from_data(parser, line, len, NULL) &&
		    JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser)))
			valid++;
	}
	*n_valid = valid;
	return (gdouble)(g_get_monotonic_time() - begin) / G_USEC_PER_SEC;
}

/* tldrs_line_check_prefix() over all lines in pieces of piece bytes (cut at line ends), as
 * the daemon checks its reads; returns seconds */
static gdouble
time_line_check(const Lines *lines, guint n_helpers, gsize piece, guint *n_valid)
{
	g_autoptr(TldrsLineCheck) check = tldrs_line_check_new(n_helpers);
	const char *data = lines->buf->str;
	gsize len = lines->buf->len;
	gsize pos = 0;
	guint valid = 0;
	gint64 begin = g_get_monotonic_time();

	while (pos < len) {
		gsize end = MIN(pos + piece, len);
		const char *nl = memrchr(data + pos, '\n', end - pos);
		gsize n = nl != NULL ? (gsize)(nl + 1 - (data + pos)) : len - pos;
		guint events = 0;
		gsize good = tldrs_line_check_prefix(check, data + pos, n, 1 << 20, &events);
		valid += events;
		/* a refused line: step over it, as the daemon would */
		if (good < n)
			good += (gsize)((const char *)memchr(data + pos + good, '\n', n - good) -
			                (data + pos + good)) +
			        1;
		pos += good;
	}
	*n_valid = valid;
	return (gdouble)(g_get_monotonic_time() - begin) / G_USEC_PER_SEC;
}

static void
report(const char *what, gsize bytes, guint n_lines, gdouble seconds, guint n_valid)
{
	g_print("%-28s %8.1f MB/s  %10.0f lines/s  (%.1f MB, %u lines, %u valid, %.3f s)\n",
	        what,
	        bytes / seconds / 1e6,
	        n_lines / seconds,
	        bytes / 1e6,
	        n_lines,
	        n_valid,
	        seconds);
}

int
main(int argc, char **argv)
{
	gsize megabytes = argc > 1 ? (gsize)g_ascii_strtoull(argv[1], NULL, 10) : 100;
	Lines lines;
	const gsize *off;
	guint n_lines;
	guint n_small = 0;
	gdouble runs[N_RUNS];
	guint n_valid = 0;
	gsize bytes;

	if (megabytes == 0)
		megabytes = 100;
	lines = make_lines(megabytes);
	off = (const gsize *)lines.offsets->data;
	n_lines = lines.offsets->len - 1;
	bytes = lines.buf->len - n_lines; /* without the newlines */
	g_print("%u lines, mean %.1f bytes, e.g.\n  %.*s\n",
	        n_lines,
	        (gdouble)bytes / n_lines,
	        (int)(off[1] - off[0] - 1),
	        lines.buf->str);

	/* the exact validator alone against tldrs_json_check_object() (the fast path, and the
	 * exact one when it is not sure), interleaved; then how many lines the fast path takes */
	{
		gdouble exact[N_PAIRS];
		gdouble both[N_PAIRS];
		guint n_exact = 0;
		guint n_fast = 0;
		for (guint r = 0; r < N_PAIRS; r++) {
			exact[r] =
			        time_ours(&lines, n_lines, tldrs_json_check_object_exact, &n_exact);
			both[r] = time_ours(&lines, n_lines, tldrs_json_check_object, &n_valid);
		}
		qsort(exact, N_PAIRS, sizeof(exact[0]), cmp_double);
		qsort(both, N_PAIRS, sizeof(both[0]), cmp_double);
		report("tldrs exact validator", bytes, n_lines, exact[N_PAIRS / 2], n_exact);
		g_print("%-28s %8.1f .. %.1f MB/s\n",
		        "  range",
		        bytes / exact[N_PAIRS - 1] / 1e6,
		        bytes / exact[0] / 1e6);
		report("tldrs (fast path + exact)", bytes, n_lines, both[N_PAIRS / 2], n_valid);
		g_print("%-28s %8.1f .. %.1f MB/s\n",
		        "  range",
		        bytes / both[N_PAIRS - 1] / 1e6,
		        bytes / both[0] / 1e6);
		g_print("%-28s %8.2fx (medians)\n",
		        "  speed-up",
		        exact[N_PAIRS / 2] / both[N_PAIRS / 2]);
		time_ours(&lines, n_lines, check_fast_only, &n_fast);
		g_print("%-28s %u of %u lines\n", "  sure on the fast path", n_fast, n_lines);
		if (n_valid != n_exact)
			g_printerr("MISMATCH: %u valid, exact says %u\n", n_valid, n_exact);
	}

	/* the daemon's check of whole reads, on this CPU alone and with helper threads */
	for (guint h = 0; h < MIN(g_get_num_processors(), 4); h++) {
		const gsize pieces[] = {64 * 1024, 256 * 1024};
		for (guint k = 0; k < G_N_ELEMENTS(pieces); k++) {
			char what[64];
			for (guint r = 0; r < N_RUNS; r++)
				runs[r] = time_line_check(&lines, h, pieces[k], &n_valid);
			qsort(runs, N_RUNS, sizeof(runs[0]), cmp_double);
			g_snprintf(what,
			           sizeof(what),
			           "reads of %3" G_GSIZE_FORMAT " KiB, %u helper%s",
			           pieces[k] / 1024,
			           h,
			           h == 1 ? "" : "s");
			report(what, bytes, n_lines, runs[N_RUNS / 2], n_valid);
		}
	}

	/* one read of 128 KiB checked again and again: its bytes stay in the cache, as those of
	 * a read the daemon has just received do (the rows above stream from memory) */
	{
		const char *data = lines.buf->str;
		const char *nl = memrchr(data, '\n', MIN(lines.buf->len, 128 * 1024));
		gsize n = (gsize)(nl + 1 - data);
		guint hot_lines = 0;
		guint reps = (guint)MAX(lines.buf->len / n, 1);
		for (gsize i = 0; i < n; i++)
			hot_lines += data[i] == '\n';
		for (guint r = 0; r < N_RUNS; r++) {
			gint64 begin = g_get_monotonic_time();
			n_valid = 0;
			for (guint k = 0; k < reps; k++) {
				guint events = 0;
				tldrs_line_check_prefix(NULL, data, n, 1 << 20, &events);
				n_valid += events;
			}
			runs[r] = (gdouble)(g_get_monotonic_time() - begin) / G_USEC_PER_SEC;
		}
		qsort(runs, N_RUNS, sizeof(runs[0]), cmp_double);
		report("a 128 KiB read, cache-hot",
		       (n - hot_lines) * (gsize)reps,
		       hot_lines * reps,
		       runs[N_RUNS / 2],
		       n_valid);
	}

	/* json-glib on the first 10 MB */
	while (n_small < n_lines && off[n_small] < 10 * 1024 * 1024)
		n_small++;
	for (guint r = 0; r < 3; r++)
		runs[r] = time_json_glib(&lines, n_small, &n_valid);
	qsort(runs, 3, sizeof(runs[0]), cmp_double);
	report("json-glib", off[n_small] - n_small, n_small, runs[1], n_valid);

	g_string_free(lines.buf, TRUE);
	g_array_unref(lines.offsets);
	return 0;
}
