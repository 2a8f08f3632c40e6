/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs-bench"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <locale.h>

#include "tldrs-bench-config.h"
#include "tldrs-bench.h"

/* tldrs-bench: `tldrs serve` end to end (first byte sent until every event is in the trace
 * file), beside two reference servers run in the same invocation, interleaved run by run:
 * one shaped like the Rust original (tldrs-bench-threaded.c) and a trivial one
 * (tldrs-bench-reference.c). See docs/performance.md for the figures and how to read them. */

#define BENCH_STALL_TIMEOUT    30.0         /* seconds without progress before a run fails */
#define BENCH_GZ_SLICE         (256 * 1024) /* compressed bytes inflated between samples */
#define BENCH_LATENCY_CLIENTS  16
#define BENCH_LATENCY_BATCH    4
#define BENCH_IDLE_CONNECTIONS 5000
/* seconds after a burst of clients left until the server's RSS is read: it gives memory
 * back a second after its last connection left */
#define BENCH_BURST_SETTLE  3.0
#define BENCH_GET_TEF_BYTES (G_GUINT64_CONSTANT(1) << 30)
#define BENCH_MIB           (1024.0 * 1024.0)

/* the servers, in the order of the tables */
typedef enum {
	BENCH_TLDRS,
	BENCH_THREADED, /* shaped like the Rust original: a thread per connection */
	BENCH_TRIVIAL,  /* the least a collector can do: the machine's practical limit */
	BENCH_N_KINDS,
	/* in the ingest scenarios only: the least a thread-per-connection server can do */
	BENCH_BARE = BENCH_N_KINDS,
	BENCH_N_INGEST_KINDS,
} BenchKind;

typedef struct {
	char *title;
	GPtrArray *columns; /* char* */
	GPtrArray *rows;    /* GPtrArray of char* */
	GPtrArray *notes;   /* char* */
} BenchTable;

typedef struct {
	char *tldrs_bin;
	char *self_exe;
	char *dir; /* our temporary directory */
	char *perf_dir;
	gboolean quick;
	gboolean markdown;
	gboolean keep;
	guint runs;
	guint seq;
	gboolean failed;
	BenchTable *ingest;
	BenchTable *latency;
	BenchTable *get_tef;
	BenchTable *gzip;
	BenchTable *nats;
	BenchTable *idle;
	BenchTable *run;
	BenchTable *targets;
	gdouble sixteen_hwm; /* median peak RSS of tldrs in the sixteen scenario, or < 0 */
	gdouble gzip_flush;  /* FlushIntervalSec of the gzip scenario */
} Bench;

typedef struct {
	gdouble wall;
	gdouble cpu;
	gdouble hwm; /* MiB */
	gdouble eps; /* events/s */
	gdouble mbps;
	gdouble stopped;   /* seconds from the first byte sent until the server exited (SIGTERM
	                    * once every event was in the file) */
	gdouble rss_after; /* MiB, BENCH_BURST_SETTLE s after the last client left (if asked) */
} BenchSample;

typedef struct {
	gdouble median;
	gdouble min;
	gdouble max;
	guint n;
} BenchStat;

/* ---- small helpers ---- */

static void
bench_progress(const char *format, ...) G_GNUC_PRINTF(1, 2);

static void
bench_progress(const char *format, ...)
{
	va_list args;
	g_autofree char *msg = NULL;
	va_start(args, format);
	msg = g_strdup_vprintf(format, args);
	va_end(args);
	g_printerr("tldrs-bench: %s\n", msg);
}

static int
bench_cmp_double(gconstpointer a, gconstpointer b)
{
	gdouble x = *(const gdouble *)a;
	gdouble y = *(const gdouble *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

static BenchStat
bench_stat(const gdouble *values, guint n)
{
	BenchStat s = {-1, -1, -1, n};
	g_autofree gdouble *v = NULL;
	if (n == 0)
		return s;
	v = g_memdup2(values, n * sizeof(gdouble));
	qsort(v, n, sizeof(gdouble), bench_cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.median = n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

/* the @q quantile of @v (sorted in place) */
static gdouble
bench_quantile(GArray *v, gdouble q)
{
	guint i;
	if (v->len == 0)
		return -1;
	g_array_sort(v, bench_cmp_double);
	i = (guint)(q * (v->len - 1) + 0.5);
	return g_array_index(v, gdouble, MIN(i, v->len - 1));
}

/* one field of every sample */
static BenchStat
bench_sample_stat(GArray *samples, gsize offset)
{
	g_autofree gdouble *v = g_new0(gdouble, samples->len + 1);
	for (guint i = 0; i < samples->len; i++)
		v[i] = *(gdouble *)((char *)&g_array_index(samples, BenchSample, i) + offset);
	return bench_stat(v, samples->len);
}

#define BENCH_STAT(samples, field) bench_sample_stat((samples), G_STRUCT_OFFSET(BenchSample, field))

/* "median (min-max)" scaled by @scale */
static char *
bench_fmt_stat(BenchStat s, gdouble scale, int decimals)
{
	if (s.n == 0)
		return g_strdup("-");
	if (s.n == 1)
		return g_strdup_printf("%.*f", decimals, s.median * scale);
	return g_strdup_printf("%.*f (%.*f-%.*f)",
	                       decimals,
	                       s.median * scale,
	                       decimals,
	                       s.min * scale,
	                       decimals,
	                       s.max * scale);
}

static char *
bench_fmt(int decimals, gdouble value)
{
	if (value < 0)
		return g_strdup("-");
	return g_strdup_printf("%.*f", decimals, value);
}

/* ---- tables ---- */

static BenchTable *
bench_table_new(const char *title, const char *const *columns)
{
	BenchTable *t = g_new0(BenchTable, 1);
	t->title = g_strdup(title);
	t->columns = g_ptr_array_new_with_free_func(g_free);
	t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
	t->notes = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; columns[i] != NULL; i++)
		g_ptr_array_add(t->columns, g_strdup(columns[i]));
	return t;
}

static void
bench_table_free(BenchTable *t)
{
	if (t == NULL)
		return;
	g_free(t->title);
	g_ptr_array_unref(t->columns);
	g_ptr_array_unref(t->rows);
	g_ptr_array_unref(t->notes);
	g_free(t);
}

/* takes the cells (allocated strings), one per column */
static void
bench_table_add(BenchTable *t, ...)
{
	GPtrArray *row = g_ptr_array_new_with_free_func(g_free);
	va_list args;
	va_start(args, t);
	for (guint i = 0; i < t->columns->len; i++) {
		char *cell = va_arg(args, char *);
		g_ptr_array_add(row, cell != NULL ? cell : g_strdup("-"));
	}
	va_end(args);
	g_ptr_array_add(t->rows, row);
}

static void
bench_table_note(BenchTable *t, const char *note)
{
	g_ptr_array_add(t->notes, g_strdup(note));
}

static void
bench_table_print(BenchTable *t, gboolean markdown)
{
	g_autofree guint *width = NULL;

	if (t == NULL || t->rows->len == 0)
		return;
	width = g_new0(guint, t->columns->len);
	for (guint c = 0; c < t->columns->len; c++) {
		width[c] = (guint)g_utf8_strlen(g_ptr_array_index(t->columns, c), -1);
		for (guint r = 0; r < t->rows->len; r++) {
			GPtrArray *row = g_ptr_array_index(t->rows, r);
			width[c] =
			        MAX(width[c], (guint)g_utf8_strlen(g_ptr_array_index(row, c), -1));
		}
	}
	if (markdown)
		g_print("### %s\n\n", t->title);
	else
		g_print("%s\n\n", t->title);
	for (guint r = 0; r < t->rows->len + 2; r++) {
		GPtrArray *row = r == 0   ? t->columns
		                 : r >= 2 ? g_ptr_array_index(t->rows, r - 2)
		                          : NULL;
		if (markdown)
			g_print("|");
		for (guint c = 0; c < t->columns->len; c++) {
			const char *cell = row != NULL ? g_ptr_array_index(row, c) : NULL;
			guint pad;
			if (cell == NULL) {
				/* the separator line */
				for (guint i = 0; i < width[c] + (markdown ? 2 : 0); i++)
					g_print("-");
				if (markdown || c + 1 < t->columns->len)
					g_print(markdown ? "|" : "  ");
				continue;
			}
			pad = width[c] - (guint)g_utf8_strlen(cell, -1);
			if (markdown)
				g_print(" %s%*s |", cell, (int)pad, "");
			else if (c + 1 < t->columns->len)
				g_print("%s%*s  ", cell, (int)pad, "");
			else
				g_print("%s", cell);
		}
		g_print("\n");
	}
	g_print("\n");
	/* in Markdown each note is a paragraph of its own */
	for (guint i = 0; i < t->notes->len; i++)
		g_print(markdown && i > 0 ? "\n%s\n" : "%s\n",
		        (const char *)g_ptr_array_index(t->notes, i));
	if (t->notes->len > 0)
		g_print("\n");
}

/* a target (docs/performance.md, "Targets"): @value must be at least (or at most) @target */
static void
bench_target(Bench *b,
             const char *what,
             gdouble value,
             gdouble target,
             gboolean at_least,
             const char *unit,
             int decimals)
{
	gboolean met = at_least ? value >= target : value <= target;
	/* --quick figures are not judged (CI's smoke run): nothing there reads like a failure */
	const char *missed = b->quick ? "info only (--quick)" : "MISSED";
	g_autofree char *result = NULL;
	if (value < 0) {
		bench_table_add(
		        b->targets, g_strdup(what), g_strdup("-"), g_strdup("not measured"));
		return;
	}
	if (met)
		result = g_strdup("met");
	else if (at_least)
		result = g_strdup_printf(
		        "%s, %.0f %% below", missed, 100.0 * (target - value) / target);
	else
		result = g_strdup_printf(
		        "%s, %.0f %% over", missed, 100.0 * (value - target) / target);
	bench_table_add(b->targets,
	                g_strdup(what),
	                g_strdup_printf("%.*f%s", decimals, value, unit),
	                g_steal_pointer(&result));
}

/* ---- servers ---- */

static BenchServer *
bench_start(Bench *b,
            BenchKind kind,
            guint n,
            const char *config,
            const char *run_dir,
            const char *file,
            GError **error)
{
	g_autofree char *sock = g_strdup_printf("%s/r%u.sock", b->dir, n);
	g_autofree char *log = g_strdup_printf("%s/r%u.log", b->dir, n);
	g_autofree char *conf = g_strdup_printf("%s/r%u.conf", b->dir, n);

	if (kind == BENCH_TLDRS) {
		const char *argv[] = {b->tldrs_bin,
		                      "serve",
		                      "--config",
		                      conf,
		                      "--socket",
		                      sock,
		                      "-d",
		                      run_dir,
		                      NULL};
		if (!g_file_set_contents(conf, config, -1, error))
			return NULL;
		return bench_server_start(argv, sock, log, error);
	} else if (kind == BENCH_THREADED) {
		const char *argv[] = {b->self_exe, "--internal-threaded", sock, run_dir, NULL};
		return bench_server_start(argv, sock, log, error);
	} else if (kind == BENCH_BARE) {
		const char *argv[] = {b->self_exe, "--internal-bare", sock, run_dir, NULL};
		return bench_server_start(argv, sock, log, error);
	} else {
		const char *argv[] = {b->self_exe, "--internal-reference", sock, file, NULL};
		return bench_server_start(argv, sock, log, error);
	}
}

static int *
bench_connect_many(const char *sock, guint n, GError **error)
{
	int *fds = g_new(int, n);
	for (guint c = 0; c < n; c++) {
		fds[c] = bench_connect(sock, error);
		if (fds[c] < 0) {
			for (guint i = 0; i < c; i++)
				close(fds[i]);
			g_free(fds);
			return NULL;
		}
	}
	return fds;
}

static const char *
bench_kind_name(BenchKind kind)
{
	static const char *const names[] = {"tldrs", "threaded", "trivial", "bare"};
	return names[kind];
}

/* a failed run: say why, show the server's log, remember it */
static void
bench_fail(Bench *b, const char *scenario, BenchKind kind, BenchServer *server, GError *error)
{
	b->failed = TRUE;
	g_printerr("tldrs-bench: %s, %s: %s\n",
	           scenario,
	           bench_kind_name(kind),
	           error != NULL ? error->message : "failed");
	if (server != NULL) {
		g_autofree char *log = bench_server_log_tail(server);
		if (log[0] != '\0')
			g_printerr("tldrs-bench: its log (%s) ends with:\n%s\n",
			           server->log_path,
			           log);
	}
}

/* ---- ingest: first byte sent until every event is in the file ---- */

static gboolean
bench_wait_for_size(const char *path, guint64 expected, gdouble t0, GError **error)
{
	guint64 last = 0;
	gdouble last_change = t0;
	for (;;) {
		GStatBuf sb;
		guint64 size = g_stat(path, &sb) == 0 ? (guint64)sb.st_size : 0;
		gdouble now;
		if (size >= expected)
			return TRUE;
		now = bench_now();
		if (size != last) {
			last = size;
			last_change = now;
		} else if (now - last_change > BENCH_STALL_TIMEOUT) {
			g_set_error(error,
			            G_IO_ERROR,
			            G_IO_ERROR_TIMED_OUT,
			            "%s holds %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
			            " bytes and has not grown for %.0f s",
			            path,
			            size,
			            expected,
			            BENCH_STALL_TIMEOUT);
			return FALSE;
		}
		bench_sleep(0.0005);
	}
}

/* the time of the first sample at which the file held at least size bytes */
typedef struct {
	gdouble t;
	guint64 size;
} BenchSizeSample;

static gdouble
bench_time_of_size(GArray *samples, guint64 size)
{
	for (guint i = 0; i < samples->len; i++) {
		const BenchSizeSample *s = &g_array_index(samples, BenchSizeSample, i);
		if (s->size >= size)
			return s->t;
	}
	return -1;
}

/* Until both the .jsonl and the .jsonl.gz hold every event; returns when that was. The sizes
 * of both files are sampled every 0.5 ms. The .gz is decompressed (to count its events, and to
 * find the compressed offset by which they were all there) only once the .jsonl is complete,
 * so as not to take a CPU from the daemon before; that takes the benchmark ~0.5 s of its own,
 * which is not the daemon's time, so the end is the first sample at which the .gz had grown to
 * that offset. Between slices of decompression the sizes are sampled again, so that sample is
 * at most a slice's inflate (a few ms) late, never early. */
static gdouble
bench_wait_for_gz(BenchGzTail *tail,
                  BenchVerify *v,
                  guint64 events,
                  const char *jsonl,
                  guint64 jsonl_bytes,
                  gdouble t0,
                  GError **error)
{
	g_autoptr(GArray) gz_sizes = g_array_new(FALSE, FALSE, sizeof(BenchSizeSample));
	guint64 last = 0;
	gdouble last_change = t0;
	gdouble jsonl_done = -1;

	tail->want_events = events;
	for (;;) {
		GStatBuf sb;
		guint64 size = g_stat(jsonl, &sb) == 0 ? (guint64)sb.st_size : 0;
		guint64 gz = g_stat(tail->path, &sb) == 0 ? (guint64)sb.st_size : 0;
		gdouble now = bench_now();
		BenchSizeSample sample = {now, gz};

		if (gz_sizes->len == 0 ||
		    g_array_index(gz_sizes, BenchSizeSample, gz_sizes->len - 1).size != gz)
			g_array_append_val(gz_sizes, sample);
		if (size >= jsonl_bytes && jsonl_done < 0)
			jsonl_done = now;
		/* a slice at a time (a few ms of inflate), so the sizes keep being sampled */
		if (jsonl_done >= 0 && !bench_gz_tail_poll(tail, v, BENCH_GZ_SLICE, error))
			return -1;
		if (v->events >= events && jsonl_done >= 0) {
			gdouble gz_done = bench_time_of_size(gz_sizes, tail->complete_offset);
			/* the bytes were read after the last sample: they were there by now */
			if (gz_done < 0)
				gz_done = bench_now();
			return MAX(jsonl_done, gz_done);
		}
		if (size + gz != last) {
			last = size + gz;
			last_change = now;
		} else if (now - last_change > BENCH_STALL_TIMEOUT) {
			g_set_error(error,
			            G_IO_ERROR,
			            G_IO_ERROR_TIMED_OUT,
			            "%s holds %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
			            " events and has not grown for %.0f s",
			            tail->path,
			            v->events,
			            events,
			            BENCH_STALL_TIMEOUT);
			return -1;
		}
		bench_sleep(0.0005);
	}
}

static gboolean
bench_ingest_once(Bench *b,
                  const char *scenario,
                  BenchLoad *load,
                  BenchWriteMode mode,
                  BenchKind kind,
                  const char *config,
                  gboolean gzip,
                  gboolean settle,
                  BenchSample *out,
                  guint64 *gz_bytes,
                  GError **error)
{
	guint n = ++b->seq;
	g_autofree char *run_dir = g_strdup_printf("%s/r%u", b->dir, n);
	g_autofree char *sock = g_strdup_printf("%s/r%u.sock", b->dir, n);
	g_autofree char *trace_id = g_strdup_printf("bench-%s-%u", scenario, n);
	g_autofree char *open_line = g_strdup_printf("OPEN %s\n", trace_id);
	g_autofree char *file = NULL;
	g_autofree char *gz_file = NULL;
	guint64 expected;
	guint64 total_events = (guint64)load->n_clients * load->n_events;
	BenchServer *server;
	BenchSenders *senders;
	BenchVerify v, gz_v;
	BenchGzTail tail;
	GPid perf = -1;
	gdouble t0, t1, cpu0, cpu1;
	gboolean ok;
	int *fds;
	int status;

	g_mkdir_with_parents(run_dir, 0700);
	if (kind != BENCH_TRIVIAL) {
		file = g_strdup_printf("%s/%s.jsonl", run_dir, trace_id);
		expected = load->total_bytes;
	} else {
		file = g_strdup_printf("%s/trivial.jsonl", run_dir);
		expected = load->total_bytes + (guint64)load->n_clients * strlen(open_line);
	}
	gz_file = g_strconcat(file, ".gz", NULL);
	server = bench_start(b, kind, n, config, run_dir, file, error);
	if (server == NULL) {
		bench_fail(b, scenario, kind, NULL, *error);
		g_clear_error(error);
		return FALSE;
	}
	fds = bench_connect_many(sock, load->n_clients, error);
	if (fds == NULL) {
		bench_fail(b, scenario, kind, server, *error);
		g_clear_error(error);
		bench_server_free(server);
		return FALSE;
	}
	if (b->perf_dir != NULL) {
		g_autofree char *data = g_strdup_printf(
		        "%s/%s-%s-r%u.perf.data", b->perf_dir, scenario, bench_kind_name(kind), n);
		g_autofree char *log = g_strdup_printf("%s/r%u.perf.log", b->dir, n);
		perf = bench_perf_start(server->pid, data, log);
	}

	bench_verify_init(&gz_v, load->n_clients);
	bench_gz_tail_init(&tail, gz_file);
	senders = bench_senders_new(load, fds, open_line, mode);
	cpu0 = bench_proc_cpu(server->pid);
	t0 = bench_senders_go(senders);
	if (gzip) {
		t1 = bench_wait_for_gz(&tail, &gz_v, total_events, file, expected, t0, error);
		ok = t1 >= 0;
	} else {
		ok = bench_wait_for_size(file, expected, t0, error);
		t1 = bench_now();
	}
	cpu1 = bench_proc_cpu(server->pid);
	out->hwm = bench_proc_status_mib(server->pid, "VmHWM");
	bench_perf_stop(perf);
	if (!bench_senders_join(senders) && ok) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_FAILED,
		            "a client could not send: %s",
		            g_strerror(errno));
		ok = FALSE;
	}
	g_free(fds);
	/* the clients have closed their connections: what the server keeps of the burst */
	if (settle && ok) {
		bench_sleep(BENCH_BURST_SETTLE);
		out->rss_after = bench_proc_status_mib(server->pid, "VmRSS");
	}
	out->wall = t1 - t0;
	out->cpu = cpu1 - cpu0;
	out->eps = (gdouble)total_events / out->wall;
	out->mbps = (gdouble)load->total_bytes / out->wall / 1e6;

	/* exactly the events sent, once each, in each client's order */
	bench_verify_init(&v, load->n_clients);
	if (ok)
		ok = bench_verify_file(&v, file, error) &&
		     bench_verify_finish(&v, NULL, load->n_events, error);
	if (ok && kind != BENCH_TRIVIAL && (v.bytes != load->total_bytes || v.other != 0)) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_FAILED,
		            "%s: %" G_GUINT64_FORMAT " bytes of events and %" G_GUINT64_FORMAT
		            " other lines, expected %" G_GSIZE_FORMAT " bytes",
		            file,
		            v.bytes,
		            v.other,
		            load->total_bytes);
		ok = FALSE;
	}
	if (ok && gzip)
		ok = bench_verify_finish(&gz_v, NULL, load->n_events, error);
	bench_verify_clear(&v);
	bench_verify_clear(&gz_v);
	bench_gz_tail_clear(&tail);

	status = bench_server_stop(server);
	out->stopped = bench_now() - t0;
	if (ok && kind == BENCH_TLDRS && status != 0) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_FAILED,
		            "tldrs serve exited with status %d",
		            status);
		ok = FALSE;
	}
	if (gz_bytes != NULL) {
		GStatBuf sb;
		*gz_bytes = g_stat(gz_file, &sb) == 0 ? (guint64)sb.st_size : 0;
	}
	if (!ok) {
		bench_fail(b, scenario, kind, server, *error);
		g_clear_error(error);
		g_printerr("tldrs-bench: the run's files are kept in %s\n", run_dir);
		b->keep = TRUE;
	} else {
		bench_rm_rf(run_dir);
	}
	bench_server_free(server);
	return ok;
}

typedef struct {
	const char *name;
	guint clients;
	guint events;
	guint quick_clients;
	guint quick_events;
	BenchWriteMode mode;
	const char *what;
	gdouble target; /* tldrs / threaded at least */
} BenchIngestSpec;

static const BenchIngestSpec bench_ingest_specs[] = {
        {"one-client", 1, 1000000, 1, 50000, BENCH_WRITE_LARGE, "64 KiB writes", 1.3},
        {"sixteen", 16, 100000, 16, 5000, BENCH_WRITE_LARGE, "64 KiB writes, one trace", 1.5},
        {"thousand", 1000, 100, 1000, 5, BENCH_WRITE_LARGE, "all connected at once", 1.5},
        {"per-event-write",
         16,
         20000,
         16,
         1000,
         BENCH_WRITE_PER_EVENT,
         "one write(2) per event",
         1.5},
};

static char *
bench_fmt_load(BenchLoad *load)
{
	return g_strdup_printf("%u x %u, %.0f MB",
	                       load->n_clients,
	                       load->n_events,
	                       (gdouble)load->total_bytes / 1e6);
}

/* "1.23 (1.01-1.40)": the ratio of the medians, with the min-max of the run-by-run ratios */
static char *
bench_fmt_ratio(BenchStat num, BenchStat den, GArray *pairs)
{
	BenchStat r = bench_stat((gdouble *)pairs->data, pairs->len);
	if (num.n == 0 || den.n == 0)
		return NULL;
	return g_strdup_printf("%.2f (%.2f-%.2f)", num.median / den.median, r.min, r.max);
}

static void
bench_scenario_ingest(Bench *b, const BenchIngestSpec *spec)
{
	guint clients = b->quick ? spec->quick_clients : spec->clients;
	guint events = b->quick ? spec->quick_events : spec->events;
	g_autoptr(BenchLoad) load = NULL;
	GArray *samples[BENCH_N_INGEST_KINDS];
	GArray *pairs[BENCH_N_INGEST_KINDS]; /* tldrs / that server, run by run */
	g_autoptr(GArray) bare_pairs = g_array_new(FALSE, TRUE, sizeof(gdouble));
	BenchStat eps[BENCH_N_INGEST_KINDS];
	g_autofree char *what = NULL;

	for (guint k = 0; k < BENCH_N_INGEST_KINDS; k++) {
		samples[k] = g_array_new(FALSE, TRUE, sizeof(BenchSample));
		pairs[k] = g_array_new(FALSE, TRUE, sizeof(gdouble));
	}
	bench_progress("%s: generating %u x %u events", spec->name, clients, events);
	load = bench_load_new(clients, events);
	for (guint run = 0; run < b->runs; run++) {
		gdouble got[BENCH_N_INGEST_KINDS] = {-1, -1, -1, -1};
		/* each server goes first, second, third and last in turn */
		for (guint k = 0; k < BENCH_N_INGEST_KINDS; k++) {
			BenchKind kind = (run + k) % BENCH_N_INGEST_KINDS;
			g_autoptr(GError) error = NULL;
			BenchSample s = {0};
			if (!bench_ingest_once(b,
			                       spec->name,
			                       load,
			                       spec->mode,
			                       kind,
			                       "[Daemon]\n",
			                       FALSE,
			                       FALSE,
			                       &s,
			                       NULL,
			                       &error))
				continue;
			g_array_append_val(samples[kind], s);
			got[kind] = s.eps;
			bench_progress("%s run %u/%u %-8s %9.0f events/s %7.1f MB/s  %.3f s  "
			               "CPU %.2f s  peak RSS %.1f MiB",
			               spec->name,
			               run + 1,
			               b->runs,
			               bench_kind_name(kind),
			               s.eps,
			               s.mbps,
			               s.wall,
			               s.cpu,
			               s.hwm);
		}
		for (guint k = 1; k < BENCH_N_INGEST_KINDS; k++) {
			if (got[BENCH_TLDRS] > 0 && got[k] > 0) {
				gdouble r = got[BENCH_TLDRS] / got[k];
				g_array_append_val(pairs[k], r);
			}
		}
		if (got[BENCH_BARE] > 0 && got[BENCH_THREADED] > 0) {
			gdouble r = got[BENCH_BARE] / got[BENCH_THREADED];
			g_array_append_val(bare_pairs, r);
		}
	}
	for (guint k = 0; k < BENCH_N_INGEST_KINDS; k++)
		eps[k] = BENCH_STAT(samples[k], eps);
	what = g_strdup_printf("%s, %s", spec->name, spec->what);
	for (guint k = 0; k < BENCH_N_INGEST_KINDS; k++) {
		gboolean t = k == BENCH_TLDRS;
		bench_table_add(
		        b->ingest,
		        g_strdup(t ? what : ""),
		        t ? bench_fmt_load(load) : g_strdup(""),
		        g_strdup(bench_kind_name(k)),
		        bench_fmt_stat(eps[k], 1e-3, 0),
		        bench_fmt_stat(BENCH_STAT(samples[k], mbps), 1, 0),
		        bench_fmt_stat(BENCH_STAT(samples[k], cpu), 1, 2),
		        bench_fmt_stat(BENCH_STAT(samples[k], hwm), 1, 1),
		        t ? bench_fmt_ratio(eps[0], eps[BENCH_THREADED], pairs[BENCH_THREADED])
		          : NULL,
		        t ? bench_fmt_ratio(eps[0], eps[BENCH_TRIVIAL], pairs[BENCH_TRIVIAL])
		          : NULL);
	}
	{
		g_autofree char *ratio =
		        bench_fmt_ratio(eps[BENCH_BARE], eps[BENCH_THREADED], bare_pairs);
		g_autofree char *note = g_strdup_printf("%s: bare / threaded %s",
		                                        spec->name,
		                                        ratio != NULL ? ratio : "not measured");
		bench_table_note(b->ingest, note);
	}
	if (g_strcmp0(spec->name, "sixteen") == 0)
		b->sixteen_hwm = BENCH_STAT(samples[BENCH_TLDRS], hwm).median;
	{
		g_autofree char *target =
		        g_strdup_printf("%s: ingest >= %.1f x threaded", spec->name, spec->target);
		bench_target(b,
		             target,
		             eps[0].n > 0 && eps[BENCH_THREADED].n > 0
		                     ? eps[0].median / eps[BENCH_THREADED].median
		                     : -1,
		             spec->target,
		             TRUE,
		             " x",
		             2);
	}
	for (guint k = 0; k < BENCH_N_INGEST_KINDS; k++) {
		g_array_unref(samples[k]);
		g_array_unref(pairs[k]);
	}
}

/* ---- latency: connected clients, a small batch now and then ---- */

typedef struct {
	BenchLoad *load;
	int fd;
	guint client;
	gdouble start;
	gdouble duration;
	gint64 *sent_at; /* ns, per batch */
	guint max_batches;
	guint batches; /* sent */
	gint *running;
	gint *failed;
} BenchLatencyClient;

typedef struct {
	BenchLatencyClient *clients;
	gdouble seen_at;
	GArray *latencies; /* seconds */
} BenchLatencyMonitor;

static gpointer
bench_latency_client_thread(gpointer data)
{
	BenchLatencyClient *lc = data;
	guint64 rng = G_GUINT64_CONSTANT(0x5851f42d4c957f2d) + lc->client;
	const char *p = lc->load->streams[lc->client];
	const char *end = p + lc->load->lens[lc->client];

	for (guint k = 0; k < lc->max_batches; k++) {
		const char *q = p;
		/* now and then: every 5 to 40 ms */
		bench_sleep((5 + bench_rng_range(&rng, 36)) / 1000.0);
		if (bench_now() - lc->start > lc->duration)
			break;
		for (guint i = 0; i < BENCH_LATENCY_BATCH && q < end; i++)
			q = (const char *)memchr(q, '\n', (gsize)(end - q)) + 1;
		__atomic_store_n(&lc->sent_at[k], (gint64)(bench_now() * 1e9), __ATOMIC_RELEASE);
		if (!bench_write_all(lc->fd, p, (gsize)(q - p))) {
			g_atomic_int_inc(lc->failed);
			break;
		}
		p = q;
		lc->batches = k + 1;
	}
	g_atomic_int_add(lc->running, -1);
	return NULL;
}

static void
bench_latency_on_event(guint client, guint seq, gpointer user_data)
{
	BenchLatencyMonitor *m = user_data;
	BenchLatencyClient *lc = &m->clients[client];
	gint64 sent;
	gdouble latency;

	if (seq % BENCH_LATENCY_BATCH != BENCH_LATENCY_BATCH - 1 ||
	    seq / BENCH_LATENCY_BATCH >= lc->max_batches)
		return;
	sent = __atomic_load_n(&lc->sent_at[seq / BENCH_LATENCY_BATCH], __ATOMIC_ACQUIRE);
	latency = m->seen_at - (gdouble)sent / 1e9;
	g_array_append_val(m->latencies, latency);
}

typedef struct {
	gdouble median;
	gdouble p99;
	gdouble max;
	gdouble cpu;
	gdouble hwm;
	guint samples;
} BenchLatencySample;

static gboolean
bench_latency_once(Bench *b,
                   BenchLoad *load,
                   gdouble duration,
                   guint max_batches,
                   BenchKind kind,
                   BenchLatencySample *out,
                   GError **error)
{
	guint n = ++b->seq;
	g_autofree char *run_dir = g_strdup_printf("%s/r%u", b->dir, n);
	g_autofree char *sock = g_strdup_printf("%s/r%u.sock", b->dir, n);
	g_autofree char *trace_id = g_strdup_printf("bench-latency-%u", n);
	g_autofree char *open_line = g_strdup_printf("OPEN %s\n", trace_id);
	g_autofree char *file = NULL;
	g_autofree char *buf = g_malloc(1024 * 1024);
	g_autoptr(GArray) latencies = g_array_new(FALSE, FALSE, sizeof(gdouble));
	g_autofree guint *expected = g_new0(guint, load->n_clients);
	BenchLatencyClient *clients = g_new0(BenchLatencyClient, load->n_clients);
	GThread **threads = g_new0(GThread *, load->n_clients);
	BenchLatencyMonitor m = {clients, 0, latencies};
	BenchServer *server;
	BenchVerify v;
	gint running = (gint)load->n_clients;
	gint failed = 0;
	gdouble start, cpu0, give_up;
	guint64 offset = 0;
	int fd = -1;
	int *fds;
	gboolean ok = TRUE;
	int status;

	g_mkdir_with_parents(run_dir, 0700);
	if (kind != BENCH_TRIVIAL)
		file = g_strdup_printf("%s/%s.jsonl", run_dir, trace_id);
	else
		file = g_strdup_printf("%s/trivial.jsonl", run_dir);
	server = bench_start(b, kind, n, "[Daemon]\n", run_dir, file, error);
	if (server == NULL) {
		bench_fail(b, "latency", kind, NULL, *error);
		g_clear_error(error);
		g_free(clients);
		g_free(threads);
		return FALSE;
	}
	fds = bench_connect_many(sock, load->n_clients, error);
	for (guint c = 0; fds != NULL && c < load->n_clients && ok; c++)
		ok = bench_write_all(fds[c], open_line, strlen(open_line));
	if (fds == NULL || !ok) {
		if (fds != NULL)
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot send OPEN");
		bench_fail(b, "latency", kind, server, *error);
		g_clear_error(error);
		bench_server_free(server);
		g_free(clients);
		g_free(threads);
		g_free(fds);
		return FALSE;
	}
	bench_sleep(0.1);

	bench_verify_init(&v, load->n_clients);
	v.func = bench_latency_on_event;
	v.user_data = &m;
	cpu0 = bench_proc_cpu(server->pid);
	start = bench_now();
	for (guint c = 0; c < load->n_clients; c++) {
		BenchLatencyClient *lc = &clients[c];
		lc->load = load;
		lc->fd = fds[c];
		lc->client = c;
		lc->start = start;
		lc->duration = duration;
		lc->max_batches = max_batches;
		lc->sent_at = g_new0(gint64, max_batches);
		lc->running = &running;
		lc->failed = &failed;
		threads[c] = g_thread_new("bench-latency", bench_latency_client_thread, lc);
	}
	give_up = start + duration + BENCH_STALL_TIMEOUT;
	for (;;) {
		if (fd < 0)
			fd = open(file, O_RDONLY | O_CLOEXEC);
		while (fd >= 0) {
			ssize_t r = pread(fd, buf, 1024 * 1024, (off_t)offset);
			if (r <= 0)
				break;
			m.seen_at = bench_now();
			offset += (guint64)r;
			bench_verify_feed(&v, buf, (gsize)r);
		}
		if (g_atomic_int_get(&running) == 0) {
			guint64 want = 0;
			for (guint c = 0; c < load->n_clients; c++)
				want += (guint64)clients[c].batches * BENCH_LATENCY_BATCH;
			if (v.events >= want)
				break;
		}
		if (bench_now() > give_up) {
			g_set_error(error,
			            G_IO_ERROR,
			            G_IO_ERROR_TIMED_OUT,
			            "%s: not every batch arrived",
			            file);
			ok = FALSE;
			break;
		}
		bench_sleep(0.0001);
	}
	out->cpu = bench_proc_cpu(server->pid) - cpu0;
	out->hwm = bench_proc_status_mib(server->pid, "VmHWM");
	for (guint c = 0; c < load->n_clients; c++) {
		g_thread_join(threads[c]);
		expected[c] = clients[c].batches * BENCH_LATENCY_BATCH;
		close(fds[c]);
		g_free(clients[c].sent_at);
	}
	if (fd >= 0)
		close(fd);
	if (ok && failed > 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "a client could not send");
		ok = FALSE;
	}
	if (ok)
		ok = bench_verify_finish(&v, expected, 0, error);
	bench_verify_clear(&v);
	status = bench_server_stop(server);
	if (ok && kind == BENCH_TLDRS && status != 0) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_FAILED,
		            "tldrs serve exited with status %d",
		            status);
		ok = FALSE;
	}
	out->samples = latencies->len;
	out->median = bench_quantile(latencies, 0.5);
	out->p99 = bench_quantile(latencies, 0.99);
	out->max = bench_quantile(latencies, 1.0);
	if (!ok) {
		bench_fail(b, "latency", kind, server, *error);
		g_clear_error(error);
		b->keep = TRUE;
	} else {
		bench_rm_rf(run_dir);
	}
	bench_server_free(server);
	g_free(fds);
	g_free(clients);
	g_free(threads);
	return ok;
}

static void
bench_scenario_latency(Bench *b)
{
	gdouble duration = b->quick ? 0.5 : 3.0;
	guint max_batches = (guint)(duration / 0.005) + 2;
	g_autoptr(BenchLoad) load =
	        bench_load_new(BENCH_LATENCY_CLIENTS, max_batches * BENCH_LATENCY_BATCH);
	g_autoptr(GArray) samples0 = g_array_new(FALSE, TRUE, sizeof(BenchLatencySample));
	g_autoptr(GArray) samples1 = g_array_new(FALSE, TRUE, sizeof(BenchLatencySample));
	g_autoptr(GArray) samples2 = g_array_new(FALSE, TRUE, sizeof(BenchLatencySample));
	GArray *samples[BENCH_N_KINDS] = {samples0, samples1, samples2};
	BenchStat med[BENCH_N_KINDS] = {{-1, -1, -1, 0}, {-1, -1, -1, 0}, {-1, -1, -1, 0}};

	for (guint run = 0; run < b->runs; run++) {
		for (guint k = 0; k < BENCH_N_KINDS; k++) {
			BenchKind kind = (run + k) % BENCH_N_KINDS;
			g_autoptr(GError) error = NULL;
			BenchLatencySample s = {0};
			if (!bench_latency_once(b, load, duration, max_batches, kind, &s, &error))
				continue;
			g_array_append_val(samples[kind], s);
			bench_progress(
			        "latency run %u/%u %-8s %u batches: median %.3f ms, p99 %.3f "
			        "ms, max %.3f ms, CPU %.2f s, peak RSS %.1f MiB",
			        run + 1,
			        b->runs,
			        bench_kind_name(kind),
			        s.samples,
			        s.median * 1e3,
			        s.p99 * 1e3,
			        s.max * 1e3,
			        s.cpu,
			        s.hwm);
		}
	}
	for (guint k = 0; k < BENCH_N_KINDS; k++) {
		GArray *a = samples[k];
		g_autofree gdouble *v = g_new0(gdouble, a->len + 1);
		g_autofree gdouble *p99 = g_new0(gdouble, a->len + 1);
		g_autofree gdouble *max = g_new0(gdouble, a->len + 1);
		g_autofree gdouble *cpu = g_new0(gdouble, a->len + 1);
		g_autofree gdouble *hwm = g_new0(gdouble, a->len + 1);
		guint count = 0;
		for (guint i = 0; i < a->len; i++) {
			BenchLatencySample *s = &g_array_index(a, BenchLatencySample, i);
			v[i] = s->median;
			p99[i] = s->p99;
			max[i] = s->max;
			cpu[i] = s->cpu;
			hwm[i] = s->hwm;
			count += s->samples;
		}
		med[k] = bench_stat(v, a->len);
		bench_table_add(b->latency,
		                g_strdup(bench_kind_name(k)),
		                g_strdup_printf("%u x %.1f s", BENCH_LATENCY_CLIENTS, duration),
		                a->len > 0 ? g_strdup_printf("%u", count / a->len) : NULL,
		                bench_fmt_stat(med[k], 1e3, 3),
		                bench_fmt_stat(bench_stat(p99, a->len), 1e3, 2),
		                bench_fmt_stat(bench_stat(max, a->len), 1e3, 1),
		                bench_fmt_stat(bench_stat(cpu, a->len), 1, 2),
		                bench_fmt_stat(bench_stat(hwm, a->len), 1, 1));
	}
	bench_target(b,
	             "latency: connected clients' data in the file, median <= 100 ms",
	             med[BENCH_TLDRS].n > 0 ? med[BENCH_TLDRS].median * 1e3 : -1,
	             100,
	             FALSE,
	             " ms",
	             3);
}

/* ---- get-tef of a big trace, beside cp ---- */

static gboolean
bench_check_tef(const char *path, guint64 n_events, GError **error)
{
	char head[17] = {0};
	char tail[4097] = {0};
	const char *p;
	GStatBuf sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	gboolean ok;

	if (fd < 0 || g_stat(path, &sb) != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s is missing", path);
		if (fd >= 0)
			close(fd);
		return FALSE;
	}
	ok = pread(fd, head, 16, 0) == 16 &&
	     pread(fd, tail, 4096, MAX(0, (off_t)sb.st_size - 4096)) > 0;
	close(fd);
	p = g_strrstr(tail, "\"events\":");
	if (!ok || strcmp(head, "{\"traceEvents\":[") != 0 || p == NULL ||
	    g_ascii_strtoull(p + 9, NULL, 10) != n_events ||
	    strstr(tail, "\"linesLeftOut\":0}") == NULL) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_INVALID_DATA,
		            "%s is not the TEF of %" G_GUINT64_FORMAT " events",
		            path,
		            n_events);
		return FALSE;
	}
	return TRUE;
}

/* store @input as trace @id in @run_dir through a real `tldrs serve`, as users' traces are
 * stored: one client sends it in 64 KiB writes; the daemon then exits */
static gboolean
bench_store_trace(Bench *b,
                  const char *run_dir,
                  const char *id,
                  const char *input,
                  guint64 size,
                  GError **error)
{
	guint n = ++b->seq;
	g_autofree char *sock = g_strdup_printf("%s/r%u.sock", b->dir, n);
	g_autofree char *jsonl = g_strdup_printf("%s/%s.jsonl", run_dir, id);
	g_autofree char *open_line = g_strdup_printf("OPEN %s\n", id);
	g_autofree char *buf = g_malloc(64 * 1024);
	BenchServer *server;
	gboolean ok;
	int status;
	int fd;
	int in;

	server = bench_start(b, BENCH_TLDRS, n, "[Daemon]\n", run_dir, NULL, error);
	if (server == NULL)
		return FALSE;
	fd = bench_connect(sock, error);
	in = open(input, O_RDONLY | O_CLOEXEC);
	ok = fd >= 0 && in >= 0 && bench_write_all(fd, open_line, strlen(open_line));
	while (ok) {
		ssize_t r = read(in, buf, 64 * 1024);
		if (r <= 0) {
			ok = r == 0;
			break;
		}
		ok = bench_write_all(fd, buf, (gsize)r);
	}
	if (in >= 0)
		close(in);
	if (fd >= 0)
		close(fd);
	if (!ok && error != NULL && *error == NULL)
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_FAILED,
		            "cannot send %s to the daemon: %s",
		            input,
		            g_strerror(errno));
	if (ok)
		ok = bench_wait_for_size(jsonl, size, bench_now(), error);
	status = bench_server_stop(server);
	if (ok && status != 0) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_FAILED,
		            "tldrs serve exited with status %d",
		            status);
		ok = FALSE;
	}
	if (!ok) {
		g_autofree char *log = bench_server_log_tail(server);
		if (log[0] != '\0')
			g_printerr("tldrs-bench: the daemon's log ends with:\n%s\n", log);
	}
	bench_server_free(server);
	return ok;
}

static void
bench_scenario_get_tef(Bench *b)
{
	guint64 min_bytes = b->quick ? BENCH_GET_TEF_BYTES / 20 : BENCH_GET_TEF_BYTES;
	g_autofree char *dir = g_build_filename(b->dir, "get-tef", NULL);
	g_autofree char *input = g_build_filename(dir, "bench.jsonl", NULL);
	g_autofree char *run_dir = g_build_filename(dir, "data", NULL);
	g_autofree char *stored = g_build_filename(run_dir, "bench-get-tef.jsonl", NULL);
	g_autofree char *state = g_build_filename(run_dir, ".tldrs-state.json", NULL);
	g_autofree char *state_data = NULL;
	g_autofree char *out = g_build_filename(dir, "bench.json", NULL);
	g_autofree char *cp = g_find_program_in_path("cp");
	g_autofree char *perf = b->perf_dir != NULL ? g_find_program_in_path("perf") : NULL;
	g_autoptr(GArray) samples0 = g_array_new(FALSE, TRUE, sizeof(BenchMeasured));
	g_autoptr(GArray) samples1 = g_array_new(FALSE, TRUE, sizeof(BenchMeasured));
	g_autoptr(GArray) samples2 = g_array_new(FALSE, TRUE, sizeof(BenchMeasured));
	g_autoptr(GArray) samples3 = g_array_new(FALSE, TRUE, sizeof(BenchMeasured));
	/* 0: tldrs get-tef, 1: cp, 2: the copy reference (read, one memcpy, write), 3: the get-tef
	 * of the threaded reference (the Rust original's) */
	GArray *samples[4] = {samples0, samples1, samples2, samples3};
	static const char *const names[4] = {
	        "tldrs get-tef", "cp", "copy reference", "threaded get-tef"};
	g_autoptr(GError) error = NULL;
	guint64 n_events = 0;
	gdouble wall_median[4] = {-1, -1, -1, -1};
	gdouble rss_max = -1;
	GStatBuf sb;

	gdouble t0;

	g_mkdir_with_parents(run_dir, 0700);
	bench_progress("get-tef: generating %.0f MB of trace", (gdouble)min_bytes / 1e6);
	if (cp == NULL || !bench_write_jsonl_file(input, min_bytes, &n_events, &error) ||
	    g_stat(input, &sb) != 0) {
		bench_fail(b, "get-tef", BENCH_TLDRS, NULL, error);
		return;
	}
	/* the trace as users have it: stored by the daemon, which records what it checked */
	bench_progress("get-tef: storing it through tldrs serve");
	t0 = bench_now();
	if (!bench_store_trace(b, run_dir, "bench-get-tef", input, (guint64)sb.st_size, &error) ||
	    g_stat(stored, &sb) != 0) {
		bench_fail(b, "get-tef", BENCH_TLDRS, NULL, error);
		b->keep = TRUE;
		return;
	}
	g_unlink(input);
	g_file_get_contents(state, &state_data, NULL, NULL);
	bench_progress("get-tef: stored in %.1f s; the daemon %s the lines it checked",
	               bench_now() - t0,
	               state_data != NULL && strstr(state_data, "\"checked\"") != NULL
	                       ? "recorded"
	                       : "did NOT record");
	for (guint run = 0; run < b->runs; run++) {
		for (guint k = 0; k < 4; k++) {
			guint which = (run + k) % 4; /* each goes first, second, ... in turn */
			gboolean tef = which == 0;
			g_autofree char *perf_data =
			        g_strdup_printf("%s/get-tef-r%u.perf.data",
			                        b->perf_dir != NULL ? b->perf_dir : "",
			                        run + 1);
			/* under --perf, get-tef runs inside perf record: its figures are perf's
			 * then */
			const char *tef_argv[] = {perf != NULL ? perf : b->tldrs_bin,
			                          "record",
			                          "-q",
			                          "-F",
			                          "1999",
			                          "-o",
			                          perf_data,
			                          "--",
			                          b->tldrs_bin,
			                          "get-tef",
			                          "bench-get-tef",
			                          "-d",
			                          run_dir,
			                          "-o",
			                          out,
			                          NULL};
			const char *cp_argv[] = {cp, stored, out, NULL};
			const char *copy_argv[] = {
			        b->self_exe, "--internal-copy", stored, out, NULL};
			const char *threaded_argv[] = {
			        b->self_exe, "--internal-threaded-get-tef", stored, out, NULL};
			BenchMeasured m = {0};
			GStatBuf osb;
			g_clear_error(&error);
			if (!bench_measure(b->self_exe,
			                   tef          ? (perf != NULL ? tef_argv : tef_argv + 8)
			                   : which == 1 ? cp_argv
			                   : which == 2 ? copy_argv
			                                : threaded_argv,
			                   &m,
			                   &error) ||
			    (tef && !bench_check_tef(out, n_events, &error))) {
				b->failed = TRUE;
				g_printerr("tldrs-bench: get-tef, %s: %s\n",
				           names[which],
				           error->message);
				g_unlink(out);
				continue;
			}
			/* the copies are the same size; the array has ",\n" for each "\n" */
			if (!tef &&
			    (g_stat(out, &osb) != 0 ||
			     (guint64)osb.st_size !=
			             (guint64)sb.st_size + (which == 3 ? n_events + 1 : 0))) {
				b->failed = TRUE;
				g_printerr("tldrs-bench: get-tef, %s: wrong size\n", names[which]);
			}
			g_unlink(out);
			g_array_append_val(samples[which], m);
			bench_progress(
			        "get-tef run %u/%u %-14s %.3f s, CPU %.2f s, peak RSS %.1f MiB",
			        run + 1,
			        b->runs,
			        names[which],
			        m.wall,
			        m.cpu,
			        m.maxrss_mib);
		}
	}
	for (guint k = 0; k < 4; k++) {
		g_autofree gdouble *wall = g_new0(gdouble, samples[k]->len + 1);
		for (guint i = 0; i < samples[k]->len; i++)
			wall[i] = g_array_index(samples[k], BenchMeasured, i).wall;
		wall_median[k] =
		        samples[k]->len > 0 ? bench_stat(wall, samples[k]->len).median : -1;
	}
	for (guint k = 0; k < 4; k++) {
		GArray *a = samples[k];
		g_autofree gdouble *wall = g_new0(gdouble, a->len + 1);
		g_autofree gdouble *cpu = g_new0(gdouble, a->len + 1);
		g_autofree gdouble *rss = g_new0(gdouble, a->len + 1);
		BenchStat w;
		for (guint i = 0; i < a->len; i++) {
			BenchMeasured *m = &g_array_index(a, BenchMeasured, i);
			wall[i] = m->wall;
			cpu[i] = m->cpu;
			rss[i] = m->maxrss_mib;
		}
		w = bench_stat(wall, a->len);
		if (k == 0 && a->len > 0)
			rss_max = bench_stat(rss, a->len).max;
		bench_table_add(b->get_tef,
		                g_strdup(k == 0   ? "tldrs get-tef ID -o FILE"
		                         : k == 1 ? "cp ID.jsonl FILE"
		                         : k == 2 ? "read, memcpy, write 512 KiB (reference)"
		                                  : "threaded: lines through 8 KiB buffers"),
		                g_strdup_printf("%.0f MB, %" G_GUINT64_FORMAT " events",
		                                (gdouble)sb.st_size / 1e6,
		                                n_events),
		                bench_fmt_stat(w, 1, 3),
		                a->len > 0 ? bench_fmt(0, (gdouble)sb.st_size / 1e6 / w.median)
		                           : NULL,
		                bench_fmt_stat(bench_stat(cpu, a->len), 1, 2),
		                bench_fmt_stat(bench_stat(rss, a->len), 1, 1),
		                k != 1 && wall_median[k] > 0 && wall_median[1] > 0
		                        ? g_strdup_printf("%.2f", wall_median[k] / wall_median[1])
		                        : NULL);
	}
	bench_target(b,
	             b->quick ? "get-tef (quick: not 1 GB): threaded time / tldrs time >= 1.0"
	                      : "get-tef of 1 GB: threaded time / tldrs time >= 1.0",
	             wall_median[0] > 0 && wall_median[3] > 0 ? wall_median[3] / wall_median[0]
	                                                      : -1,
	             1.0,
	             TRUE,
	             " x",
	             2);
	bench_target(b,
	             b->quick ? "get-tef (quick: not 1 GB): time <= 1.2 x cp"
	                      : "get-tef of 1 GB: time <= 1.2 x cp",
	             wall_median[0] > 0 && wall_median[1] > 0 ? wall_median[0] / wall_median[1]
	                                                      : -1,
	             1.2,
	             FALSE,
	             " x",
	             2);
	bench_target(b,
	             b->quick ? "get-tef (quick: not 1 GB): peak RSS <= 8 MiB"
	                      : "get-tef of 1 GB: peak RSS <= 8 MiB",
	             rss_max,
	             8,
	             FALSE,
	             " MiB",
	             1);
	if (!b->keep)
		bench_rm_rf(run_dir);
}

/* ---- the gzip sink, beside in-process zlib ---- */

static gboolean
bench_zlib_once(Bench *b,
                BenchLoad *load,
                int level,
                BenchSample *out,
                guint64 *gz_bytes,
                GError **error)
{
	g_autofree char *path = g_strdup_printf("%s/z%u.gz", b->dir, ++b->seq);
	g_autofree guint8 *obuf = g_malloc(256 * 1024);
	z_stream zs;
	gdouble t0, cpu0;
	GStatBuf sb;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	gboolean ok = TRUE;

	memset(&zs, 0, sizeof(zs));
	if (fd < 0 ||
	    deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot compress into %s", path);
		if (fd >= 0)
			close(fd);
		return FALSE;
	}
	cpu0 = bench_self_thread_cpu();
	t0 = bench_now();
	for (guint c = 0; c <= load->n_clients && ok; c++) {
		gboolean last = c == load->n_clients;
		gsize len = last ? 0 : load->lens[c];
		for (gsize off = 0; ok && (off < len || last); off += 256 * 1024) {
			int rc;
			zs.next_in = last ? NULL : (Bytef *)load->streams[c] + off;
			zs.avail_in = last ? 0 : (uInt)MIN(256 * 1024, len - off);
			do {
				zs.next_out = obuf;
				zs.avail_out = 256 * 1024;
				rc = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
				ok = bench_write_all(
				        fd, (const char *)obuf, 256 * 1024 - zs.avail_out);
			} while (ok && (zs.avail_out == 0 || (last && rc != Z_STREAM_END)));
			if (last)
				break;
		}
	}
	out->wall = bench_now() - t0;
	out->cpu = bench_self_thread_cpu() - cpu0;
	out->hwm = -1;
	out->eps = (gdouble)load->n_clients * load->n_events / out->wall;
	out->mbps = (gdouble)load->total_bytes / out->wall / 1e6;
	deflateEnd(&zs);
	close(fd);
	*gz_bytes = g_stat(path, &sb) == 0 ? (guint64)sb.st_size : 0;
	g_unlink(path);
	if (!ok)
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot write %s", path);
	return ok;
}

static void
bench_scenario_gzip(Bench *b)
{
	guint clients = 16;
	guint events = b->quick ? 5000 : 100000;
	g_autoptr(BenchLoad) load = NULL;
	g_autoptr(GArray) samples0 = g_array_new(FALSE, TRUE, sizeof(BenchSample));
	g_autoptr(GArray) samples1 = g_array_new(FALSE, TRUE, sizeof(BenchSample));
	g_autoptr(GArray) ratios0 = g_array_new(FALSE, TRUE, sizeof(gdouble));
	g_autoptr(GArray) ratios1 = g_array_new(FALSE, TRUE, sizeof(gdouble));
	GArray *samples[2] = {samples0, samples1};
	GArray *ratios[2] = {ratios0, ratios1};
	g_autoptr(GArray) pair = g_array_new(FALSE, TRUE, sizeof(gdouble));
	g_autofree char *config =
	        g_strdup_printf("[Daemon]\nSinks=jsonl;gzip\nFlushIntervalSec=%g\n", b->gzip_flush);
	BenchStat eps[2], ratio;

	bench_progress("gzip: generating %u x %u events", clients, events);
	load = bench_load_new(clients, events);
	for (guint run = 0; run < b->runs; run++) {
		gdouble got[2] = {-1, -1};
		for (guint k = 0; k < 2; k++) {
			gboolean tldrs = (run + k) % 2 == 0;
			g_autoptr(GError) error = NULL;
			BenchSample s = {0};
			guint64 gz = 0;
			g_autofree char *rss = NULL;
			gdouble r;
			if (tldrs ? !bench_ingest_once(b,
			                               "gzip",
			                               load,
			                               BENCH_WRITE_LARGE,
			                               BENCH_TLDRS,
			                               config,
			                               TRUE,
			                               FALSE,
			                               &s,
			                               &gz,
			                               &error)
			          : !bench_zlib_once(b, load, 1, &s, &gz, &error)) {
				if (error != NULL)
					bench_fail(b, "gzip", BENCH_TLDRS, NULL, error);
				continue;
			}
			r = gz > 0 ? (gdouble)load->total_bytes / (gdouble)gz : -1;
			g_array_append_val(samples[tldrs ? 0 : 1], s);
			g_array_append_val(ratios[tldrs ? 0 : 1], r);
			got[tldrs ? 0 : 1] = s.eps;
			rss = bench_fmt(1, s.hwm);
			bench_progress("gzip run %u/%u %-7s %9.0f events/s %7.1f MB/s  %.3f s  CPU "
			               "%.2f s  peak RSS %s MiB  compression %.2f",
			               run + 1,
			               b->runs,
			               tldrs ? "tldrs" : "zlib",
			               s.eps,
			               s.mbps,
			               s.wall,
			               s.cpu,
			               rss,
			               r);
		}
		if (got[0] > 0 && got[1] > 0) {
			gdouble r = got[0] / got[1];
			g_array_append_val(pair, r);
		}
	}
	for (guint k = 0; k < 2; k++)
		eps[k] = BENCH_STAT(samples[k], eps);
	ratio = bench_stat((gdouble *)pair->data, pair->len);
	for (guint k = 0; k < 2; k++) {
		gboolean t = k == 0;
		bench_table_add(
		        b->gzip,
		        g_strdup(t ? "tldrs, Sinks=jsonl;gzip" : "zlib deflate in-process"),
		        bench_fmt_load(load),
		        bench_fmt_stat(eps[k], 1e-3, 0),
		        bench_fmt_stat(BENCH_STAT(samples[k], mbps), 1, 0),
		        bench_fmt_stat(BENCH_STAT(samples[k], cpu), 1, 2),
		        t ? bench_fmt_stat(BENCH_STAT(samples[k], hwm), 1, 1) : NULL,
		        bench_fmt_stat(
		                bench_stat((gdouble *)ratios[k]->data, ratios[k]->len), 1, 2),
		        t && eps[0].n > 0 && eps[1].n > 0
		                ? g_strdup_printf("%.2f (%.2f-%.2f)",
		                                  eps[0].median / eps[1].median,
		                                  ratio.min,
		                                  ratio.max)
		                : NULL);
	}
	bench_target(b,
	             "gzip sink: ingest >= 0.85 x in-process zlib",
	             eps[0].n > 0 && eps[1].n > 0 ? eps[0].median / eps[1].median : -1,
	             0.85,
	             TRUE,
	             " x",
	             2);
}

/* ---- the nats sink: a real nats-server -js on loopback ---- */

typedef struct {
	GPid pid;
	char *dir;
	char *url;
} BenchNats;

static void
bench_nats_stop(BenchNats *n)
{
	if (n->pid > 0) {
		kill(n->pid, SIGTERM);
		waitpid(n->pid, NULL, 0);
		g_spawn_close_pid(n->pid);
	}
	g_free(n->url);
	g_free(n->dir);
}

/* nats-server in PATH, else in /usr/sbin or /usr/local/sbin (Debian's package puts it in
 * /usr/sbin, which a non-root user's PATH often lacks); NULL when there is none */
static char *
bench_nats_server_path(void)
{
	char *path = g_find_program_in_path("nats-server");
	if (path == NULL && g_file_test("/usr/sbin/nats-server", G_FILE_TEST_IS_EXECUTABLE))
		path = g_strdup("/usr/sbin/nats-server");
	if (path == NULL && g_file_test("/usr/local/sbin/nats-server", G_FILE_TEST_IS_EXECUTABLE))
		path = g_strdup("/usr/local/sbin/nats-server");
	return path;
}

/* nats-server -js on a port it picks, its store in @dir; FALSE when it cannot start */
static gboolean
bench_nats_start(BenchNats *n, const char *server, const char *dir, GError **error)
{
	g_autofree char *store = g_build_filename(dir, "store", NULL);
	g_autofree char *log = g_build_filename(dir, "nats-server.log", NULL);
	const char *argv[] = {
	        server, "-js", "-a", "127.0.0.1", "-p", "-1", "-sd", store, "-l", log, NULL};
	g_autoptr(GRegex) re = g_regex_new(
	        "Listening for client connections on (127\\.0\\.0\\.1:[0-9]+)", 0, 0, NULL);
	gdouble deadline = bench_now() + 10;

	memset(n, 0, sizeof(*n));
	n->dir = g_strdup(dir);
	g_mkdir_with_parents(dir, 0700);
	if (!g_spawn_async(NULL,
	                   (char **)argv,
	                   NULL,
	                   G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
	                           G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
	                   NULL,
	                   NULL,
	                   &n->pid,
	                   error))
		return FALSE;
	while (bench_now() < deadline) {
		g_autofree char *text = NULL;
		g_autoptr(GMatchInfo) m = NULL;
		if (g_file_get_contents(log, &text, NULL, NULL) &&
		    strstr(text, "Server is ready") != NULL && g_regex_match(re, text, 0, &m)) {
			g_autofree char *addr = g_match_info_fetch(m, 1);
			n->url = g_strdup_printf("nats://%s", addr);
			return TRUE;
		}
		bench_sleep(0.02);
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "nats-server did not start (%s)", log);
	return FALSE;
}

/* `tldrs get-tef --nats` of @trace_id to @out, measured (@m); the TEF's events and the
 * process_labels records among them */
static gboolean
bench_nats_get_tef(Bench *b,
                   const char *url,
                   const char *trace_id,
                   const char *out,
                   BenchMeasured *m,
                   guint64 *events,
                   guint64 *labels,
                   GError **error)
{
	const char *argv[] = {b->tldrs_bin, "get-tef", "--nats", url, trace_id, "-o", out, NULL};
	g_autoptr(GFile) file = NULL;
	g_autoptr(GFileInputStream) in = NULL;
	g_autoptr(GDataInputStream) data = NULL;
	char *line;

	if (!bench_measure(b->self_exe, argv, m, error))
		return FALSE;
	if (m->status != 0) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_FAILED,
		            "get-tef --nats exited with status %d",
		            m->status);
		return FALSE;
	}
	/* one event a line: count them */
	*events = 0;
	*labels = 0;
	file = g_file_new_for_path(out);
	in = g_file_read(file, NULL, error);
	if (in == NULL)
		return FALSE;
	data = g_data_input_stream_new(G_INPUT_STREAM(in));
	while ((line = g_data_input_stream_read_line(data, NULL, NULL, NULL)) != NULL) {
		if (line[0] == '{' && line[1] == '"' && !g_str_has_prefix(line, "{\"traceEvents\""))
			(*events)++;
		if (g_str_has_prefix(line, "{\"name\":\"process_labels\""))
			(*labels)++;
		g_free(line);
	}
	return TRUE;
}

/* Sinks=jsonl beside Sinks=jsonl;nats (the same load, interleaved): ingest until the .jsonl
 * holds every event, and until the daemon exited after SIGTERM, which is when the nats sink
 * has had every message acknowledged by JetStream; then get-tef --nats, checked */
static void
bench_scenario_nats(Bench *b)
{
	guint clients = 16;
	guint events = b->quick ? 5000 : 100000;
	g_autoptr(BenchLoad) load = NULL;
	g_autoptr(GArray) samples0 = g_array_new(FALSE, TRUE, sizeof(BenchSample));
	g_autoptr(GArray) samples1 = g_array_new(FALSE, TRUE, sizeof(BenchSample));
	g_autoptr(GArray) reads = g_array_new(FALSE, TRUE, sizeof(gdouble));
	g_autoptr(GArray) read_cpu = g_array_new(FALSE, TRUE, sizeof(gdouble));
	g_autoptr(GArray) read_rss = g_array_new(FALSE, TRUE, sizeof(gdouble));
	g_autoptr(GArray) nats_cpu = g_array_new(FALSE, TRUE, sizeof(gdouble));
	g_autoptr(GArray) pair = g_array_new(FALSE, TRUE, sizeof(gdouble));
	GArray *samples[2] = {samples0, samples1};
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = g_strdup_printf("%s/nats", b->dir);
	g_autofree char *config = NULL;
	guint64 total = (guint64)clients * events;
	BenchNats nats;
	BenchStat eps[2], ratio, drained, read;

	g_autofree char *server = bench_nats_server_path();

	if (server == NULL) {
		bench_table_note(b->nats, "skipped: no nats-server on PATH or in /usr/sbin");
		return;
	}
	if (!bench_nats_start(&nats, server, dir, &error)) {
		bench_fail(b, "nats", BENCH_TLDRS, NULL, error);
		bench_nats_stop(&nats);
		return;
	}
	config = g_strdup_printf("[Daemon]\nSinks=jsonl;nats\n[Sink nats]\nURL=%s\n"
	                         "ShutdownTimeoutSec=50\n",
	                         nats.url);
	bench_progress(
	        "nats: generating %u x %u events; nats-server at %s", clients, events, nats.url);
	load = bench_load_new(clients, events);
	for (guint run = 0; run < b->runs; run++) {
		gdouble got[2] = {-1, -1};
		for (guint k = 0; k < 2; k++) {
			gboolean with_nats = (run + k) % 2 == 0;
			BenchSample s = {0};
			g_autofree char *rss = NULL;
			gdouble cpu0 = bench_proc_cpu(nats.pid);
			if (!bench_ingest_once(b,
			                       "nats",
			                       load,
			                       BENCH_WRITE_LARGE,
			                       BENCH_TLDRS,
			                       with_nats ? config : "[Daemon]\nSinks=jsonl\n",
			                       FALSE,
			                       FALSE,
			                       &s,
			                       NULL,
			                       &error)) {
				g_clear_error(&error);
				continue;
			}
			g_array_append_val(samples[with_nats ? 1 : 0], s);
			got[with_nats ? 1 : 0] = s.eps;
			if (with_nats) {
				gdouble c = bench_proc_cpu(nats.pid) - cpu0;
				g_array_append_val(nats_cpu, c);
			}
			rss = bench_fmt(1, s.hwm);
			bench_progress(
			        "nats run %u/%u %-11s %9.0f events/s %7.1f MB/s  CPU %.2f s  "
			        "peak RSS %s MiB  exited after %.3f s",
			        run + 1,
			        b->runs,
			        with_nats ? "jsonl;nats" : "jsonl",
			        s.eps,
			        s.mbps,
			        s.cpu,
			        rss,
			        s.stopped);
			if (with_nats) {
				/* the trace bench_ingest_once() just wrote */
				g_autofree char *id = g_strdup_printf("bench-nats-%u", b->seq);
				g_autofree char *out = g_strdup_printf("%s/get-tef.json", dir);
				guint64 n = 0, labels = 0;
				BenchMeasured m = {0};
				gboolean ok = bench_nats_get_tef(
				        b, nats.url, id, out, &m, &n, &labels, &error);
				if (!ok || n - labels != total || labels != clients) {
					if (error == NULL)
						g_set_error(&error,
						            G_IO_ERROR,
						            G_IO_ERROR_FAILED,
						            "get-tef --nats %s: %" G_GUINT64_FORMAT
						            " events and %" G_GUINT64_FORMAT
						            " process labels, expected "
						            "%" G_GUINT64_FORMAT " and %u",
						            id,
						            n - labels,
						            labels,
						            total,
						            clients);
					bench_fail(b, "nats", BENCH_TLDRS, NULL, error);
					g_clear_error(&error);
				} else {
					g_array_append_val(reads, m.wall);
					g_array_append_val(read_cpu, m.cpu);
					g_array_append_val(read_rss, m.maxrss_mib);
					bench_progress(
					        "nats run %u/%u get-tef --nats: %.3f s, %.0f "
					        "events/s, CPU %.2f s, peak RSS %.1f MiB, every "
					        "event once",
					        run + 1,
					        b->runs,
					        m.wall,
					        (gdouble)total / m.wall,
					        m.cpu,
					        m.maxrss_mib);
				}
				g_unlink(out);
			}
		}
		if (got[0] > 0 && got[1] > 0) {
			gdouble r = got[1] / got[0];
			g_array_append_val(pair, r);
		}
	}
	bench_nats_stop(&nats);
	if (!b->keep)
		bench_rm_rf(dir);

	for (guint k = 0; k < 2; k++)
		eps[k] = BENCH_STAT(samples[k], eps);
	ratio = bench_stat((gdouble *)pair->data, pair->len);
	for (guint k = 0; k < 2; k++) {
		bench_table_add(b->nats,
		                g_strdup(k == 0 ? "tldrs, Sinks=jsonl" : "tldrs, Sinks=jsonl;nats"),
		                bench_fmt_load(load),
		                g_strdup("ingest: every event in the .jsonl"),
		                bench_fmt_stat(eps[k], 1e-3, 0),
		                bench_fmt_stat(BENCH_STAT(samples[k], cpu), 1, 2),
		                bench_fmt_stat(BENCH_STAT(samples[k], hwm), 1, 1),
		                k == 1 && eps[0].n > 0 && eps[1].n > 0
		                        ? g_strdup_printf("%.2f (%.2f-%.2f)",
		                                          eps[1].median / eps[0].median,
		                                          ratio.min,
		                                          ratio.max)
		                        : NULL);
	}
	/* the nats sink's own throughput: events over the time until every message was
	 * acknowledged (the daemon exits only then) */
	{
		g_autoptr(GArray) rates = g_array_new(FALSE, TRUE, sizeof(gdouble));
		for (guint i = 0; i < samples1->len; i++) {
			gdouble r =
			        (gdouble)total / g_array_index(samples1, BenchSample, i).stopped;
			g_array_append_val(rates, r);
		}
		drained = bench_stat((gdouble *)rates->data, rates->len);
		for (guint i = 0; i < reads->len; i++)
			g_array_index(reads, gdouble, i) =
			        (gdouble)total / g_array_index(reads, gdouble, i);
		read = bench_stat((gdouble *)reads->data, reads->len);
	}
	bench_table_add(b->nats,
	                g_strdup("tldrs, Sinks=jsonl;nats"),
	                bench_fmt_load(load),
	                g_strdup("nats sink: every message acknowledged by JetStream"),
	                bench_fmt_stat(drained, 1e-3, 0),
	                bench_fmt_stat(bench_stat((gdouble *)nats_cpu->data, nats_cpu->len), 1, 2),
	                NULL,
	                NULL);
	bench_table_add(b->nats,
	                g_strdup("tldrs get-tef --nats"),
	                bench_fmt_load(load),
	                g_strdup("read back, clocks aligned, to a file"),
	                bench_fmt_stat(read, 1e-3, 0),
	                bench_fmt_stat(bench_stat((gdouble *)read_cpu->data, read_cpu->len), 1, 2),
	                bench_fmt_stat(bench_stat((gdouble *)read_rss->data, read_rss->len), 1, 1),
	                NULL);
}

/* ---- memory: idle, and with many idle connections ---- */

static gboolean
bench_idle_once(Bench *b, BenchKind kind, guint n_conns, gdouble fig[4], GError **error)
{
	guint n = ++b->seq;
	g_autofree char *run_dir = g_strdup_printf("%s/r%u", b->dir, n);
	g_autofree char *sock = g_strdup_printf("%s/r%u.sock", b->dir, n);
	g_autofree char *file = g_strdup_printf("%s/trivial.jsonl", run_dir);
	g_autofree char *open_line = g_strdup_printf("OPEN bench-idle-%u\n", n);
	BenchServer *server;
	gdouble deadline;
	guint base;
	int *fds;
	gboolean ok = TRUE;

	g_mkdir_with_parents(run_dir, 0700);
	server = bench_start(b, kind, n, "[Daemon]\nMaxClients=100000\n", run_dir, file, error);
	if (server == NULL) {
		bench_fail(b, "idle", kind, NULL, *error);
		g_clear_error(error);
		return FALSE;
	}
	bench_sleep(0.5);
	fig[0] = bench_proc_status_mib(server->pid, "VmRSS");
	fig[1] = bench_proc_status_mib(server->pid, "VmHWM");
	base = bench_proc_count_fds(server->pid);
	fds = bench_connect_many(sock, n_conns, error);
	if (fds == NULL) {
		bench_fail(b, "idle", kind, server, *error);
		g_clear_error(error);
		bench_server_free(server);
		return FALSE;
	}
	for (guint c = 0; c < n_conns && ok; c++)
		ok = bench_write_all(fds[c], open_line, strlen(open_line));
	/* every connection accepted */
	deadline = bench_now() + BENCH_STALL_TIMEOUT;
	while (ok && bench_proc_count_fds(server->pid) < base + n_conns) {
		if (bench_now() > deadline) {
			g_set_error(error,
			            G_IO_ERROR,
			            G_IO_ERROR_TIMED_OUT,
			            "only %u of %u connections accepted",
			            bench_proc_count_fds(server->pid) - base,
			            n_conns);
			ok = FALSE;
		}
		bench_sleep(0.05);
	}
	bench_sleep(0.5);
	fig[2] = bench_proc_status_mib(server->pid, "VmRSS");
	fig[3] = bench_proc_status_mib(server->pid, "VmHWM");
	for (guint c = 0; c < n_conns; c++)
		close(fds[c]);
	g_free(fds);
	if (bench_server_stop(server) != 0 && kind == BENCH_TLDRS && ok) {
		g_set_error(
		        error, G_IO_ERROR, G_IO_ERROR_FAILED, "tldrs serve did not exit cleanly");
		ok = FALSE;
	}
	if (!ok) {
		bench_fail(b, "idle", kind, server, *error);
		g_clear_error(error);
	}
	bench_server_free(server);
	bench_rm_rf(run_dir);
	return ok;
}

/* what a server keeps of a burst: the thousand scenario's load, RSS BENCH_BURST_SETTLE s
 * after its clients left */
static void
bench_idle_burst(Bench *b)
{
	const BenchIngestSpec *spec = &bench_ingest_specs[2];
	guint clients = b->quick ? spec->quick_clients : spec->clients;
	guint events = b->quick ? spec->quick_events : spec->events;
	g_autoptr(BenchLoad) load = NULL;
	g_autoptr(GArray) after0 = g_array_new(FALSE, TRUE, sizeof(gdouble));
	g_autoptr(GArray) after1 = g_array_new(FALSE, TRUE, sizeof(gdouble));
	g_autoptr(GArray) after2 = g_array_new(FALSE, TRUE, sizeof(gdouble));
	g_autoptr(GArray) hwm0 = g_array_new(FALSE, TRUE, sizeof(gdouble));
	g_autoptr(GArray) hwm1 = g_array_new(FALSE, TRUE, sizeof(gdouble));
	g_autoptr(GArray) hwm2 = g_array_new(FALSE, TRUE, sizeof(gdouble));
	GArray *after[BENCH_N_KINDS] = {after0, after1, after2};
	GArray *hwm[BENCH_N_KINDS] = {hwm0, hwm1, hwm2};
	gdouble after_tldrs = -1;
	g_autofree char *state = NULL;

	g_assert_cmpstr(spec->name, ==, "thousand");
	load = bench_load_new(clients, events);
	for (guint run = 0; run < b->runs; run++) {
		for (guint k = 0; k < BENCH_N_KINDS; k++) {
			BenchKind kind = (run + k) % BENCH_N_KINDS;
			g_autoptr(GError) error = NULL;
			BenchSample s = {0};
			if (!bench_ingest_once(b,
			                       "idle",
			                       load,
			                       spec->mode,
			                       kind,
			                       "[Daemon]\n",
			                       FALSE,
			                       TRUE,
			                       &s,
			                       NULL,
			                       &error))
				continue;
			g_array_append_val(after[kind], s.rss_after);
			g_array_append_val(hwm[kind], s.hwm);
			bench_progress("idle run %u/%u %-8s RSS %.1f MiB %.0f s after %u clients x "
			               "%u events left (peak %.1f)",
			               run + 1,
			               b->runs,
			               bench_kind_name(kind),
			               s.rss_after,
			               BENCH_BURST_SETTLE,
			               clients,
			               events,
			               s.hwm);
		}
	}
	state = g_strdup_printf(
	        "%.0f s after %u clients x %u events left", BENCH_BURST_SETTLE, clients, events);
	for (guint k = 0; k < BENCH_N_KINDS; k++) {
		BenchStat a = bench_stat((gdouble *)after[k]->data, after[k]->len);
		if (k == BENCH_TLDRS && a.n > 0)
			after_tldrs = a.median;
		bench_table_add(
		        b->idle,
		        g_strdup(bench_kind_name(k)),
		        g_strdup(state),
		        bench_fmt_stat(a, 1, 1),
		        bench_fmt_stat(bench_stat((gdouble *)hwm[k]->data, hwm[k]->len), 1, 1));
	}
	bench_target(b, "RSS after a burst <= 8 MiB", after_tldrs, 8, FALSE, " MiB", 1);
}

static void
bench_scenario_idle(Bench *b)
{
	guint n_conns = b->quick ? BENCH_IDLE_CONNECTIONS / 20 : BENCH_IDLE_CONNECTIONS;
	g_autoptr(GArray) figs0 = g_array_new(FALSE, TRUE, sizeof(gdouble) * 4);
	g_autoptr(GArray) figs1 = g_array_new(FALSE, TRUE, sizeof(gdouble) * 4);
	g_autoptr(GArray) figs2 = g_array_new(FALSE, TRUE, sizeof(gdouble) * 4);
	GArray *figs[BENCH_N_KINDS] = {figs0, figs1, figs2};
	gdouble hwm_idle = -1, hwm_conns = -1;

	for (guint run = 0; run < b->runs; run++) {
		for (guint k = 0; k < BENCH_N_KINDS; k++) {
			BenchKind kind = (run + k) % BENCH_N_KINDS;
			g_autoptr(GError) error = NULL;
			gdouble fig[4] = {-1, -1, -1, -1};
			if (!bench_idle_once(b, kind, n_conns, fig, &error))
				continue;
			g_array_append_vals(figs[kind], fig, 1);
			bench_progress(
			        "idle run %u/%u %-8s RSS %.1f MiB idle (peak %.1f), %.1f MiB with "
			        "%u connections (peak %.1f)",
			        run + 1,
			        b->runs,
			        bench_kind_name(kind),
			        fig[0],
			        fig[1],
			        fig[2],
			        n_conns,
			        fig[3]);
		}
	}
	for (guint k = 0; k < BENCH_N_KINDS; k++) {
		GArray *a = figs[k];
		for (guint state = 0; state < 2; state++) {
			g_autofree gdouble *rss = g_new0(gdouble, a->len + 1);
			g_autofree gdouble *hwm = g_new0(gdouble, a->len + 1);
			BenchStat h;
			for (guint i = 0; i < a->len; i++) {
				const gdouble *fig =
				        (const gdouble *)(a->data + i * sizeof(gdouble) * 4);
				rss[i] = fig[state * 2];
				hwm[i] = fig[state * 2 + 1];
			}
			h = bench_stat(hwm, a->len);
			if (k == BENCH_TLDRS && a->len > 0) {
				if (state == 0)
					hwm_idle = h.median;
				else
					hwm_conns = h.median;
			}
			bench_table_add(b->idle,
			                g_strdup(bench_kind_name(k)),
			                state == 0
			                        ? g_strdup("idle, no connection")
			                        : g_strdup_printf("%u idle connections", n_conns),
			                bench_fmt_stat(bench_stat(rss, a->len), 1, 1),
			                bench_fmt_stat(h, 1, 1));
		}
	}
	bench_target(b, "RSS idle <= 8 MiB (peak)", hwm_idle, 8, FALSE, " MiB", 1);
	bench_idle_burst(b);
	{
		g_autofree char *what =
		        g_strdup_printf("RSS with %u idle connections <= 30 MiB (peak)", n_conns);
		bench_target(b, what, hwm_conns, 30, FALSE, " MiB", 1);
	}
}

/* ---- tldrs run: the cost of recording the process tree ---- */

typedef enum {
	BENCH_RUN_BARE,
	BENCH_RUN_PRIVATE,      /* no daemon found: tldrs run starts its private one */
	BENCH_RUN_DAEMON,       /* a daemon is running: tldrs run --socket */
	BENCH_RUN_NO_PROCESSES, /* private daemon, --no-processes: the cost without ptrace */
	BENCH_RUN_N_MODES,
} BenchRunMode;

static const char *const bench_run_mode_names[BENCH_RUN_N_MODES] = {
        "bare",
        "tldrs run, private daemon",
        "tldrs run --socket, daemon running",
        "tldrs run --no-processes, private daemon",
};

typedef struct {
	gdouble wall;
	gdouble cpu;
	guint processes; /* in the TEF file: exited */
	guint spans;
	guint still_running; /* spans of processes that cannot be running: a tracer bug */
} BenchRunSample;

/* one measured run of @w: bare, or under tldrs run writing @out, which is then checked */
static gboolean
bench_run_once(Bench *b,
               BenchRunWorkload *w,
               BenchRunMode mode,
               char **envp,
               BenchServer *daemon,
               const char *daemon_socket,
               const char *out,
               BenchRunSample *s,
               GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	BenchMeasured m = {0};
	BenchRunTef tef;
	gdouble cpu0 = -1;

	if (!bench_run_prepare(w, envp, error))
		return FALSE;
	if (mode != BENCH_RUN_BARE) {
		g_ptr_array_add(argv, b->tldrs_bin);
		g_ptr_array_add(argv, (gpointer) "run");
		g_ptr_array_add(argv, (gpointer) "-o");
		g_ptr_array_add(argv, (gpointer)out);
		if (mode == BENCH_RUN_DAEMON) {
			g_ptr_array_add(argv, (gpointer) "--socket");
			g_ptr_array_add(argv, (gpointer)daemon_socket);
		}
		if (mode == BENCH_RUN_NO_PROCESSES)
			g_ptr_array_add(argv, (gpointer) "--no-processes");
		g_ptr_array_add(argv, (gpointer) "--");
	}
	for (guint i = 0; w->argv[i] != NULL; i++)
		g_ptr_array_add(argv, w->argv[i]);
	g_ptr_array_add(argv, NULL);
	g_unlink(out);
	if (mode == BENCH_RUN_DAEMON)
		cpu0 = bench_proc_cpu(daemon->pid);
	if (!bench_measure_env(b->self_exe, (const char *const *)argv->pdata, envp, &m, error))
		return FALSE;
	s->wall = m.wall;
	s->cpu = m.cpu;
	if (mode == BENCH_RUN_DAEMON)
		s->cpu += bench_proc_cpu(daemon->pid) - cpu0;
	if (mode == BENCH_RUN_BARE)
		return TRUE;

	/* nothing lost: a span for every process the workload starts */
	if (!bench_run_read_tef(out, &tef, error))
		return FALSE;
	g_unlink(out);
	s->processes = tef.processes;
	s->spans = tef.spans;
	s->still_running = tef.still_running;
	if (mode == BENCH_RUN_NO_PROCESSES ? tef.x_events < 1 : tef.processes < w->min_processes) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_FAILED,
		            "%s: %u processes (%u process spans, %u X events), expected at "
		            "least %u",
		            out,
		            tef.processes,
		            tef.spans,
		            tef.x_events,
		            mode == BENCH_RUN_NO_PROCESSES ? 1 : w->min_processes);
		return FALSE;
	}
	return TRUE;
}

static void
bench_run_workload(Bench *b,
                   BenchRunWorkload *w,
                   char **envp,
                   BenchServer *daemon,
                   const char *daemon_socket,
                   const char *out,
                   gdouble target)
{
	GArray *samples[BENCH_RUN_N_MODES];
	GArray *ratios[BENCH_RUN_N_MODES];
	BenchStat wall[BENCH_RUN_N_MODES];
	g_autoptr(GError) error = NULL;
	BenchRunSample warm = {0};
	guint processes = 0;
	guint still_running = 0;
	guint phantom_runs[BENCH_RUN_N_MODES] = {0};

	for (guint k = 0; k < BENCH_RUN_N_MODES; k++) {
		samples[k] = g_array_new(FALSE, TRUE, sizeof(BenchRunSample));
		ratios[k] = g_array_new(FALSE, TRUE, sizeof(gdouble));
	}
	/* a run that is not counted: the page cache, and whether the workload works at all */
	if (!bench_run_once(b, w, BENCH_RUN_BARE, envp, NULL, NULL, out, &warm, &error)) {
		b->failed = TRUE;
		g_printerr("tldrs-bench: run-overhead, %s, bare: %s\n", w->name, error->message);
		goto out;
	}
	for (guint run = 0; run < b->runs; run++) {
		gdouble got[BENCH_RUN_N_MODES];
		for (guint k = 0; k < BENCH_RUN_N_MODES; k++) {
			/* interleaved, each mode going first in turn */
			BenchRunMode mode = (run + k) % BENCH_RUN_N_MODES;
			BenchRunSample s = {0};
			got[mode] = -1;
			if (mode == BENCH_RUN_DAEMON && daemon == NULL)
				continue;
			g_clear_error(&error);
			if (!bench_run_once(
			            b, w, mode, envp, daemon, daemon_socket, out, &s, &error)) {
				b->failed = TRUE;
				g_printerr("tldrs-bench: run-overhead, %s, %s: %s\n",
				           w->name,
				           bench_run_mode_names[mode],
				           error->message);
				continue;
			}
			got[mode] = s.wall;
			g_array_append_val(samples[mode], s);
			bench_progress("run-overhead run %u/%u %s, %s: %.3f s, CPU %.2f s, %u "
			               "processes, %u process spans%s",
			               run + 1,
			               b->runs,
			               w->name,
			               bench_run_mode_names[mode],
			               s.wall,
			               s.cpu,
			               s.processes,
			               s.spans,
			               s.still_running > 0 ? ", and spans of processes "
			                                     "\"still running\" after they exited"
			                                   : "");
			still_running = MAX(still_running, s.still_running);
			if (s.still_running > 0)
				phantom_runs[mode]++;
		}
		for (guint k = 1; k < BENCH_RUN_N_MODES; k++) {
			if (got[k] > 0 && got[BENCH_RUN_BARE] > 0) {
				gdouble r = got[k] / got[BENCH_RUN_BARE];
				g_array_append_val(ratios[k], r);
			}
		}
	}
	for (guint k = 0; k < BENCH_RUN_N_MODES; k++) {
		g_autofree gdouble *v = g_new0(gdouble, samples[k]->len + 1);
		for (guint i = 0; i < samples[k]->len; i++)
			v[i] = g_array_index(samples[k], BenchRunSample, i).wall;
		wall[k] = bench_stat(v, samples[k]->len);
	}
	for (guint i = 0; i < samples[BENCH_RUN_PRIVATE]->len; i++) {
		guint p = g_array_index(samples[BENCH_RUN_PRIVATE], BenchRunSample, i).processes;
		processes = MAX(processes, p);
	}
	for (guint k = 0; k < BENCH_RUN_N_MODES; k++) {
		GArray *a = samples[k];
		g_autofree gdouble *cpu = g_new0(gdouble, a->len + 1);
		g_autofree gdouble *procs = g_new0(gdouble, a->len + 1);
		g_autofree gdouble *spans = g_new0(gdouble, a->len + 1);
		BenchStat ratio = bench_stat((gdouble *)ratios[k]->data, ratios[k]->len);
		gboolean traced = k != BENCH_RUN_BARE && k != BENCH_RUN_NO_PROCESSES;
		gdouble extra = wall[k].n > 0 && wall[0].n > 0 ? wall[k].median - wall[0].median
		                                               : G_MAXDOUBLE;
		if (a->len == 0)
			continue;
		for (guint i = 0; i < a->len; i++) {
			BenchRunSample *s = &g_array_index(a, BenchRunSample, i);
			cpu[i] = s->cpu;
			procs[i] = s->processes;
			spans[i] = s->spans;
		}
		bench_table_add(b->run,
		                g_strdup(k == 0 ? w->name : ""),
		                g_strdup(k == 0 ? w->what : ""),
		                g_strdup(bench_run_mode_names[k]),
		                traced ? g_strdup_printf("%.0f processes, %.0f spans",
		                                         bench_stat(procs, a->len).median,
		                                         bench_stat(spans, a->len).median)
		                : k == BENCH_RUN_NO_PROCESSES ? g_strdup("the command's span")
		                                              : g_strdup(""),
		                bench_fmt_stat(wall[k], 1, 3),
		                bench_fmt_stat(bench_stat(cpu, a->len), 1, 2),
		                k != 0 && extra != G_MAXDOUBLE
		                        ? g_strdup_printf("%.3f (%.3f-%.3f)",
		                                          wall[k].median / wall[0].median,
		                                          ratio.min,
		                                          ratio.max)
		                        : NULL,
		                k != 0 && extra != G_MAXDOUBLE
		                        ? g_strdup_printf("%.0f", extra * 1e3)
		                        : NULL,
		                traced && extra != G_MAXDOUBLE && processes > 0
		                        ? g_strdup_printf("%.0f", extra * 1e6 / processes)
		                        : NULL);
	}
	if (still_running > 0) {
		g_autofree char *note = g_strdup_printf(
		        "%s: in %u of the private-daemon runs and %u of the daemon-running runs, "
		        "up to %u spans say \"still_running\" for processes that had exited "
		        "(every process exits before the command does): spans made up by the "
		        "tracer, not counted as processes.",
		        w->name,
		        phantom_runs[BENCH_RUN_PRIVATE],
		        phantom_runs[BENCH_RUN_DAEMON],
		        still_running);
		bench_table_note(b->run, note);
	}
	{
		g_autofree char *what = g_strdup_printf(
		        "run-overhead: %s%s under tldrs run (private daemon) <= %.2f x bare",
		        w->name,
		        b->quick ? " (quick: scaled down)" : "",
		        target);
		bench_target(b,
		             what,
		             wall[BENCH_RUN_PRIVATE].n > 0 && wall[0].n > 0
		                     ? wall[BENCH_RUN_PRIVATE].median / wall[0].median
		                     : -1,
		             target,
		             FALSE,
		             " x",
		             3);
	}
out:
	for (guint k = 0; k < BENCH_RUN_N_MODES; k++) {
		g_array_unref(samples[k]);
		g_array_unref(ratios[k]);
	}
}

static void
bench_scenario_run_overhead(Bench *b)
{
	guint iterations = b->quick ? 50 : 1000;
	guint files = b->quick ? 4 : 300;
	guint jobs = MAX(g_get_num_processors(), 1);
	guint n = ++b->seq;
	g_autofree char *dir = g_build_filename(b->dir, "run-overhead", NULL);
	g_autofree char *make_dir = g_build_filename(dir, "make", NULL);
	g_autofree char *data_dir = g_build_filename(dir, "daemon-data", NULL);
	g_autofree char *out = g_build_filename(dir, "t.json", NULL);
	g_autofree char *no_socket = g_build_filename(dir, "no-daemon.sock", NULL);
	g_autofree char *no_bus = g_strdup_printf("unix:path=%s/no-bus", dir);
	g_autofree char *config_home = g_build_filename(dir, "config", NULL);
	g_autofree char *daemon_socket = g_strdup_printf("%s/r%u.sock", b->dir, n);
	g_autoptr(BenchRunWorkload) storm = bench_run_storm_new(iterations);
	g_autoptr(BenchRunWorkload) make = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) envp = g_get_environ();
	BenchServer *daemon;
	int status;

	g_mkdir_with_parents(data_dir, 0700);
	g_mkdir_with_parents(config_home, 0700);
	/* tldrs run finds no daemon (no socket, no D-Bus, no tldrs.conf) and starts its
	 * private one, as for a first-time user; its directory goes into ours */
	envp = g_environ_setenv(envp, "TRACE_TEF_TLDR_SOCKET", no_socket, TRUE);
	envp = g_environ_setenv(envp, "DBUS_SESSION_BUS_ADDRESS", no_bus, TRUE);
	envp = g_environ_setenv(envp, "XDG_CONFIG_HOME", config_home, TRUE);
	envp = g_environ_setenv(envp, "TMPDIR", dir, TRUE);
	envp = g_environ_unsetenv(envp, "TRACE_TEF_TLDR_TRACE_ID");
	/* make's jobserver, when the benchmark runs under make */
	envp = g_environ_unsetenv(envp, "MAKEFLAGS");
	envp = g_environ_unsetenv(envp, "MFLAGS");
	envp = g_environ_unsetenv(envp, "MAKELEVEL");

	make = bench_run_make_new(make_dir, files, jobs, &error);
	if (make == NULL) {
		g_autofree char *note = g_strdup_printf(
		        "run-overhead: the make workload was skipped: %s.", error->message);
		bench_progress("%s", note);
		bench_table_note(b->run, note);
		g_clear_error(&error);
	}
	daemon = bench_start(b, BENCH_TLDRS, n, "[Daemon]\n", data_dir, NULL, &error);
	if (daemon == NULL) {
		bench_fail(b, "run-overhead", BENCH_TLDRS, NULL, error);
		g_clear_error(&error);
	}

	bench_run_workload(b, storm, envp, daemon, daemon_socket, out, 1.25);
	if (make != NULL)
		bench_run_workload(b, make, envp, daemon, daemon_socket, out, 1.05);

	if (daemon != NULL) {
		status = bench_server_stop(daemon);
		if (status != 0) {
			g_set_error(&error,
			            G_IO_ERROR,
			            G_IO_ERROR_FAILED,
			            "tldrs serve exited with status %d",
			            status);
			bench_fail(b, "run-overhead", BENCH_TLDRS, daemon, error);
		}
		bench_server_free(daemon);
	}
	/* a private daemon's directory left behind */
	{
		g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
		const char *name;
		while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
			if (g_str_has_prefix(name, "tldrs-run-")) {
				b->failed = TRUE;
				g_printerr(
				        "tldrs-bench: run-overhead: tldrs run left %s/%s behind\n",
				        dir,
				        name);
			}
		}
	}
	if (!b->keep)
		bench_rm_rf(dir);
}

/* ---- main ---- */

static const char *const bench_scenarios[] = {"one-client",
                                              "sixteen",
                                              "thousand",
                                              "per-event-write",
                                              "latency",
                                              "get-tef",
                                              "gzip",
                                              "nats",
                                              "idle",
                                              "run-overhead",
                                              NULL};

static void
bench_run_scenario(Bench *b, const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(bench_ingest_specs); i++) {
		if (g_strcmp0(name, bench_ingest_specs[i].name) == 0) {
			bench_scenario_ingest(b, &bench_ingest_specs[i]);
			if (g_strcmp0(name, "sixteen") == 0)
				bench_target(b,
				             "RSS during the 16-client run <= 16 MiB (peak)",
				             b->sixteen_hwm,
				             16,
				             FALSE,
				             " MiB",
				             1);
			return;
		}
	}
	if (g_strcmp0(name, "latency") == 0)
		bench_scenario_latency(b);
	else if (g_strcmp0(name, "get-tef") == 0)
		bench_scenario_get_tef(b);
	else if (g_strcmp0(name, "gzip") == 0)
		bench_scenario_gzip(b);
	else if (g_strcmp0(name, "nats") == 0)
		bench_scenario_nats(b);
	else if (g_strcmp0(name, "idle") == 0)
		bench_scenario_idle(b);
	else if (g_strcmp0(name, "run-overhead") == 0)
		bench_scenario_run_overhead(b);
}

static void
bench_print_header(Bench *b, char **argv, int argc)
{
	struct utsname u;
	g_autofree char *version = NULL;
	g_autoptr(GString) cmd = g_string_new(NULL);
	const char *version_argv[] = {b->tldrs_bin, "--version", NULL};

	g_spawn_sync(NULL,
	             (char **)version_argv,
	             NULL,
	             G_SPAWN_STDERR_TO_DEV_NULL,
	             NULL,
	             NULL,
	             &version,
	             NULL,
	             NULL,
	             NULL);
	uname(&u);
	for (int i = 0; i < argc; i++)
		g_string_append_printf(cmd, "%s%s", i > 0 ? " " : "", argv[i]);
	g_print("%s%s\n", b->markdown ? "    " : "", cmd->str);
	g_print("%s%s, %s %s, %ld CPUs, %u runs per server%s, medians with (min-max)\n\n",
	        b->markdown ? "    " : "",
	        version != NULL ? g_strstrip(version) : b->tldrs_bin,
	        u.sysname,
	        u.release,
	        sysconf(_SC_NPROCESSORS_ONLN),
	        b->runs,
	        b->quick ? ", --quick (loads scaled down about 20x)" : "");
}

int
main(int argc, char **argv)
{
	g_autofree char *opt_tldrs = NULL;
	g_autofree char *opt_tmpdir = NULL;
	g_autofree char *opt_perf = NULL;
	g_auto(GStrv) opt_scenarios = NULL;
	gint opt_runs = 5;
	gdouble opt_gzip_flush = 0.1;
	g_autofree char *gzip_title = NULL;
	gboolean opt_quick = FALSE, opt_markdown = FALSE, opt_keep = FALSE;
	GOptionEntry entries[] = {
	        {"tldrs",
	         0,
	         0,
	         G_OPTION_ARG_FILENAME,
	         &opt_tldrs,
	         "The tldrs binary (default: the build tree's)",
	         "PATH"},
	        {"scenario",
	         's',
	         0,
	         G_OPTION_ARG_STRING_ARRAY,
	         &opt_scenarios,
	         "Run only scenario NAME (repeat it, or separate names with commas)",
	         "NAME"},
	        {"runs",
	         'n',
	         0,
	         G_OPTION_ARG_INT,
	         &opt_runs,
	         "Runs per scenario and server (default 5)",
	         "N"},
	        {"quick",
	         0,
	         0,
	         G_OPTION_ARG_NONE,
	         &opt_quick,
	         "Scale every load down about 20x: a smoke run",
	         NULL},
	        {"markdown", 0, 0, G_OPTION_ARG_NONE, &opt_markdown, "Print markdown tables", NULL},
	        {"tmpdir",
	         0,
	         0,
	         G_OPTION_ARG_FILENAME,
	         &opt_tmpdir,
	         "Where to make the temporary directory (default: $TMPDIR or /tmp)",
	         "DIR"},
	        {"keep", 0, 0, G_OPTION_ARG_NONE, &opt_keep, "Keep the temporary directory", NULL},
	        {"gzip-flush-interval",
	         0,
	         0,
	         G_OPTION_ARG_DOUBLE,
	         &opt_gzip_flush,
	         "FlushIntervalSec of the gzip scenario (default 0.1)",
	         "SEC"},
	        {"perf",
	         0,
	         0,
	         G_OPTION_ARG_FILENAME,
	         &opt_perf,
	         "Record perf profiles of every server run and get-tef into DIR (perturbs the "
	         "figures)",
	         "DIR"},
	        {NULL}};
	g_autoptr(GOptionContext) context = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) selected = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *template = NULL;
	const char *plugin_dir;
	struct rlimit rl;
	Bench bench = {0};
	Bench *b = &bench;
	g_autofree char **argv_copy = g_memdup2(argv, sizeof(char *) * (gsize)(argc + 1));

	/* the helper processes of the benchmark itself */
	if (argc >= 3 && strcmp(argv[1], "--internal-measure") == 0)
		return bench_measure_helper_main(argc, argv);
	if (argc == 4 && strcmp(argv[1], "--internal-reference") == 0)
		return bench_reference_main(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "--internal-threaded") == 0)
		return bench_threaded_reference_main(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "--internal-bare") == 0)
		return bench_bare_reference_main(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "--internal-threaded-get-tef") == 0)
		return bench_threaded_get_tef_main(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "--internal-copy") == 0)
		return bench_copy_reference_main(argv[2], argv[3]);

	setlocale(LC_ALL, "");
	context = g_option_context_new("- benchmark tldrs serve end to end");
	g_option_context_add_main_entries(context, entries, NULL);
	g_option_context_set_description(
	        context,
	        "Scenarios: one-client, sixteen, thousand, per-event-write, latency, get-tef, "
	        "gzip,\n"
	        "idle, run-overhead (default: all). Every tldrs figure is beside two reference\n"
	        "servers, one shaped like the Rust original (a thread per connection) and a\n"
	        "trivial one (or cp, or in-process zlib, or the bare command), measured in the\n"
	        "same invocation; the ingest scenarios add a bare thread-per-connection server.\n"
	        "See docs/performance.md.\n");
	if (!g_option_context_parse(context, &argc, &argv, &error)) {
		g_printerr("tldrs-bench: %s\n", error->message);
		return 2;
	}
	if (argc > 1 || opt_runs < 1 || opt_runs > 1000 || !(opt_gzip_flush >= 0.001) ||
	    opt_gzip_flush > 3600) {
		g_printerr("tldrs-bench: bad usage, see --help\n");
		return 2;
	}
	for (guint i = 0; opt_scenarios != NULL && opt_scenarios[i] != NULL; i++) {
		g_auto(GStrv) names = g_strsplit(opt_scenarios[i], ",", 0);
		for (guint j = 0; names[j] != NULL; j++) {
			if (names[j][0] == '\0')
				continue;
			if (!g_strv_contains(bench_scenarios, names[j])) {
				g_printerr("tldrs-bench: unknown scenario %s\n", names[j]);
				return 2;
			}
			g_ptr_array_add(selected, g_strdup(names[j]));
		}
	}

	signal(SIGPIPE, SIG_IGN);
	/* 5,000 connections, and the daemon's as many */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	plugin_dir = g_getenv("TLDRS_PLUGIN_DIR");
	if (plugin_dir == NULL || plugin_dir[0] == '\0')
		g_setenv("TLDRS_PLUGIN_DIR", TLDRS_BENCH_PLUGIN_DIR, TRUE);
	/* the daemons print only problems */
	g_unsetenv("G_MESSAGES_DEBUG");

	b->runs = (guint)opt_runs;
	b->quick = opt_quick;
	b->markdown = opt_markdown;
	b->keep = opt_keep;
	b->sixteen_hwm = -1;
	b->gzip_flush = opt_gzip_flush;
	b->tldrs_bin = g_strdup(opt_tldrs != NULL ? opt_tldrs : TLDRS_BENCH_DEFAULT_BIN);
	b->self_exe = g_file_read_link("/proc/self/exe", &error);
	if (b->self_exe == NULL) {
		g_printerr("tldrs-bench: %s\n", error->message);
		return 1;
	}
	if (!g_file_test(b->tldrs_bin, G_FILE_TEST_IS_EXECUTABLE)) {
		g_printerr("tldrs-bench: %s is not an executable\n", b->tldrs_bin);
		return 1;
	}
	if (opt_perf != NULL) {
		b->perf_dir = g_canonicalize_filename(opt_perf, NULL);
		g_mkdir_with_parents(b->perf_dir, 0700);
	}
	template = g_build_filename(
	        opt_tmpdir != NULL ? opt_tmpdir : g_get_tmp_dir(), "tldrs-bench-XXXXXX", NULL);
	b->dir = g_mkdtemp(template) != NULL ? g_strdup(template) : NULL;
	if (b->dir == NULL) {
		g_printerr("tldrs-bench: cannot make a directory in %s: %s\n",
		           opt_tmpdir != NULL ? opt_tmpdir : g_get_tmp_dir(),
		           g_strerror(errno));
		return 1;
	}

	b->ingest = bench_table_new(
	        "Ingest, end to end: first byte sent until every event is in the file",
	        (const char *const[]){"scenario",
	                              "clients x events",
	                              "server",
	                              "k events/s",
	                              "MB/s",
	                              "server CPU s",
	                              "peak RSS MiB",
	                              "tldrs / threaded",
	                              "tldrs / trivial",
	                              NULL});
	bench_table_note(
	        b->ingest,
	        "Servers: tldrs; threaded, the reference shaped like the Rust original (a thread "
	        "per connection, lines kept if they start with { and end with }, buffered "
	        "writes); trivial, the least a collector can do (one thread, no check, one "
	        "write(2) per read): the machine's practical limit; bare, the least a "
	        "thread-per-connection server can do (256 KiB reads, no check, the complete "
	        "lines of a read appended with one write(2)). k events/s, MB/s (10^6 bytes of "
	        "events), server CPU s and peak RSS: median (min-max) over the runs. tldrs / X: "
	        "ratio of the medians (min-max of the run-by-run ratios); bare / threaded "
	        "likewise, below: how far the threaded reference is from what any "
	        "thread-per-connection server reaches with the same clients.");
	b->latency = bench_table_new(
	        "Latency: 16 connected clients send 4 events every 5-40 ms; time from write() "
	        "until the batch is in the file",
	        (const char *const[]){"server",
	                              "clients x time",
	                              "batches/run",
	                              "median ms",
	                              "p99 ms",
	                              "max ms",
	                              "server CPU s",
	                              "peak RSS MiB",
	                              NULL});
	bench_table_note(b->latency,
	                 "median ms: median over the runs of each run's median; the file is polled "
	                 "every 0.1 ms.");
	b->get_tef = bench_table_new("get-tef of a big trace stored by tldrs serve, to a file, "
	                             "beside cp of the same file, the least a reading get-tef "
	                             "does, and the threaded reference's (the Rust original's) "
	                             "get-tef",
	                             (const char *const[]){"command",
	                                                   "input",
	                                                   "time s",
	                                                   "MB/s",
	                                                   "CPU s",
	                                                   "peak RSS MiB",
	                                                   "time / cp",
	                                                   NULL});
	gzip_title =
	        g_strdup_printf("gzip sink (level 1, FlushIntervalSec=%g): until the .jsonl.gz "
	                        "holds every event, beside zlib deflate level 1 of the same "
	                        "bytes on one core",
	                        opt_gzip_flush);
	b->gzip = bench_table_new(gzip_title,
	                          (const char *const[]){"what",
	                                                "clients x events",
	                                                "k events/s",
	                                                "MB/s (raw)",
	                                                "CPU s",
	                                                "peak RSS MiB",
	                                                "compression",
	                                                "tldrs / zlib",
	                                                NULL});
	b->nats = bench_table_new(
	        "nats sink, beside a nats-server -js on loopback: ingest with and without it, "
	        "its own throughput, and get-tef --nats",
	        (const char *const[]){"what",
	                              "clients x events",
	                              "until",
	                              "k events/s",
	                              "server CPU s",
	                              "peak RSS MiB",
	                              "with / without nats",
	                              NULL});
	bench_table_note(b->nats,
	                 "k events/s, CPU s, peak RSS: median (min-max) over the runs, the two "
	                 "configurations interleaved. The nats sink's row: events / seconds from "
	                 "the first byte sent until the daemon, sent SIGTERM once the .jsonl was "
	                 "complete, exited, which it does once JetStream acknowledged every "
	                 "message; its CPU s is nats-server's, over the same run. get-tef --nats: "
	                 "its own CPU and peak RSS (wait4), checked to hold every event once.");
	b->idle = bench_table_new(
	        "Memory of the server process (VmRSS, VmHWM = peak)",
	        (const char *const[]){"server", "state", "RSS MiB", "peak RSS MiB", NULL});
	b->run = bench_table_new(
	        "tldrs run: a process-heavy command bare and under tldrs run -o FILE -- COMMAND",
	        (const char *const[]){"workload",
	                              "size",
	                              "how",
	                              "TEF file holds",
	                              "wall s",
	                              "CPU s",
	                              "x bare",
	                              "extra ms",
	                              "extra us per process",
	                              NULL});
	bench_table_note(b->run,
	                 "wall s, CPU s: median (min-max) over the runs, the four ways interleaved "
	                 "and taking turns to go first. CPU s: user + system of the command and "
	                 "everything it waited for (tldrs run, its private daemon, the workload), "
	                 "plus the running daemon's. x bare: ratio of the medians (min-max of the "
	                 "run-by-run ratios). extra: median minus the bare median, per process "
	                 "recorded in the TEF file. Private daemon: tldrs run finds no daemon (no "
	                 "socket, no D-Bus) and starts its own, as for a first-time user. "
	                 "Daemon running: a tldrs serve started before the runs, tldrs run "
	                 "--socket.");
	b->targets = bench_table_new(
	        "Targets (docs/performance.md)",
	        (const char *const[]){"target", "measured (median)", "result", NULL});
	bench_table_note(b->targets,
	                 "Targets are information: a missed target does not fail the benchmark; "
	                 "a lost event or process or a failed run does.");

	if (b->quick)
		bench_table_note(b->targets,
		                 "--quick: every load is scaled down, so these results only show "
		                 "that the benchmark works.");
	bench_print_header(b, argv_copy, (int)g_strv_length(argv_copy));
	for (guint i = 0; bench_scenarios[i] != NULL; i++) {
		gboolean wanted = selected->len == 0;
		for (guint j = 0; j < selected->len; j++)
			wanted = wanted ||
			         g_strcmp0(g_ptr_array_index(selected, j), bench_scenarios[i]) == 0;
		if (!wanted)
			continue;
		bench_run_scenario(b, bench_scenarios[i]);
	}

	bench_table_print(b->ingest, b->markdown);
	bench_table_print(b->latency, b->markdown);
	bench_table_print(b->get_tef, b->markdown);
	bench_table_print(b->gzip, b->markdown);
	bench_table_print(b->nats, b->markdown);
	bench_table_print(b->idle, b->markdown);
	bench_table_print(b->run, b->markdown);
	bench_table_print(b->targets, b->markdown);
	if (b->failed)
		g_print("VERIFICATION OR A RUN FAILED: see the messages above\n");

	if (b->keep)
		g_printerr("tldrs-bench: temporary files kept in %s\n", b->dir);
	else
		bench_rm_rf(b->dir);
	bench_table_free(b->ingest);
	bench_table_free(b->latency);
	bench_table_free(b->get_tef);
	bench_table_free(b->gzip);
	bench_table_free(b->nats);
	bench_table_free(b->idle);
	bench_table_free(b->run);
	bench_table_free(b->targets);
	g_free(b->tldrs_bin);
	g_free(b->self_exe);
	g_free(b->dir);
	g_free(b->perf_dir);
	return b->failed ? 1 : 0;
}
