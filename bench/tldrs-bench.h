/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>
#include <sys/types.h>
#include <zlib.h>

/* tldrs-bench: end-to-end benchmark of `tldrs serve` against a trivial reference server.
 * tldrs-bench.c runs the scenarios and prints the tables, tldrs-bench-load.c makes the
 * events, sends them and checks what was stored, tldrs-bench-proc.c starts and measures
 * processes, tldrs-bench-reference.c is the trivial server, tldrs-bench-threaded.c the
 * thread-per-connection one shaped like the Rust original, tldrs-bench-run.c the workloads
 * run bare and under `tldrs run`. */

/* ---- time ---- */

gdouble
bench_now(void);
void
bench_sleep(gdouble seconds);

/* ---- load: the events every client sends ---- */

guint
bench_rng_range(guint64 *state, guint n);

typedef struct {
	guint n_clients;
	guint n_events; /* per client */
	char **streams; /* per client: its event lines, each ending in '\n' */
	gsize *lens;
	gsize total_bytes; /* event bytes of every client */
} BenchLoad;

BenchLoad *
bench_load_new(guint n_clients, guint n_events);
void
bench_load_free(BenchLoad *load);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchLoad, bench_load_free)

gboolean
bench_write_jsonl_file(const char *path, guint64 min_bytes, guint64 *n_events, GError **error);

/* ---- verification of stored lines: nothing lost, duplicated or reordered ---- */

typedef void (*BenchEventFunc)(guint client, guint seq, gpointer user_data);

typedef struct {
	guint n_clients;
	guint *next;          /* the next sequence number expected from each client */
	guint64 events;       /* event lines seen */
	guint64 bytes;        /* their bytes, '\n' included */
	guint64 lost;         /* sequence numbers skipped */
	guint64 out_of_order; /* a sequence number seen again or too late */
	guint64 bad;          /* event lines without a known client and sequence number */
	guint64 other;        /* lines that are not events (OPEN in the trivial server's file) */
	BenchEventFunc func;  /* called for each event line, or NULL */
	gpointer user_data;
	GByteArray *partial; /* an incomplete last line */
} BenchVerify;

void
bench_verify_init(BenchVerify *v, guint n_clients);
void
bench_verify_clear(BenchVerify *v);
void
bench_verify_feed(BenchVerify *v, const char *data, gsize len);
gboolean
bench_verify_finish(BenchVerify *v, const guint *expected, guint n_each, GError **error);
gboolean
bench_verify_file(BenchVerify *v, const char *path, GError **error);

/* follows a .jsonl.gz that is being written: whole members and an unfinished one */
typedef struct {
	char *path;
	int fd;
	guint64 offset;
	z_stream zs;
	gboolean zs_live;
	guint64 raw_bytes;
	guint8 *in;
	guint8 *out;
	/* with want_events set: the compressed bytes read when that many events were out */
	guint64 want_events;
	guint64 complete_offset;
} BenchGzTail;

void
bench_gz_tail_init(BenchGzTail *t, const char *path);
gboolean
bench_gz_tail_poll(BenchGzTail *t, BenchVerify *v, guint64 max_bytes, GError **error);
void
bench_gz_tail_clear(BenchGzTail *t);

/* ---- clients ---- */

int
bench_connect(const char *socket_path, GError **error);
gboolean
bench_write_all(int fd, const char *data, gsize len);

typedef enum {
	BENCH_WRITE_LARGE,     /* 64 KiB writes */
	BENCH_WRITE_PER_EVENT, /* one write(2) per event */
} BenchWriteMode;

typedef struct _BenchSenders BenchSenders;

/* takes @fds (one connected socket per client of @load) and closes each when it is sent */
BenchSenders *
bench_senders_new(BenchLoad *load, int *fds, const char *open_line, BenchWriteMode mode);
gdouble
bench_senders_go(BenchSenders *s);
gboolean
bench_senders_join(BenchSenders *s);

/* ---- processes ---- */

typedef struct {
	GPid pid;
	char *log_path;
} BenchServer;

BenchServer *
bench_server_start(const char *const *argv,
                   const char *socket_path,
                   const char *log_path,
                   GError **error);
int
bench_server_stop(BenchServer *s);
void
bench_server_free(BenchServer *s);
char *
bench_server_log_tail(BenchServer *s);

gdouble
bench_proc_cpu(GPid pid);
gdouble
bench_proc_status_mib(GPid pid, const char *field);
guint
bench_proc_count_fds(GPid pid);
gdouble
bench_self_thread_cpu(void);

typedef struct {
	gdouble wall;       /* seconds */
	gdouble cpu;        /* user + system seconds */
	gdouble maxrss_mib; /* from wait4() */
	int status;
} BenchMeasured;

int
bench_measure_helper_main(int argc, char **argv);
gboolean
bench_measure(const char *self_exe, const char *const *argv, BenchMeasured *out, GError **error);
gboolean
bench_measure_env(const char *self_exe,
                  const char *const *argv,
                  char **envp,
                  BenchMeasured *out,
                  GError **error);

GPid
bench_perf_start(GPid target, const char *data_path, const char *log_path);
void
bench_perf_stop(GPid perf);

void
bench_rm_rf(const char *path);

/* ---- tldrs run: the workloads of the run-overhead scenario ---- */

typedef struct {
	char *name;          /* "exec storm", "make -j2" */
	char *what;          /* its size, for the table */
	char **argv;         /* the command, run bare or after `tldrs run … --` */
	char **prepare;      /* run untimed before each run (make clean), or NULL */
	guint min_processes; /* a traced run's TEF file holds at least so many */
} BenchRunWorkload;

BenchRunWorkload *
bench_run_storm_new(guint iterations);
BenchRunWorkload *
bench_run_make_new(const char *dir, guint files, guint jobs, GError **error);
void
bench_run_workload_free(BenchRunWorkload *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BenchRunWorkload, bench_run_workload_free)

gboolean
bench_run_prepare(BenchRunWorkload *w, char **envp, GError **error);

typedef struct {
	guint x_events;      /* "X" events of any category */
	guint spans;         /* "X" events of category "process": one per image a process ran */
	guint processes;     /* those of them that ended a process: it exited */
	guint still_running; /* those of them left running when the command exited */
} BenchRunTef;

gboolean
bench_run_read_tef(const char *path, BenchRunTef *out, GError **error);

/* ---- the trivial reference server ---- */

int
bench_reference_main(const char *socket_path, const char *file_path);

int
bench_copy_reference_main(const char *src, const char *dst);

/* ---- the thread-per-connection reference, shaped like the Rust original ---- */

int
bench_threaded_reference_main(const char *socket_path, const char *dir);
int
bench_bare_reference_main(const char *socket_path, const char *dir);
int
bench_threaded_get_tef_main(const char *src, const char *dst);
