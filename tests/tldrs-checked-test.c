/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* Integration tests of the "checked" record: the real daemon stores traces, `get-tef` copies
 * the lines it checked without checking them again, and any other hand on the file (an edit
 * with its mtime put back, an append, a truncation, junk from before the daemon) is noticed:
 * those files are checked line by line again, and their bad lines left out. */

#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "tldrs-checked.h"
#include "tldrs-test-util.h"

#define COPIED_MARK "bytes are lines the daemon checked"

static char *
event(guint n)
{
	return g_strdup_printf(
	        "{\"ph\":\"i\",\"name\":\"ev %u\",\"ts\":%u,\"pid\":1,\"tid\":0}\n", n, n);
}

static void
send_events(GSocket *s, guint first, guint n)
{
	g_autoptr(GString) buf = g_string_new(NULL);
	for (guint i = first; i < first + n; i++) {
		g_autofree char *e = event(i);
		g_string_append(buf, e);
	}
	tldrs_test_send_len(s, buf->str, buf->len);
}

/* a daemon run that stores @n events into trace @id */
static void
store_trace(TldrsTestDaemon *d, const char *id, guint first, guint n)
{
	g_autofree char *open_line = g_strdup_printf("OPEN %s\n", id);
	GSocket *s;

	tldrs_test_daemon_start(d, NULL);
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, open_line);
	send_events(s, first, n);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
}

static void
wait_for_lines(const char *path, guint n)
{
	for (guint waited = 0; tldrs_test_count_lines(path) < n && waited < 5000; waited += 10)
		g_usleep(10000);
	g_assert_cmpuint(tldrs_test_count_lines(path), ==, n);
}

/* the "checked" record of @id in the state file: its size, or -1 */
static gint64
checked_size(TldrsTestDaemon *d, const char *id)
{
	g_autofree char *fn = g_build_filename(d->data_dir, ".tldrs-state.json", NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error = NULL;
	JsonObject *traces;
	JsonObject *entry;

	json_parser_load_from_file(parser, fn, &error);
	g_assert_no_error(error);
	traces = json_object_get_object_member(json_node_get_object(json_parser_get_root(parser)),
	                                       "traces");
	entry = json_object_get_object_member(traces, id);
	g_assert_nonnull(entry);
	if (!json_object_has_member(entry, "checked"))
		return -1;
	return json_object_get_int_member(json_object_get_object_member(entry, "checked"), "size");
}

static guint64
file_size(const char *path)
{
	GStatBuf st;
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return (guint64)st.st_size;
}

/* `tldrs get-tef ID`: checks the TEF and its counts; returns whether lines were copied
 * unchecked, and how many bytes */
static gboolean
get_tef(TldrsTestDaemon *d, const char *id, guint events, guint left_out, guint64 *copied)
{
	g_autoptr(GSubprocessLauncher) l = tldrs_test_launcher(d->tmpdir);
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *out = g_build_filename(d->tmpdir, "out.json", NULL);
	g_autofree char *err = NULL;
	JsonObject *other;
	const char *mark;

	g_subprocess_launcher_setenv(l, "G_MESSAGES_DEBUG", "tldrs", TRUE);
	g_subprocess_launcher_set_flags(
	        l, G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
	p = g_subprocess_launcher_spawn(l,
	                                &error,
	                                g_getenv("TLDRS_BIN"),
	                                "get-tef",
	                                id,
	                                "-d",
	                                d->data_dir,
	                                "-o",
	                                out,
	                                NULL);
	g_assert_no_error(error);
	g_subprocess_communicate_utf8(p, NULL, NULL, NULL, &err, &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_get_if_exited(p));
	g_assert_cmpint(g_subprocess_get_exit_status(p), ==, 0);
	root = tldrs_test_load_tef(out);
	g_assert_cmpuint(json_array_get_length(tldrs_test_tef_events(root)), ==, events);
	other = json_object_get_object_member(json_node_get_object(root), "otherData");
	g_assert_cmpint(json_object_get_int_member(other, "linesLeftOut"), ==, left_out);
	mark = strstr(err, COPIED_MARK);
	if (mark == NULL)
		return FALSE;
	/* "...: the first N bytes are lines the daemon checked..." */
	while (mark > err && mark[-1] != 't')
		mark--;
	*copied = g_ascii_strtoull(mark + 1, NULL, 10);
	return TRUE;
}

/* restore the modification time: only the ctime shows the change */
static void
set_mtime(const char *path, const GStatBuf *st)
{
	struct timespec times[2] = {st->st_atim, st->st_mtim};
	g_assert_cmpint(utimensat(AT_FDCWD, path, times, 0), ==, 0);
}

/* what the daemon stored, it vouches for; and so on across daemon runs */
static void
test_stored(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-ok");
	guint64 copied = 0;

	store_trace(d, "tr-ok", 0, 1000);
	g_assert_cmpint(checked_size(d, "tr-ok"), ==, (gint64)file_size(fn));
	g_assert_true(get_tef(d, "tr-ok", 1000, 0, &copied));
	g_assert_cmpuint(copied, ==, file_size(fn));

	/* a second run appends to the same trace: still all checked lines */
	store_trace(d, "tr-ok", 1000, 500);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 1500);
	g_assert_cmpint(checked_size(d, "tr-ok"), ==, (gint64)file_size(fn));
	g_assert_true(get_tef(d, "tr-ok", 1500, 0, &copied));
	g_assert_cmpuint(copied, ==, file_size(fn));
}

/* an edit by hand, its mtime put back: an inserted bad line, or a line overwritten in place
 * keeping the size; both are caught and the bad line left out */
static void
test_hand_edit(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-edit");
	g_autofree char *contents = NULL;
	g_autofree char *edited = NULL;
	const char *second;
	gsize len = 0;
	guint64 copied = 0;
	GStatBuf st;
	int fd;

	store_trace(d, "tr-edit", 0, 1000);
	g_assert_true(get_tef(d, "tr-edit", 1000, 0, &copied));

	/* insert a bad line after the first, in place (the same file) */
	g_assert_cmpint(g_stat(fn, &st), ==, 0);
	g_assert_true(g_file_get_contents(fn, &contents, &len, NULL));
	second = strchr(contents, '\n') + 1;
	edited = g_strdup_printf(
	        "%.*s{\"not\": json}\n%s", (int)(second - contents), contents, second);
	fd = g_open(fn, O_WRONLY | O_TRUNC, 0);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, edited, strlen(edited)), ==, (gssize)strlen(edited));
	close(fd);
	set_mtime(fn, &st);
	g_assert_false(get_tef(d, "tr-edit", 1000, 1, &copied));

	/* back as it was, then the same size: the second line's '{' becomes 'x' */
	fd = g_open(fn, O_WRONLY | O_TRUNC, 0);
	g_assert_cmpint(write(fd, contents, len), ==, (gssize)len);
	close(fd);
	g_assert_cmpint(g_stat(fn, &st), ==, 0);
	fd = g_open(fn, O_WRONLY, 0);
	g_assert_cmpint(pwrite(fd, "x", 1, second - contents), ==, 1);
	close(fd);
	set_mtime(fn, &st);
	g_assert_cmpuint(file_size(fn), ==, len);
	g_assert_false(get_tef(d, "tr-edit", 999, 1, &copied));
}

/* another program appends to a trace file while the daemon writes it: trust is gone for the
 * rest of the run, and no record is saved */
static void
test_other_writer(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_start_new(NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-app");
	g_autofree char *log = NULL;
	guint64 copied = 0;
	GSocket *s = tldrs_test_connect(d->socket_path);
	int fd;

	tldrs_test_send(s, "OPEN tr-app\n");
	send_events(s, 0, 100);
	wait_for_lines(fn, 100);
	fd = g_open(fn, O_WRONLY | O_APPEND, 0);
	g_assert_cmpint(write(fd, "not json\n", 9), ==, 9);
	close(fd);
	send_events(s, 100, 100);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	log = tldrs_test_daemon_log(d);
	g_assert_nonnull(strstr(log, "was changed by another program"));
	g_assert_cmpint(checked_size(d, "tr-app"), ==, -1);
	g_assert_false(get_tef(d, "tr-app", 200, 1, &copied));

	/* nor in a later run that appends again */
	store_trace(d, "tr-app", 200, 10);
	g_assert_cmpint(checked_size(d, "tr-app"), ==, -1);
	g_assert_false(get_tef(d, "tr-app", 210, 1, &copied));
}

/* a truncated trace file, after the daemon and while it writes */
static void
test_truncated(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-cut");
	g_autofree char *fn2 = tldrs_test_trace_file(d, "tr-cut2");
	guint64 copied = 0;
	GSocket *s;

	store_trace(d, "tr-cut", 0, 100);
	g_assert_cmpint(truncate(fn, (off_t)file_size(fn) - 10), ==, 0);
	g_assert_false(get_tef(d, "tr-cut", 99, 1, &copied));

	/* cut inside a line while the daemon has the trace open: the rest of that line and the
	 * next one become one bad line */
	tldrs_test_daemon_start(d, NULL);
	s = tldrs_test_connect(d->socket_path);
	tldrs_test_send(s, "OPEN tr-cut2\n");
	send_events(s, 0, 100);
	wait_for_lines(fn2, 100);
	g_assert_cmpint(truncate(fn2, (off_t)file_size(fn2) / 2), ==, 0);
	send_events(s, 100, 100);
	tldrs_test_close(s);
	g_assert_cmpint(tldrs_test_daemon_stop(d, SIGTERM), ==, 0);
	g_assert_cmpint(checked_size(d, "tr-cut2"), ==, -1);
	g_assert_false(get_tef(d, "tr-cut2", tldrs_test_count_lines(fn2) - 1, 1, &copied));
}

/* a trace file that was there before the daemon, with junk in it: never vouched for; nor a
 * state file that others may write */
static void
test_existing_junk(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-old");
	g_autofree char *state = g_build_filename(d->data_dir, ".tldrs-state.json", NULL);
	g_autofree char *e = event(99);
	g_autofree char *junk = g_strdup_printf("junk\n%s", e);
	guint64 copied = 0;

	g_assert_cmpint(g_mkdir_with_parents(d->data_dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(fn, junk, -1, NULL));
	store_trace(d, "tr-old", 0, 100);
	g_assert_cmpint(checked_size(d, "tr-old"), ==, -1);
	g_assert_false(get_tef(d, "tr-old", 101, 1, &copied));

	/* a clean trace, but its state file is writable by the group */
	store_trace(d, "tr-new", 0, 10);
	g_assert_true(get_tef(d, "tr-new", 10, 0, &copied));
	g_assert_cmpint(g_chmod(state, 0660), ==, 0);
	g_assert_false(get_tef(d, "tr-new", 10, 0, &copied));
}

static void
append(const char *path, const char *data)
{
	int fd = g_open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, data, strlen(data)), ==, (gssize)strlen(data));
	close(fd);
}

static gboolean
vouched_now(TldrsChecked *checked, const char *path)
{
	GStatBuf st;
	guint64 size = 0;
	g_assert_cmpint(g_stat(path, &st), ==, 0);
	return tldrs_checked_lookup(checked, path, &st, &size) && size == (guint64)st.st_size;
}

/* in-process: a watched file is vouched for after each write that grew it by exactly what
 * was stored, and no more once another hand touched it; the record is the daemon's own */
static void
test_watch(void)
{
	g_autofree char *dir = tldrs_test_mkdtemp();
	g_autofree char *path = g_build_filename(dir, "tr-w.jsonl", NULL);
	g_autoptr(TldrsChecked) checked = tldrs_checked_new();
	g_autoptr(TldrsChecked) other = tldrs_checked_new();
	g_autoptr(TldrsCheckedWatch) watch = tldrs_checked_watch_new(checked, path, "tr-w");
	g_autofree char *e0 = event(0);
	g_autofree char *e1 = event(1);

	/* absent: trusted, nothing vouched for yet */
	g_assert_true(tldrs_checked_watch_is_trusted(watch));
	g_assert_true(tldrs_checked_watch_begin(watch));
	append(path, e0);
	tldrs_checked_watch_end(watch, strlen(e0), 0, 0);
	g_assert_true(vouched_now(checked, path));
	g_assert_false(vouched_now(other, path));
	g_assert_false(vouched_now(NULL, path));

	/* a sink that kept part of what it was given: the backlog says how much */
	g_assert_true(tldrs_checked_watch_begin(watch));
	append(path, e1);
	tldrs_checked_watch_end(watch, strlen(e1) + 10, 0, 10);
	g_assert_true(vouched_now(checked, path));

	/* another program appends: the next write finds out, and the trust is gone */
	append(path, e0);
	g_test_expect_message("tldrs", G_LOG_LEVEL_INFO, "*was changed by another program*");
	g_assert_false(tldrs_checked_watch_begin(watch));
	g_test_assert_expected_messages();
	g_assert_false(tldrs_checked_watch_is_trusted(watch));
	g_assert_false(vouched_now(checked, path));

	/* a file with lines from before: never trusted by a new watch */
	{
		g_autoptr(TldrsCheckedWatch) again = NULL;
		g_test_expect_message(
		        "tldrs", G_LOG_LEVEL_INFO, "*holds lines that this daemon did not store*");
		again = tldrs_checked_watch_new(checked, path, "tr-w");
		g_test_assert_expected_messages();
		g_assert_false(tldrs_checked_watch_is_trusted(again));
	}
	tldrs_test_rm_rf(dir);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/checked/stored", test_stored);
	g_test_add_func("/tldrs/checked/hand-edit", test_hand_edit);
	g_test_add_func("/tldrs/checked/other-writer", test_other_writer);
	g_test_add_func("/tldrs/checked/truncated", test_truncated);
	g_test_add_func("/tldrs/checked/existing-junk", test_existing_junk);
	g_test_add_func("/tldrs/checked/watch", test_watch);
	return g_test_run();
}
