/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* The sinks and the config file through the real daemon: jsonl, gzip and tef side by side. */

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <zlib.h>

#include "tldrs-reader.h"
#include "tldrs-test-util.h"

static char *
event(guint n)
{
	return g_strdup_printf("{\"ph\":\"i\",\"name\":\"ev%u\",\"ts\":%u,\"pid\":1,\"tid\":0,"
	                       "\"args\":{\"n\":%u}}",
	                       n,
	                       n,
	                       n);
}

/* the lines of a stored trace file, plain or gzip */
static GPtrArray *
read_lines(const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(TldrsReader) reader = tldrs_reader_open(path, &error);
	GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
	const char *line;
	gsize len;

	g_assert_no_error(error);
	while (tldrs_reader_next(reader, &line, &len, &error))
		g_ptr_array_add(lines, g_strndup(line, len));
	g_assert_no_error(error);
	return lines;
}

/* the text of a gzip file, checked strictly (no resync after damage): every member whole with
 * its CRC and length, except that with @open_ok the last one may be unfinished */
static GString *
gunzip_strict(const char *path, gboolean open_ok, guint *members)
{
	g_autofree char *data = NULL;
	g_autofree guint8 *buf = g_malloc(65536);
	GString *text = g_string_new(NULL);
	gsize len = 0;
	z_stream zs;
	guint n = 0;
	gboolean whole = TRUE;

	g_assert_true(g_file_get_contents(path, &data, &len, NULL));
	memset(&zs, 0, sizeof(zs));
	g_assert_cmpint(inflateInit2(&zs, 15 + 16), ==, Z_OK);
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)len;
	while (len > 0) {
		int rc;
		zs.next_out = buf;
		zs.avail_out = 65536;
		rc = inflate(&zs, Z_NO_FLUSH);
		g_string_append_len(text, (const char *)buf, (gssize)(65536 - zs.avail_out));
		if (rc == Z_STREAM_END) {
			n++;
			whole = TRUE;
			inflateReset(&zs);
			if (zs.avail_in == 0)
				break;
			continue;
		}
		whole = FALSE;
		if (rc == Z_BUF_ERROR || (rc == Z_OK && zs.avail_in == 0 && zs.avail_out > 0))
			break; /* all read, in the middle of a member */
		if (rc != Z_OK)
			g_error("%s: %s at byte %" G_GSIZE_FORMAT,
			        path,
			        zs.msg != NULL ? zs.msg : "?",
			        len - zs.avail_in);
	}
	inflateEnd(&zs);
	if (!whole) {
		if (!open_ok)
			g_error("%s: the last member is unfinished", path);
		n++;
	}
	if (members != NULL)
		*members = n;
	return text;
}

static TldrsTestDaemon *
start_with_config(const char *config_text)
{
	TldrsTestDaemon *d = tldrs_test_daemon_new();
	g_autofree char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);
	const char *args[] = {"--config", conf, NULL};
	g_assert_true(g_file_set_contents(conf, config_text, -1, NULL));
	tldrs_test_daemon_start(d, args);
	return d;
}

static void
send_events(TldrsTestDaemon *d, const char *trace, guint from, guint to, gboolean close)
{
	g_autoptr(GString) buf = g_string_new(NULL);
	GSocket *s = tldrs_test_connect(d->socket_path);
	g_string_append_printf(buf, "OPEN %s\n", trace);
	for (guint i = from; i < to; i++) {
		g_autofree char *e = event(i);
		g_string_append_printf(buf, "%s\n", e);
	}
	tldrs_test_send_len(s, buf->str, buf->len);
	if (close)
		tldrs_test_close(s);
	else
		g_object_unref(s); /* the fd stays open: leaked on purpose until exit */
}

/* Sinks=jsonl;gzip;tef stores one trace three ways with identical events */
static void
test_three_sinks(void)
{
	g_autoptr(TldrsTestDaemon) d = start_with_config("[Daemon]\nSinks=jsonl;gzip;tef\n");
	g_autofree char *jsonl = g_build_filename(d->data_dir, "tr-3.jsonl", NULL);
	g_autofree char *gz = g_build_filename(d->data_dir, "tr-3.jsonl.gz", NULL);
	g_autofree char *json = g_build_filename(d->data_dir, "tr-3.json", NULL);
	g_autoptr(GPtrArray) a = NULL;
	g_autoptr(GPtrArray) b = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree char *list = NULL;
	JsonArray *events;

	send_events(d, "tr-3", 0, 5000, TRUE);
	g_assert_true(tldrs_test_wait_for_file(json, 5000));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);

	a = read_lines(jsonl);
	b = read_lines(gz);
	g_assert_cmpuint(a->len, ==, 5000);
	g_assert_cmpuint(b->len, ==, 5000);
	for (guint i = 0; i < a->len; i++)
		g_assert_cmpstr(g_ptr_array_index(a, i), ==, g_ptr_array_index(b, i));
	root = tldrs_test_load_tef(json);
	events = tldrs_test_tef_events(root);
	g_assert_cmpuint(json_array_get_length(events), ==, 5000);
	for (guint i = 0; i < a->len; i++) {
		g_autofree char *text = NULL;
		json_generator_set_root(gen, json_array_get_element(events, i));
		text = json_generator_to_data(gen, NULL);
		g_assert_cmpstr(text, ==, g_ptr_array_index(a, i));
	}

	/* one trace, listed once, whatever forms it is stored in */
	g_assert_cmpint(tldrs_test_cli(d, &list, NULL, "list", "-d", d->data_dir, NULL), ==, 0);
	g_assert_cmpstr(list, ==, "tr-3\n");
}

/* gzip alone: get-tef and list read the .jsonl.gz; a restart appends a new member */
static void
test_gzip_alone_and_restart(void)
{
	g_autoptr(TldrsTestDaemon) d =
	        start_with_config("[Daemon]\nSinks=gzip\n[Sink gzip]\nLevel=6\n");
	g_autofree char *gz = g_build_filename(d->data_dir, "tr-gz.jsonl.gz", NULL);
	g_autofree char *out = g_build_filename(d->tmpdir, "gz.json", NULL);
	g_autofree char *list = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(JsonNode) root = NULL;
	const char *args[] = {"--config", NULL, NULL};
	g_autofree char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);

	send_events(d, "tr-gz", 0, 1000, TRUE);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	args[1] = conf;
	tldrs_test_daemon_start(d, args);
	send_events(d, "tr-gz", 1000, 1500, TRUE);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);

	lines = read_lines(gz);
	g_assert_cmpuint(lines->len, ==, 1500);
	g_assert_cmpint(
	        tldrs_test_cli(
	                d, NULL, NULL, "get-tef", "tr-gz", "-d", d->data_dir, "-o", out, NULL),
	        ==,
	        0);
	root = tldrs_test_load_tef(out);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, 1500);
	g_assert_cmpint(
	        tldrs_test_cli(d, &list, NULL, "list", "-l", "-d", d->data_dir, NULL), ==, 0);
	if (!g_regex_match_simple("tr-gz +[0-9.]+ [kB]+ +1500 ", list, 0, 0))
		g_error("unexpected list -l: %s", list);
}

/* readable while being written, and after kill -9: everything up to the last flush */
static void
test_gzip_readable_while_written_and_after_crash(void)
{
	g_autoptr(TldrsTestDaemon) d =
	        start_with_config("[Daemon]\nSinks=gzip\nFlushIntervalSec=0.1\n");
	g_autofree char *gz = g_build_filename(d->data_dir, "tr-live.jsonl.gz", NULL);
	g_autoptr(GPtrArray) lines = NULL;
	GSocket *s = tldrs_test_connect(d->socket_path);

	tldrs_test_send(s, "OPEN tr-live\n");
	for (guint i = 0; i < 300; i++) {
		g_autofree char *e = event(i);
		tldrs_test_send(s, e);
		tldrs_test_send(s, "\n");
	}
	/* readable while being written: every event within a few flush intervals */
	for (guint i = 0; i < 500; i++) {
		g_clear_pointer(&lines, g_ptr_array_unref);
		if (g_file_test(gz, G_FILE_TEST_EXISTS)) {
			lines = read_lines(gz);
			if (lines->len >= 300)
				break;
		}
		g_usleep(10000);
	}
	g_assert_nonnull(lines);
	g_assert_cmpuint(lines->len, ==, 300);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGKILL), ==, -1);
	g_clear_pointer(&lines, g_ptr_array_unref);
	lines = read_lines(gz);
	g_assert_cmpuint(lines->len, ==, 300);
	tldrs_test_close(s);
}

/* a .jsonl.gz deleted while written: the next events start a valid new file */
static void
test_gzip_deleted_while_written(void)
{
	g_autoptr(TldrsTestDaemon) d =
	        start_with_config("[Daemon]\nSinks=gzip\nFlushIntervalSec=0.1\n");
	g_autofree char *gz = g_build_filename(d->data_dir, "tr-del.jsonl.gz", NULL);
	g_autoptr(GPtrArray) lines = NULL;
	GSocket *s = tldrs_test_connect(d->socket_path);

	tldrs_test_send(s, "OPEN tr-del\n");
	for (guint i = 0; i < 10; i++) {
		g_autofree char *e = event(i);
		tldrs_test_send(s, e);
		tldrs_test_send(s, "\n");
	}
	g_usleep(400000);
	g_assert_cmpint(g_unlink(gz), ==, 0);
	for (guint i = 10; i < 20; i++) {
		g_autofree char *e = event(i);
		tldrs_test_send(s, e);
		tldrs_test_send(s, "\n");
	}
	g_usleep(400000);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	lines = read_lines(gz);
	g_assert_cmpuint(lines->len, ==, 10);
	g_assert_cmpstr(g_ptr_array_index(lines, 0),
	                ==,
	                "{\"ph\":\"i\",\"name\":\"ev10\",\"ts\":10,\"pid\":1,\"tid\":0,\"args\":{"
	                "\"n\":10}}");
}

static gdouble
test_scale(void)
{
	const char *scale = g_getenv("TLDRS_TEST_SCALE");
	return scale != NULL ? CLAMP(g_ascii_strtod(scale, NULL), 0.01, 1.0) : 1.0;
}

/* while written: the .jsonl.gz holds a prefix of what the .jsonl holds */
static gboolean
check_gzip_prefix(TldrsTestDaemon *d, const char *id)
{
	g_autofree char *base = g_strconcat(id, ".jsonl", NULL);
	g_autofree char *jsonl = g_build_filename(d->data_dir, base, NULL);
	g_autofree char *gz = g_strconcat(jsonl, ".gz", NULL);
	g_autofree char *plain = NULL;
	g_autoptr(GString) text = NULL;
	if (!g_file_test(gz, G_FILE_TEST_EXISTS))
		return FALSE;
	text = gunzip_strict(gz, TRUE, NULL);
	g_assert_true(g_file_get_contents(jsonl, &plain, NULL, NULL));
	/* (a write of the sink may be under way: what follows the last line end) */
	while (text->len > 0 && text->str[text->len - 1] != '\n')
		g_string_truncate(text, text->len - 1);
	g_assert_true(g_str_has_prefix(plain, text->str));
	return TRUE;
}

/* many blocks compressed in parallel, for two traces at once, with flushes in between: the
 * .jsonl.gz always holds whole lines of what the .jsonl holds, in the same order, and in the
 * end exactly the same */
static void
test_gzip_blocks_in_order(void)
{
	g_autoptr(TldrsTestDaemon) d =
	        start_with_config("[Daemon]\nSinks=jsonl;gzip\nFlushIntervalSec=0.05\n");
	const char *ids[] = {"tr-par", "tr-par2"};
	guint n_events = (guint)(20000 * test_scale());
	GSocket *s[5];
	guint checks = 0;

	for (guint c = 0; c < G_N_ELEMENTS(s); c++) {
		g_autofree char *open = g_strdup_printf("OPEN %s\n", ids[c == 4]);
		s[c] = tldrs_test_connect(d->socket_path);
		tldrs_test_send(s[c], open);
	}
	for (guint from = 0; from < n_events; from += 500) {
		for (guint c = 0; c < G_N_ELEMENTS(s); c++) {
			g_autoptr(GString) buf = g_string_new(NULL);
			for (guint i = from; i < MIN(from + 500, n_events); i++) {
				g_autofree char *e = event(c * 1000000 + i);
				g_string_append_printf(buf, "%s\n", e);
			}
			tldrs_test_send_len(s[c], buf->str, buf->len);
		}
		if (from % 2500 == 0) {
			for (guint k = 0; k < G_N_ELEMENTS(ids); k++)
				checks += check_gzip_prefix(d, ids[k]);
			g_usleep(60000);
		}
	}
	/* once more, with every trace's file there */
	for (guint k = 0; k < G_N_ELEMENTS(ids); k++) {
		g_autofree char *base = g_strconcat(ids[k], ".jsonl.gz", NULL);
		g_autofree char *gz = g_build_filename(d->data_dir, base, NULL);
		g_assert_true(tldrs_test_wait_for_file(gz, 10000));
		checks += check_gzip_prefix(d, ids[k]);
	}
	for (guint c = 0; c < G_N_ELEMENTS(s); c++)
		tldrs_test_close(s[c]);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(checks, >, 0);

	for (guint k = 0; k < G_N_ELEMENTS(ids); k++) {
		g_autofree char *base = g_strconcat(ids[k], ".jsonl", NULL);
		g_autofree char *jsonl = g_build_filename(d->data_dir, base, NULL);
		g_autofree char *gz = g_strconcat(jsonl, ".gz", NULL);
		g_autofree char *plain = NULL;
		g_autoptr(GString) text = gunzip_strict(gz, FALSE, NULL);
		g_assert_true(g_file_get_contents(jsonl, &plain, NULL, NULL));
		g_assert_cmpuint(tldrs_test_count_lines(jsonl), ==, n_events * (k == 0 ? 4 : 1));
		g_assert_cmpuint(text->len, ==, strlen(plain));
		g_assert_true(strcmp(text->str, plain) == 0);
	}
}

/* a .jsonl.gz deleted while a member is open: the new file is valid gzip on its own and holds
 * every event sent after the deletion */
static void
test_gzip_deleted_mid_member(void)
{
	g_autoptr(TldrsTestDaemon) d =
	        start_with_config("[Daemon]\nSinks=gzip\nFlushIntervalSec=0.05\n");
	g_autofree char *gz = g_build_filename(d->data_dir, "tr-mid.jsonl.gz", NULL);
	g_autoptr(GString) text = NULL;
	g_auto(GStrv) lines = NULL;
	guint members = 0;
	guint first = 0;
	guint n;
	GSocket *s = tldrs_test_connect(d->socket_path);

	/* an event every 10 ms: never a flush interval without one, so the member stays open */
	tldrs_test_send(s, "OPEN tr-mid\n");
	for (guint i = 0; i < 80; i++) {
		g_autofree char *e = event(i);
		tldrs_test_send(s, e);
		tldrs_test_send(s, "\n");
		if (i == 40) {
			g_assert_true(tldrs_test_wait_for_file(gz, 10000));
			g_assert_cmpint(g_unlink(gz), ==, 0);
		}
		g_usleep(10000);
	}
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);

	text = gunzip_strict(gz, FALSE, &members);
	g_assert_cmpuint(members, ==, 1);
	lines = g_strsplit(text->str, "\n", -1);
	n = g_strv_length(lines) - 1;
	g_assert_cmpstr(lines[n], ==, "");
	g_assert_cmpuint(n, >=, 39);
	g_assert_cmpuint(n, <, 80);
	first = 80 - n;
	for (guint i = 0; i < n; i++) {
		g_autofree char *e = event(first + i);
		g_assert_cmpstr(lines[i], ==, e);
	}
}

/* a write error (a file size limit, like a full disk): nothing lost, the stream stays intact,
 * logged once; everything is stored once the fault clears */
static void
daemon_set_fsize(TldrsTestDaemon *d, const char *limits)
{
	g_autofree char *cmd = g_strdup_printf(
	        "prlimit --pid %s --fsize=%s", g_subprocess_get_identifier(d->proc), limits);
	int status = 0;
	g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL));
	g_assert_cmpint(status, ==, 0);
}

/* a gzip-only daemon that cannot make a file larger than 3000 bytes (RLIMIT_FSIZE, set with
 * prlimit(1)); NULL when prlimit is missing */
static TldrsTestDaemon *
start_gzip_fsize_limited(void)
{
	TldrsTestDaemon *d;
	if (!tldrs_test_have_program("prlimit")) {
		g_test_skip("prlimit (util-linux) is not installed");
		return NULL;
	}
	d = start_with_config("[Daemon]\nSinks=gzip\nFlushIntervalSec=0.05\n");
	daemon_set_fsize(d, "3000:unlimited");
	return d;
}

/* until the daemon has logged the write fault */
static void
wait_for_file_too_large(TldrsTestDaemon *d)
{
	g_assert_true(tldrs_test_daemon_wait_log(d, "File too large", 10000));
}

static void
test_gzip_write_fault(void)
{
	g_autoptr(TldrsTestDaemon) d = start_gzip_fsize_limited();
	g_autofree char *gz = NULL;
	g_autofree char *log = NULL;
	g_autoptr(GString) buf = g_string_new("OPEN tr-full\n");
	g_autoptr(GString) text = NULL;
	GSocket *s;
	GStatBuf sb;

	if (d == NULL)
		return;
	gz = g_build_filename(d->data_dir, "tr-full.jsonl.gz", NULL);
	s = tldrs_test_connect(d->socket_path);
	for (guint i = 0; i < 20000; i++) {
		g_autofree char *e = event(i * 7919 % 100003);
		g_string_append_printf(buf, "%s\n", e);
	}
	tldrs_test_send_len(s, buf->str, buf->len);
	wait_for_file_too_large(d);
	g_assert_cmpint(g_stat(gz, &sb), ==, 0);
	g_assert_cmpint(sb.st_size, <=, 3000);
	g_assert_true(tldrs_test_socket_ready(d->socket_path));

	daemon_set_fsize(d, "unlimited:unlimited");
	for (guint i = 0; i < 500; i++) {
		g_autoptr(GPtrArray) now = read_lines(gz);
		if (now->len >= 20000)
			break;
		g_usleep(10000);
	}
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);

	text = gunzip_strict(gz, FALSE, NULL);
	g_assert_cmpuint(text->len, ==, buf->len - strlen("OPEN tr-full\n"));
	g_assert_true(strcmp(text->str, buf->str + strlen("OPEN tr-full\n")) == 0);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "File too large"));
	g_assert_null(strstr(strstr(log, "File too large") + 1, "File too large"));
	g_assert_nonnull(strstr(log, "tr-full.jsonl.gz: writing again"));
	g_assert_nonnull(strstr(log, "works again"));
}

/* while the gzip file cannot be written, the compressed bytes it keeps count as backlog:
 * past 8 MiB the daemon stops reading (the client waits), and all is stored once the fault
 * clears */
static void
test_gzip_fault_backpressure(void)
{
	g_autoptr(TldrsTestDaemon) d = start_gzip_fsize_limited();
	g_autoptr(GString) buf = g_string_new("OPEN tr-held\n");
	g_autoptr(GString) text = NULL;
	g_autoptr(GRand) rand = g_rand_new_with_seed(5);
	g_autofree char *gz = NULL;
	TldrsTestSender *sender;
	GSocket *s;
	guint n = 0;

	if (d == NULL)
		return;
	gz = g_build_filename(d->data_dir, "tr-held.jsonl.gz", NULL);

	/* 40 MB of events with random hex in them: about 20 MB compressed, well past 8 MiB */
	while (buf->len < 40 * 1024 * 1024) {
		g_string_append_printf(
		        buf, "{\"ph\":\"i\",\"ts\":%u,\"pid\":1,\"args\":{\"r\":\"", n++);
		for (guint i = 0; i < 20; i++)
			g_string_append_printf(buf, "%08x", g_rand_int(rand));
		g_string_append(buf, "\"}}\n");
	}
	s = tldrs_test_connect(d->socket_path);
	sender = tldrs_test_sender_start(s, buf->str, buf->len);
	/* the daemon stops reading: the sender stays blocked */
	wait_for_file_too_large(d);
	g_assert_true(
	        tldrs_test_daemon_wait_log(d, "a sink is behind: not reading from clients", 10000));
	g_assert_false(tldrs_test_sender_done(sender));
	g_assert_true(tldrs_test_socket_ready(d->socket_path));

	/* the fault clears: everything arrives, in order */
	daemon_set_fsize(d, "unlimited:unlimited");
	tldrs_test_sender_join(sender);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	text = gunzip_strict(gz, FALSE, NULL);
	g_assert_cmpuint(text->len, ==, buf->len - strlen("OPEN tr-held\n"));
	g_assert_true(memcmp(text->str, buf->str + strlen("OPEN tr-held\n"), text->len) == 0);
}

/* a sink that fails stops only itself; the others and the clients keep going */
static void
test_failing_sink_alone(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *outdir = g_build_filename(d->tmpdir, "tef-out", NULL);
	g_autofree char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);
	g_autofree char *text =
	        g_strdup_printf("[Daemon]\nSinks=jsonl;tef\n[Sink tef]\nOutputDir=%s\n", outdir);
	g_autofree char *jsonl = g_build_filename(d->data_dir, "tr-f.jsonl", NULL);
	g_autofree char *json2 = g_build_filename(outdir, "tr-g.json", NULL);
	g_autofree char *log = NULL;
	const char *args[] = {"--config", conf, NULL};

	g_file_set_contents(conf, text, -1, NULL);
	tldrs_test_daemon_start(d, args);
	/* the output directory disappears: replaced by a file */
	g_assert_cmpint(g_rmdir(outdir), ==, 0);
	g_file_set_contents(outdir, "in the way\n", -1, NULL);
	send_events(d, "tr-f", 0, 100, TRUE);
	/* its TEF file failed */
	g_assert_true(tldrs_test_daemon_wait_log(d, "cannot write TEF to", 5000));
	/* and comes back */
	g_unlink(outdir);
	g_mkdir(outdir, 0700);
	send_events(d, "tr-g", 0, 10, TRUE);
	g_assert_true(tldrs_test_wait_for_file(json2, 5000));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(jsonl), ==, 100);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "tr-f.json"));
}

/* bad configs fail before the socket is bound, with one line naming file, group and key */
static void
test_bad_configs(void)
{
	struct {
		const char *text;
		const char *message;
	} cases[] = {
	        {"[Daemon]\nFlushIntervalSec=soon\n",
	         "[Daemon] FlushIntervalSec: expected a number > 0 (seconds, at most 3600), got "
	         "\"soon\""},
	        {"[Daemon]\nFlushIntervalSec=0\n", "[Daemon] FlushIntervalSec: expected"},
	        {"[Daemon]\nMaxClients=-1\n", "[Daemon] MaxClients: expected"},
	        {"[Daemon]\nMaxLineBytes=12\n", "[Daemon] MaxLineBytes: expected"},
	        {"[Daemon]\nColour=blue\n", "[Daemon] Colour: unknown key"},
	        {"[Deamon]\nSinks=jsonl\n", "[Deamon]: unknown group"},
	        {"[Daemon]\nSinks=jsonl;nosuch\n", "unknown sink \"nosuch\""},
	        {"[Daemon]\nSinks=tef\n", "[Daemon] Sinks: expected jsonl or gzip beside tef"},
	        {"[Daemon]\nSinks=jsonl;jsonl\n", "[Daemon] Sinks: expected each sink once"},
	        {"[Daemon]\nSinks=gzip\n[Sink gzip]\nLevel=10\n",
	         "[Sink gzip] Level: expected a whole number from 1 to 9, got \"10\""},
	        {"[Daemon]\nSinks=gzip\n[Sink gzip]\nLevl=1\n", "[Sink gzip] Levl: unknown key"},
	        {"[Daemon]\nSinks=jsonl;tef\n[Sink tef]\nFormat=xml\n",
	         "[Sink tef] Format: expected object or array, got \"xml\""},
	        {"[Daemon]\nSinks=jsonl;tef\n[Sink tef]\nOutputDir=relative\n",
	         "[Sink tef] OutputDir: expected an absolute path"},
	        {"[Daemon]\nDataDir=relative/dir\n", "[Daemon] DataDir: expected an absolute path"},
	        {"[Sink foo]\nX=1\n", "[Sink foo]: unknown group"},
	        {"not a key file\n", "tldrs.conf"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
		g_autofree char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);
		g_autofree char *err = NULL;
		g_file_set_contents(conf, cases[i].text, -1, NULL);
		g_assert_cmpint(tldrs_test_serve_config(d, conf, &err), ==, 1);
		if (strstr(err, cases[i].message) == NULL)
			g_error("config %u: expected “%s” in: %s", i, cases[i].message, err);
		g_assert_nonnull(strstr(err, "tldrs.conf"));
		/* one line */
		g_assert_cmpint(strchr(err, '\n') - err, ==, (gssize)strlen(err) - 1);
		g_assert_false(g_file_test(d->socket_path, G_FILE_TEST_EXISTS));
	}
}

/* lookup order: $XDG_CONFIG_HOME/tldrs/tldrs.conf; the command line overrides the file */
static void
test_config_lookup_and_override(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *confdir = g_build_filename(d->tmpdir, "xdg-config", "tldrs", NULL);
	g_autofree char *conf = g_build_filename(confdir, "tldrs.conf", NULL);
	g_autofree char *filedir = g_build_filename(d->tmpdir, "from-file", NULL);
	g_autofree char *text =
	        g_strdup_printf("[Daemon]\nDataDir=%s\nSinks=jsonl;gzip\n", filedir);
	g_autofree char *dir = NULL;
	g_autofree char *gz = NULL;

	g_mkdir_with_parents(confdir, 0700);
	g_file_set_contents(conf, text, -1, NULL);
	/* `dir` reads the file's DataDir */
	g_assert_cmpint(tldrs_test_cli(d, &dir, NULL, "dir", NULL), ==, 0);
	g_assert_cmpstr(g_strstrip(dir), ==, filedir);
	/* serve: -d on the command line wins, Sinks= from the file applies */
	tldrs_test_daemon_start(d, NULL);
	send_events(d, "tr-o", 0, 3, TRUE);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	gz = g_build_filename(d->data_dir, "tr-o.jsonl.gz", NULL);
	g_assert_true(g_file_test(gz, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(filedir, G_FILE_TEST_EXISTS));
}

/* data/tldrs.conf with every key uncommented, at its default, is a valid config */
static void
test_example_config(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *example =
	        g_build_filename(g_getenv("G_TEST_SRCDIR"), "..", "data", "tldrs.conf", NULL);
	g_autofree char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);
	g_autofree char *contents = NULL;
	g_autoptr(GRegex) re = g_regex_new("^#([A-Z][A-Za-z]*=)", G_REGEX_MULTILINE, 0, NULL);
	g_autofree char *uncommented = NULL;
	g_autoptr(GError) error = NULL;
	const char *args[] = {"--config", conf, NULL};
	guint keys = 0;

	g_file_get_contents(example, &contents, NULL, &error);
	g_assert_no_error(error);
	uncommented = g_regex_replace(re, contents, -1, 0, "\\1", 0, &error);
	g_assert_no_error(error);
	for (const char *p = uncommented; (p = strstr(p, "\n")) != NULL; p++) {
		if (g_ascii_isupper(p[1]))
			keys++;
	}
	g_assert_cmpuint(keys, >=, 10);
	tldrs_test_drop_unbuilt_sinks(uncommented);
	g_file_set_contents(conf, uncommented, -1, NULL);
	tldrs_test_daemon_start(d, args);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

/* the daemon maps only the plugins of the sinks it runs: the nats plugin (libnats, OpenSSL)
 * installed beside them costs it nothing, and its config group is still checked, from its
 * description (tldrs-sink-nats.sink) */
static void
test_unused_plugins_not_mapped(void)
{
	g_autoptr(TldrsTestDaemon) d = NULL;
	g_autofree char *maps_path = NULL;
	g_autofree char *maps = NULL;
	g_autofree char *conf = NULL;
	g_autofree char *err = NULL;

	if (!TLDRS_HAVE_NATS) {
		g_test_skip("built without the nats sink");
		return;
	}
	d = start_with_config("[Daemon]\nSinks=jsonl\n[Sink gzip]\nLevel=1\n"
	                      "[Sink nats]\nURL=nats://127.0.0.1:1\n");
	maps_path = g_strdup_printf("/proc/%s/maps", g_subprocess_get_identifier(d->proc));
	g_assert_true(g_file_get_contents(maps_path, &maps, NULL, NULL));
	g_assert_nonnull(strstr(maps, "tldrs-sink-jsonl"));
	g_assert_null(strstr(maps, "tldrs-sink-nats"));
	g_assert_null(strstr(maps, "libnats"));
	g_assert_null(strstr(maps, "tldrs-sink-gzip"));
	g_assert_null(strstr(maps, "tldrs-sink-tef"));
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);

	/* an unknown key of the unused sink is still an error naming file, group and key */
	conf = tldrs_test_write_config(d, "[Daemon]\nSinks=jsonl\n[Sink nats]\nBogus=1\n");
	g_assert_cmpint(tldrs_test_serve_config(d, conf, &err), ==, 1);
	g_assert_nonnull(strstr(err, "tldrs.conf: [Sink nats] Bogus: unknown key"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/sinks/three-sinks", test_three_sinks);
	g_test_add_func("/tldrs/sinks/gzip-alone-and-restart", test_gzip_alone_and_restart);
	g_test_add_func("/tldrs/sinks/gzip-readable-while-written-and-after-crash",
	                test_gzip_readable_while_written_and_after_crash);
	g_test_add_func("/tldrs/sinks/failing-sink-alone", test_failing_sink_alone);
	g_test_add_func("/tldrs/sinks/gzip-deleted-while-written", test_gzip_deleted_while_written);
	g_test_add_func("/tldrs/sinks/gzip-blocks-in-order", test_gzip_blocks_in_order);
	g_test_add_func("/tldrs/sinks/gzip-deleted-mid-member", test_gzip_deleted_mid_member);
	g_test_add_func("/tldrs/sinks/gzip-write-fault", test_gzip_write_fault);
	g_test_add_func("/tldrs/sinks/gzip-fault-backpressure", test_gzip_fault_backpressure);
	g_test_add_func("/tldrs/sinks/unused-plugins-not-mapped", test_unused_plugins_not_mapped);
	g_test_add_func("/tldrs/config/bad-configs", test_bad_configs);
	g_test_add_func("/tldrs/config/lookup-and-override", test_config_lookup_and_override);
	g_test_add_func("/tldrs/config/example-config", test_example_config);
	return g_test_run();
}
