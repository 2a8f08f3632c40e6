/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The parallel line check must give exactly what checking line by line gives, wherever the
 * first line that is not a plain event falls (first line, chunk edges, last line), with any
 * number of helper threads, and over many jobs in a row. */

#include <string.h>

#include "tldrs-json.h"
#include "tldrs-linecheck.h"

#define MAX_LINE 65536

/* TLDRS_TEST_SCALE (0.2 under the sanitizers) shrinks the random part of the work */
static gdouble
test_scale(void)
{
	const char *scale = g_getenv("TLDRS_TEST_SCALE");
	gdouble v = scale != NULL ? g_ascii_strtod(scale, NULL) : 1.0;
	return v > 0 && v <= 1 ? v : 1.0;
}

static void
append_event(GString *s, GRand *rand, guint seq)
{
	gint pad = g_rand_int_range(rand, 0, 100) == 0 ? g_rand_int_range(rand, 1000, 20000)
	                                               : g_rand_int_range(rand, 0, 60);
	g_string_append_printf(s,
	                       "{\"ph\":\"X\",\"name\":\"step %u\",\"ts\":%u.5,\"pid\":1,\"tid\":2,"
	                       "\"args\":{\"pad\":\"",
	                       seq,
	                       seq * 7);
	for (gint i = 0; i < pad; i++)
		g_string_append_c(s, (char)('a' + i % 26));
	g_string_append(s, "\",\"l\":[1,true,null,\"\\u00e9\"]}}\n");
}

static const char *bad_lines[] = {
        "OPEN other-trace",
        "{\"ph\":\"X\",}",
        "",
        "{\"a\":1} ",
        "{\"a\":\"\x01\"}",
        "[1,2]",
        "EMIT_TEF /tmp/x.json",
};

/* the lines that tldrs_line_check_prefix() must report, checked one by one */
static gsize
expected_prefix(const char *data, gsize len, guint *n_events)
{
	const char *p = data;
	const char *end = data + len;
	guint n = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (gsize)(end - p));
		if (!tldrs_line_is_plain_event(p, (gsize)(nl - p), MAX_LINE))
			break;
		n++;
		p = nl + 1;
	}
	*n_events = n;
	return (gsize)(p - data);
}

static void
check_one(TldrsLineCheck *check, const GString *s)
{
	guint want_events = 0;
	guint got_events = G_MAXUINT;
	gsize want = expected_prefix(s->str, s->len, &want_events);
	gsize got = tldrs_line_check_prefix(check, s->str, s->len, MAX_LINE, &got_events);
	g_assert_cmpuint(got, ==, want);
	g_assert_cmpuint(got_events, ==, want_events);
}

static void
test_bad_line_anywhere(gconstpointer data)
{
	guint n_helpers = GPOINTER_TO_UINT(data);
	g_autoptr(TldrsLineCheck) check = tldrs_line_check_new(n_helpers);
	g_autoptr(GRand) rand = g_rand_new_with_seed(7);
	g_autoptr(GString) good = g_string_new(NULL);
	g_autoptr(GArray) starts = g_array_new(FALSE, FALSE, sizeof(gsize));
	guint seq = 0;

	g_assert_cmpuint(tldrs_line_check_get_n_helpers(check), ==, n_helpers);
	while (good->len < 600 * 1024) {
		g_array_append_val(starts, good->len);
		append_event(good, rand, seq++);
	}
	/* all good, then a bad line in place of the first, a middle and the last line, and of
	 * lines around 16 KiB chunk edges */
	check_one(check, good);
	for (guint i = 0; i < starts->len; i++) {
		gsize at = g_array_index(starts, gsize, i);
		gboolean edge = i > 0 && at / 16384 != g_array_index(starts, gsize, i - 1) / 16384;
		if (i != 0 && i != starts->len / 2 && i != starts->len - 1 && !edge &&
		    g_rand_double(rand) >= test_scale() / 40)
			continue;
		for (guint b = 0; b < G_N_ELEMENTS(bad_lines); b++) {
			g_autoptr(GString) s = g_string_new_len(good->str, (gssize)at);
			const char *rest = memchr(good->str + at, '\n', good->len - at) + 1;
			g_string_append(s, bad_lines[b]);
			g_string_append_c(s, '\n');
			g_string_append_len(s, rest, (gssize)(good->str + good->len - rest));
			check_one(check, s);
		}
	}
}

static void
test_too_long(void)
{
	g_autoptr(TldrsLineCheck) check = tldrs_line_check_new(2);
	g_autoptr(GString) s = g_string_new(NULL);
	g_autoptr(GRand) rand = g_rand_new_with_seed(3);
	guint n = 0;
	gsize good;

	for (guint i = 0; i < 500; i++)
		append_event(s, rand, i);
	/* a valid object one byte over the limit */
	g_string_append(s, "{\"big\":\"");
	while (s->len < 200 * 1024)
		g_string_append_c(s, 'x');
	g_string_append(s, "\"}\n");
	for (guint i = 0; i < 500; i++)
		append_event(s, rand, i);
	good = tldrs_line_check_prefix(check, s->str, s->len, MAX_LINE, &n);
	g_assert_cmpuint(n, ==, 500);
	g_assert_cmpint(s->str[good], ==, '{');
	g_assert_cmpint(s->str[good + 2], ==, 'b');
	good = tldrs_line_check_prefix(check, s->str, s->len, 1024 * 1024, &n);
	g_assert_cmpuint(good, ==, s->len);
	g_assert_cmpuint(n, ==, 1001);
}

/* many jobs of every size in a row: the helpers must never mix up jobs */
static void
test_many_jobs(void)
{
	g_autoptr(TldrsLineCheck) check = tldrs_line_check_new(3);
	g_autoptr(GRand) rand = g_rand_new_with_seed(11);
	g_autoptr(GString) all = g_string_new(NULL);
	guint rounds = (guint)((g_test_slow() ? 20000 : 3000) * test_scale());

	for (guint i = 0; all->len < 1536 * 1024; i++)
		append_event(all, rand, i);
	for (guint r = 0; r < rounds; r++) {
		gsize len = (gsize)g_rand_int_range(rand, 1, (gint)all->len);
		const char *nl = memchr(all->str + len - 1, '\n', all->len - len + 1);
		g_autoptr(GString) s = g_string_new_len(all->str, nl + 1 - all->str);
		if (g_rand_boolean(rand)) {
			gsize at = (gsize)g_rand_int_range(rand, 0, (gint)s->len);
			s->str[at] = (char)g_rand_int_range(rand, 0, 256);
		}
		if (s->str[s->len - 1] != '\n')
			g_string_append_c(s, '\n');
		check_one(check, s);
	}
}

/* a read's verdict on each line is the exact validator's, for events of every length around
 * the fast path's 64-byte blocks, valid or with a fault at every position near a block edge */
static void
test_exact_verdicts(void)
{
	static const char *faults[] = {"\\x", "\x01", "\xc3(", "\\ud800", "\"", "\\"};
	guint n_bad = 0;

	for (guint pad = 0; pad < 200; pad++) {
		for (guint f = 0; f <= G_N_ELEMENTS(faults); f++) {
			g_autoptr(GString) s = g_string_new("{\"ph\":\"X\",\"name\":\"");
			g_autofree char *read = NULL;
			gsize len;
			gsize got;
			guint n_events = 0;
			gboolean want;

			for (guint i = 0; i < pad; i++)
				g_string_append_c(s, i % 9 == 4 ? ' ' : (char)('a' + i % 26));
			if (f < G_N_ELEMENTS(faults))
				g_string_append(s, faults[f]);
			g_string_append(s, "\",\"ts\":12.5,\"args\":{\"l\":[1,\"\\u00e9\"]}}");
			want = tldrs_json_check_object_exact(s->str, s->len, NULL, NULL);
			n_bad += !want;
			/* the read, exactly sized: ASan sees any read beyond it */
			len = s->len + 1;
			read = g_malloc(len);
			memcpy(read, s->str, s->len);
			read[s->len] = '\n';
			got = tldrs_line_check_prefix(NULL, read, len, MAX_LINE, &n_events);
			g_assert_cmpuint(got, ==, want ? len : 0);
			g_assert_cmpuint(n_events, ==, want ? 1 : 0);
		}
	}
	g_assert_cmpuint(n_bad, >, 0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_data_func(
	        "/linecheck/bad-line-anywhere/inline", GUINT_TO_POINTER(0), test_bad_line_anywhere);
	g_test_add_data_func("/linecheck/bad-line-anywhere/1-helper",
	                     GUINT_TO_POINTER(1),
	                     test_bad_line_anywhere);
	g_test_add_data_func("/linecheck/bad-line-anywhere/3-helpers",
	                     GUINT_TO_POINTER(3),
	                     test_bad_line_anywhere);
	g_test_add_func("/linecheck/too-long", test_too_long);
	g_test_add_func("/linecheck/many-jobs", test_many_jobs);
	g_test_add_func("/linecheck/exact-verdicts", test_exact_verdicts);
	return g_test_run();
}
