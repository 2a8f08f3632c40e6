/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include <gio/gunixsocketaddress.h>

#include "tldrs-client-socket.h"
#include "tldrs-config.h"
#include "tldrs-daemon.h"
#include "tldrs-dbus.h"
#include "tldrs-error.h"
#include "tldrs-json.h"
#include "tldrs-nats-reader.h"
#include "tldrs-protocol.h"
#include "tldrs-reader.h"
#include "tldrs-run.h"
#include "tldrs-state.h"
#include "tldrs-store.h"
#include "tldrs-tef.h"

/* exit statuses */
#define TLDRS_EXIT_OK    0
#define TLDRS_EXIT_FAIL  1
#define TLDRS_EXIT_USAGE 2

typedef struct {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
} TldrsCommand;

static int
tldrs_fail(GError *error)
{
	g_printerr("tldrs: %s\n", error->message);
	return TLDRS_EXIT_FAIL;
}

/* parse a command's options; on bad usage print why and return FALSE */
static gboolean
tldrs_parse(GOptionContext *ctx, int *argc, char ***argv)
{
	g_autoptr(GError) error = NULL;
	if (!g_option_context_parse(ctx, argc, argv, &error)) {
		g_printerr("tldrs: %s\n", error->message);
		g_printerr(_("Try “%s --help” for more information.\n"), (*argv)[0]);
		return FALSE;
	}
	/* GOption keeps the "--" when an argument after it starts with '-' (a trace id "-rf"):
	 * what follows it is arguments, never options */
	if (*argc > 1 && strcmp((*argv)[1], "--") == 0) {
		memmove(&(*argv)[1], &(*argv)[2], (gsize)(*argc - 1) * sizeof(char *));
		(*argc)--;
	}
	return TRUE;
}

static GOptionContext *
tldrs_context_new(const char *parameter, const char *summary, const GOptionEntry *entries)
{
	GOptionContext *ctx = g_option_context_new(parameter);
	g_option_context_set_summary(ctx, summary);
	g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
	g_option_context_set_translation_domain(ctx, GETTEXT_PACKAGE);
	return ctx;
}

/* -d/--dir, else the config file's DataDir, else $XDG_DATA_HOME/tldrs */
static char *
tldrs_data_dir(const char *opt_dir)
{
	g_autoptr(TldrsConfig) config = tldrs_config_new();
	g_autofree char *path = NULL;
	if (opt_dir != NULL) {
		tldrs_config_set_data_dir(config, opt_dir);
		return g_strdup(config->data_dir);
	}
	path = tldrs_config_find_file();
	if (path != NULL) {
		g_autoptr(GError) error = NULL;
		if (!tldrs_config_load_file(config, path, &error))
			g_printerr("tldrs: %s\n", error->message);
	}
	return g_strdup(config->data_dir);
}

/* ---- serve ---- */

/* --daemonize: the parent waits until the child is serving, or prints why it could not,
 * so that errors still reach the terminal and the exit status tells */
static int
tldrs_daemonize_fork(int *notify_fd)
{
	int fds[2];
	pid_t pid;
	char buf[1024];
	GString *msg;

	if (pipe(fds) != 0) {
		g_printerr("tldrs: pipe: %s\n", g_strerror(errno));
		return TLDRS_EXIT_FAIL;
	}
	pid = fork();
	if (pid < 0) {
		g_printerr("tldrs: fork: %s\n", g_strerror(errno));
		return TLDRS_EXIT_FAIL;
	}
	if (pid == 0) {
		close(fds[0]);
		*notify_fd = fds[1];
		setsid();
		return -1; /* the child goes on */
	}
	close(fds[1]);
	msg = g_string_new(NULL);
	for (;;) {
		ssize_t n = read(fds[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		g_string_append_len(msg, buf, n);
	}
	close(fds[0]);
	if (g_str_equal(msg->str, "OK")) {
		g_string_free(msg, TRUE);
		_exit(TLDRS_EXIT_OK);
	}
	if (msg->len == 0)
		g_string_append(msg, "tldrs: the daemon exited while starting\n");
	g_printerr("%s", msg->str);
	g_string_free(msg, TRUE);
	_exit(TLDRS_EXIT_FAIL);
}

/* the child of --daemonize is serving: release the parent, drop the terminal */
static void
tldrs_daemonize_done(int notify_fd)
{
	int fd = g_open("/dev/null", O_RDWR, 0);
	if (write(notify_fd, "OK", 2) < 0)
		g_debug("cannot notify the parent: %s", g_strerror(errno));
	close(notify_fd);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

static int
tldrs_serve_fail(GError *error, int notify_fd)
{
	if (notify_fd >= 0) {
		g_autofree char *msg = g_strdup_printf("tldrs: %s\n", error->message);
		if (write(notify_fd, msg, strlen(msg)) < 0)
			g_debug("cannot notify the parent");
	}
	return tldrs_fail(error);
}

/* one line on standard output once the daemon serves (before --daemonize lets go of the
 * terminal): where clients connect, where their events go */
static void
tldrs_serve_announce(TldrsDaemon *daemon)
{
	const TldrsConfig *config = tldrs_daemon_get_config(daemon);
	g_auto(GStrv) paths = tldrs_daemon_get_socket_paths(daemon);
	g_autofree char *sockets = g_strjoinv(_(" and "), paths);
	g_autofree char *sinks = g_strjoinv(", ", config->sinks);
	if (config->into_file != NULL) {
		g_print(_("listening on %s, storing every event in %s, sinks %s\n"),
		        sockets,
		        config->into_file,
		        sinks);
	} else {
		g_print(_("listening on %s, storing traces in %s, sinks %s\n"),
		        sockets,
		        config->data_dir,
		        sinks);
	}
	fflush(stdout);
}

static int
tldrs_cmd_serve(int argc, char **argv)
{
	g_autofree char *opt_config = NULL;
	g_autofree char *opt_socket = NULL;
	g_autofree char *opt_dir = NULL;
	g_autofree char *opt_into = NULL;
	gboolean opt_daemonize = FALSE;
	gboolean opt_verbose = FALSE;
	gboolean opt_replace = FALSE;
	gboolean opt_quiet = FALSE;
	const GOptionEntry entries[] = {{"config",
	                                 0,
	                                 0,
	                                 G_OPTION_ARG_FILENAME,
	                                 &opt_config,
	                                 N_("Read settings from FILE"),
	                                 N_("FILE")},
	                                {"socket",
	                                 0,
	                                 0,
	                                 G_OPTION_ARG_FILENAME,
	                                 &opt_socket,
	                                 N_("Listen on PATH"),
	                                 N_("PATH")},
	                                {"dir",
	                                 'd',
	                                 0,
	                                 G_OPTION_ARG_FILENAME,
	                                 &opt_dir,
	                                 N_("Store traces in DIR"),
	                                 N_("DIR")},
	                                {"into-file",
	                                 0,
	                                 0,
	                                 G_OPTION_ARG_FILENAME,
	                                 &opt_into,
	                                 N_("Store every event of every connection in FILE"),
	                                 N_("FILE")},
	                                {"daemonize",
	                                 0,
	                                 0,
	                                 G_OPTION_ARG_NONE,
	                                 &opt_daemonize,
	                                 N_("Go to the background once the daemon is serving"),
	                                 NULL},
	                                {"replace",
	                                 0,
	                                 0,
	                                 G_OPTION_ARG_NONE,
	                                 &opt_replace,
	                                 N_("Replace the daemon of this data dir or D-Bus name"),
	                                 NULL},
	                                {"verbose",
	                                 'v',
	                                 0,
	                                 G_OPTION_ARG_NONE,
	                                 &opt_verbose,
	                                 N_("Log what the daemon does, not only problems"),
	                                 NULL},
	                                {"quiet",
	                                 'q',
	                                 0,
	                                 G_OPTION_ARG_NONE,
	                                 &opt_quiet,
	                                 N_("Do not print where the daemon listens and stores"),
	                                 NULL},
	                                {NULL}};
	g_autoptr(GOptionContext) ctx =
	        tldrs_context_new("", _("Run the trace collector daemon."), entries);
	g_autoptr(TldrsConfig) config = NULL;
	g_autoptr(TldrsDaemon) daemon = NULL;
	g_autoptr(TldrsDbus) dbus = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *config_path = NULL;
	gboolean use_dbus;
	int notify_fd = -1;
	int rc;

	if (!tldrs_parse(ctx, &argc, &argv))
		return TLDRS_EXIT_USAGE;
	if (argc > 1) {
		g_printerr(_("tldrs: serve: unexpected argument “%s”\n"), argv[1]);
		return TLDRS_EXIT_USAGE;
	}
	if (opt_verbose)
		g_log_set_debug_enabled(TRUE);

	/* defaults, then the environment, then the config file, then the command line */
	config = tldrs_config_new();
	config_path = opt_config != NULL ? g_strdup(opt_config) : tldrs_config_find_file();
	if (config_path != NULL && !tldrs_config_load_file(config, config_path, &error))
		return tldrs_fail(error);
	if (opt_socket != NULL) {
		g_free(config->socket_path);
		config->socket_path = g_canonicalize_filename(opt_socket, NULL);
	}
	if (opt_dir != NULL)
		tldrs_config_set_data_dir(config, opt_dir);
	if (opt_into != NULL)
		config->into_file = g_canonicalize_filename(opt_into, NULL);
	config->replace = opt_replace;
	use_dbus = config->dbus;

	/* no thread runs yet: the one moment to fork */
	if (opt_daemonize) {
		rc = tldrs_daemonize_fork(&notify_fd);
		if (rc >= 0)
			return rc;
	}
	daemon = tldrs_daemon_new(g_steal_pointer(&config), &error);
	if (daemon == NULL)
		return tldrs_serve_fail(error, notify_fd);
	/* the bus name first: a second daemon stops before touching the socket */
	dbus = tldrs_dbus_new(daemon);
	if (use_dbus && !tldrs_dbus_start(dbus, opt_replace, &error))
		return tldrs_serve_fail(error, notify_fd);
	if (!tldrs_daemon_listen(daemon, &error))
		return tldrs_serve_fail(error, notify_fd);
	if (!tldrs_daemon_start(daemon, &error))
		return tldrs_serve_fail(error, notify_fd);
	if (!opt_quiet)
		tldrs_serve_announce(daemon);
	if (notify_fd >= 0)
		tldrs_daemonize_done(notify_fd);
	rc = tldrs_daemon_run(daemon);
	tldrs_dbus_stop(dbus);
	return rc;
}

/* ---- list ---- */

/* g_format_size() with a plain space, so that columns line up */
static char *
tldrs_format_size(guint64 bytes)
{
	g_autofree char *size = g_format_size(bytes);
	g_auto(GStrv) parts = g_strsplit(size, "\u00a0", -1);
	return g_strjoinv(" ", parts);
}

static char *
tldrs_format_time(gint64 usec)
{
	g_autoptr(GDateTime) dt = NULL;
	if (usec <= 0)
		return g_strdup("-");
	dt = g_date_time_new_from_unix_local(usec / G_USEC_PER_SEC);
	return g_date_time_format(dt, "%Y-%m-%d %H:%M:%S");
}

/* pads by characters, not bytes: translated headings are not ASCII */
static void
tldrs_append_padded(GString *row, const char *text, glong width, gboolean left)
{
	glong pad = MAX(0, width - (glong)g_utf8_strlen(text, -1));
	if (!left)
		g_string_append_printf(row, "%*s", (int)pad, "");
	g_string_append(row, text);
	if (left)
		g_string_append_printf(row, "%*s", (int)pad, "");
}

/* columns of `list -l`: as wide as their widest cell or their (translated) heading */
#define TLDRS_LIST_COLUMNS 7

static void
tldrs_print_row(const glong widths[TLDRS_LIST_COLUMNS], const char *const cells[TLDRS_LIST_COLUMNS])
{
	g_autoptr(GString) row = g_string_new(NULL);
	for (guint i = 0; i < TLDRS_LIST_COLUMNS; i++) {
		/* the trace id and the time are left-aligned, figures right-aligned */
		if (i > 0)
			g_string_append_c(row, ' ');
		tldrs_append_padded(row, cells[i], widths[i], i == 0 || i == 4);
	}
	g_print("%s\n", row->str);
}

/* `list --nats URL`: the traces in the stream, one a line */
static int
tldrs_list_nats(const char *url, const char *stream)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) ids = tldrs_nats_list_traces(url, stream, &error);
	tldrs_nats_reader_shutdown();
	if (ids == NULL)
		return tldrs_fail(error);
	for (guint i = 0; i < ids->len; i++)
		g_print("%s\n", (const char *)g_ptr_array_index(ids, i));
	return TLDRS_EXIT_OK;
}

static int
tldrs_cmd_list(int argc, char **argv)
{
	g_autofree char *opt_dir = NULL;
	g_autofree char *opt_nats = NULL;
	g_autofree char *opt_stream = NULL;
	gboolean opt_long = FALSE;
	const GOptionEntry entries[] = {
	        {"dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt_dir, N_("Data directory"), N_("DIR")},
	        {"nats",
	         0,
	         0,
	         G_OPTION_ARG_STRING,
	         &opt_nats,
	         N_("List the traces in NATS JetStream at URL instead"),
	         N_("URL")},
	        {"stream",
	         0,
	         0,
	         G_OPTION_ARG_STRING,
	         &opt_stream,
	         N_("The JetStream stream of --nats (default TLDRS)"),
	         N_("NAME")},
	        {"long",
	         'l',
	         0,
	         G_OPTION_ARG_NONE,
	         &opt_long,
	         N_("Show size, events, clients, last write, refused lines and dropped events"),
	         NULL},
	        {NULL}};
	g_autoptr(GOptionContext) ctx =
	        tldrs_context_new("", _("List the traces in the data directory."), entries);
	g_autoptr(GPtrArray) traces = NULL;
	g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	g_autoptr(GHashTable) status = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = NULL;
	const char *const heads[TLDRS_LIST_COLUMNS] = {
	        _("TRACE"),
	        _("SIZE"),
	        _("EVENTS"),
	        _("CLIENTS"),
	        _("LAST WRITE"),
	        _("REFUSED"),
	        _("DROPPED"),
	};
	glong widths[TLDRS_LIST_COLUMNS] = {0};

	if (!tldrs_parse(ctx, &argc, &argv))
		return TLDRS_EXIT_USAGE;
	if (argc > 1) {
		g_printerr(_("tldrs: list: unexpected argument “%s”\n"), argv[1]);
		return TLDRS_EXIT_USAGE;
	}
	if (opt_stream != NULL && opt_nats == NULL) {
		g_printerr(_("tldrs: list: --stream needs --nats\n"));
		return TLDRS_EXIT_USAGE;
	}
	if (opt_nats != NULL && (opt_long || opt_dir != NULL)) {
		g_printerr(_("tldrs: list: --nats goes without -l and -d\n"));
		return TLDRS_EXIT_USAGE;
	}
	if (opt_nats != NULL)
		return tldrs_list_nats(opt_nats, opt_stream);
	dir = tldrs_data_dir(opt_dir);
	/* a directory given by name must exist: a mistyped one is not an empty data directory
	 * (the default one is, until the daemon first stores a trace there) */
	if (opt_dir != NULL && !g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		g_printerr(_("tldrs: %s: no such directory\n"), dir);
		return TLDRS_EXIT_FAIL;
	}
	traces = tldrs_store_list(dir, &error);
	if (traces == NULL)
		return tldrs_fail(error);
	if (!opt_long) {
		for (guint i = 0; i < traces->len; i++)
			g_print("%s\n", ((TldrsStoredTrace *)g_ptr_array_index(traces, i))->id);
		return TLDRS_EXIT_OK;
	}
	status = tldrs_state_load(dir, NULL);
	for (guint i = 0; i < traces->len; i++) {
		TldrsStoredTrace *t = g_ptr_array_index(traces, i);
		TldrsTraceStatus *st = g_hash_table_lookup(status, t->id);
		char **cells = g_new0(char *, TLDRS_LIST_COLUMNS + 1);
		guint64 n = 0;
		cells[0] = g_strdup(t->id);
		cells[1] = tldrs_format_size(t->bytes);
		if (t->source != NULL && tldrs_store_count_events(t->source, NULL, &n, NULL))
			cells[2] = g_strdup_printf("%" G_GUINT64_FORMAT, n);
		else
			cells[2] = g_strdup("-");
		cells[3] = g_strdup_printf("%u", st != NULL ? st->clients : 0);
		cells[4] = tldrs_format_time(t->mtime);
		cells[5] = g_strdup_printf("%" G_GUINT64_FORMAT, st != NULL ? st->refused : 0);
		cells[6] = g_strdup_printf("%" G_GUINT64_FORMAT, st != NULL ? st->dropped : 0);
		g_ptr_array_add(rows, cells);
	}
	for (guint i = 0; i < TLDRS_LIST_COLUMNS; i++)
		widths[i] = g_utf8_strlen(heads[i], -1);
	for (guint r = 0; r < rows->len; r++) {
		char **cells = g_ptr_array_index(rows, r);
		for (guint i = 0; i < TLDRS_LIST_COLUMNS; i++)
			widths[i] = MAX(widths[i], g_utf8_strlen(cells[i], -1));
	}
	tldrs_print_row(widths, heads);
	for (guint r = 0; r < rows->len; r++)
		tldrs_print_row(widths, (const char *const *)g_ptr_array_index(rows, r));
	return TLDRS_EXIT_OK;
}

/* ---- get-tef ---- */

typedef struct {
	gint64 start;
	gboolean shown;
} TldrsProgress;

/* "412.3 MB / 1.0 GB (40%), 950.1 MB/s" on one line of the terminal */
static void
tldrs_get_tef_progress(guint64 done, guint64 total, gpointer user_data)
{
	TldrsProgress *p = user_data;
	double secs = (double)(g_get_monotonic_time() - p->start) / G_USEC_PER_SEC;
	g_autofree char *d = tldrs_format_size(done);
	g_autofree char *t = tldrs_format_size(total);
	g_autofree char *rate = tldrs_format_size(secs > 0 ? (guint64)(done / secs) : 0);
	g_printerr("\r%s / %s (%u%%), %s/s   ",
	           d,
	           t,
	           total > 0 ? (guint)(done * 100 / total) : 100,
	           rate);
	p->shown = TRUE;
}

/* `get-tef --nats URL TRACE`: the trace's events of every host, from JetStream, into a
 * temporary file without a name (rewritten onto one time line, hosts apart) in the
 * directory of @out, or the data directory for standard output; then the usual TEF writer
 * reads it as /proc/self/fd/N (*source); *fd is to be closed */
static gboolean
tldrs_get_tef_nats(const char *url,
                   const char *stream,
                   const char *trace_id,
                   const char *out,
                   char **source,
                   int *fd,
                   GError **error)
{
	TldrsNatsReadStats st = {0};
	g_autofree char *dir = NULL;
	if (out != NULL && g_strcmp0(out, "-") != 0) {
		dir = g_path_get_dirname(out);
	} else {
		dir = tldrs_data_dir(NULL);
		if (g_mkdir_with_parents(dir, 0700) != 0) {
			int errsv = errno;
			g_set_error(error,
			            G_IO_ERROR,
			            g_io_error_from_errno(errsv),
			            "cannot create %s: %s",
			            dir,
			            g_strerror(errsv));
			return FALSE;
		}
	}
	*fd = tldrs_nats_read_trace_to_tmp(url, stream, trace_id, -1, dir, &st, error);
	tldrs_nats_reader_shutdown();
	if (*fd < 0)
		return FALSE;
	*source = g_strdup_printf("/proc/self/fd/%d", *fd);
	if (st.unaligned > 0)
		g_printerr(_("tldrs: %s: %" PRIu64
		             " events of a daemon that published no clock record were not moved "
		             "onto the common time line\n"),
		           trace_id,
		           (uint64_t)st.unaligned);
	if (st.bad_lines > 0)
		g_printerr(_("tldrs: %s: left out %" PRIu64 " lines that are not JSON objects\n"),
		           trace_id,
		           (uint64_t)st.bad_lines);
	return TRUE;
}

static int
tldrs_cmd_get_tef(int argc, char **argv)
{
	g_autofree char *opt_dir = NULL;
	g_autofree char *opt_out = NULL;
	g_autofree char *opt_format = NULL;
	g_autofree char *opt_nats = NULL;
	g_autofree char *opt_stream = NULL;
	const GOptionEntry entries[] = {
	        {"dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt_dir, N_("Data directory"), N_("DIR")},
	        {"nats",
	         0,
	         0,
	         G_OPTION_ARG_STRING,
	         &opt_nats,
	         N_("Read TRACE (a trace id) from NATS JetStream at URL, every host's events"),
	         N_("URL")},
	        {"stream",
	         0,
	         0,
	         G_OPTION_ARG_STRING,
	         &opt_stream,
	         N_("The JetStream stream of --nats (default TLDRS)"),
	         N_("NAME")},
	        {"output",
	         'o',
	         0,
	         G_OPTION_ARG_FILENAME,
	         &opt_out,
	         N_("Write to OUT instead of standard output"),
	         N_("OUT")},
	        {"format",
	         0,
	         0,
	         G_OPTION_ARG_STRING,
	         &opt_format,
	         N_("TEF form: object (default) or array"),
	         N_("FORMAT")},
	        {NULL}};
	g_autoptr(GOptionContext) ctx =
	        tldrs_context_new(_("TRACE"),
	                          _("Write a trace as one TEF JSON file.\n\nTRACE is a file path, "
	                            "a file name or trace id "
	                            "in the data directory, or “latest”."),
	                          entries);
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = NULL;
	g_autofree char *source = NULL;
	g_autofree char *trace_id = NULL;
	TldrsTefFormat format = TLDRS_TEF_FORMAT_OBJECT;
	TldrsTefStats stats = {0};
	TldrsTefProgressFunc progress = NULL;
	TldrsProgress progress_state = {0};
	g_auto(TldrsNatsTmpFd) nats_fd = -1;

	if (!tldrs_parse(ctx, &argc, &argv))
		return TLDRS_EXIT_USAGE;
	if (argc != 2) {
		g_printerr(_("tldrs: get-tef: expected one TRACE\n"));
		return TLDRS_EXIT_USAGE;
	}
	if (opt_format != NULL && !tldrs_tef_format_from_string(opt_format, &format)) {
		g_printerr(_("tldrs: get-tef: --format: expected object or array, got “%s”\n"),
		           opt_format);
		return TLDRS_EXIT_USAGE;
	}
	if (opt_stream != NULL && opt_nats == NULL) {
		g_printerr(_("tldrs: get-tef: --stream needs --nats\n"));
		return TLDRS_EXIT_USAGE;
	}
	if (opt_nats != NULL && opt_dir != NULL) {
		g_printerr(_("tldrs: get-tef: --nats goes without -d\n"));
		return TLDRS_EXIT_USAGE;
	}
	if (opt_nats != NULL) {
		trace_id = g_strdup(argv[1]);
		if (!tldrs_get_tef_nats(
		            opt_nats, opt_stream, trace_id, opt_out, &source, &nats_fd, &error))
			return tldrs_fail(error);
	} else {
		dir = tldrs_data_dir(opt_dir);
		if (!tldrs_store_resolve(dir, argv[1], &source, &trace_id, &error))
			return tldrs_fail(error);
	}
	/* progress only for a person watching */
	if (isatty(STDERR_FILENO)) {
		progress = tldrs_get_tef_progress;
		progress_state.start = g_get_monotonic_time();
	}
	if (opt_out != NULL && g_strcmp0(opt_out, "-") != 0) {
		if (!tldrs_tef_write_file_full(source,
		                               G_MAXUINT64,
		                               opt_out,
		                               format,
		                               trace_id,
		                               NULL,
		                               progress,
		                               &progress_state,
		                               &stats,
		                               &error))
			return tldrs_fail(error);
	} else if (!tldrs_tef_write_fd(source,
	                               G_MAXUINT64,
	                               STDOUT_FILENO,
	                               _("standard output"),
	                               format,
	                               trace_id,
	                               NULL,
	                               progress,
	                               &progress_state,
	                               &stats,
	                               &error)) {
		return tldrs_fail(error);
	}
	if (progress_state.shown)
		g_printerr("\n");
	if (stats.refused > 0) {
		g_printerr(_("tldrs: %s: left out %" PRIu64 " lines that are not JSON objects\n"),
		           nats_fd >= 0 ? trace_id : source,
		           (uint64_t)stats.refused);
	}
	return TLDRS_EXIT_OK;
}

/* ---- clear, dir ---- */

static int
tldrs_cmd_clear(int argc, char **argv)
{
	g_autofree char *opt_dir = NULL;
	const GOptionEntry entries[] = {
	        {"dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt_dir, N_("Data directory"), N_("DIR")},
	        {NULL}};
	g_autoptr(GOptionContext) ctx = tldrs_context_new(
	        "",
	        _("Delete the stored traces. Only trace files are deleted, never a trace that a "
	          "client is writing now."),
	        entries);
	g_autoptr(GPtrArray) busy = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	g_autofree char *dir = NULL;
	guint deleted = 0;

	if (!tldrs_parse(ctx, &argc, &argv))
		return TLDRS_EXIT_USAGE;
	if (argc > 1) {
		g_printerr(_("tldrs: clear: unexpected argument “%s”\n"), argv[1]);
		return TLDRS_EXIT_USAGE;
	}
	dir = tldrs_data_dir(opt_dir);
	if (!tldrs_store_clear(dir, &deleted, busy, &error))
		return tldrs_fail(error);
	for (guint i = 0; i < busy->len; i++) {
		g_printerr(_("tldrs: kept %s: a client is writing it\n"),
		           (const char *)g_ptr_array_index(busy, i));
	}
	g_print(g_dngettext(GETTEXT_PACKAGE, "Deleted %u file.\n", "Deleted %u files.\n", deleted),
	        deleted);
	return TLDRS_EXIT_OK;
}

static int
tldrs_cmd_dir(int argc, char **argv)
{
	g_autofree char *opt_dir = NULL;
	const GOptionEntry entries[] = {
	        {"dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt_dir, N_("Data directory"), N_("DIR")},
	        {NULL}};
	g_autoptr(GOptionContext) ctx =
	        tldrs_context_new("", _("Print the data directory."), entries);
	g_autofree char *dir = NULL;

	if (!tldrs_parse(ctx, &argc, &argv))
		return TLDRS_EXIT_USAGE;
	if (argc > 1) {
		g_printerr(_("tldrs: dir: unexpected argument “%s”\n"), argv[1]);
		return TLDRS_EXIT_USAGE;
	}
	dir = tldrs_data_dir(opt_dir);
	g_print("%s\n", dir);
	return TLDRS_EXIT_OK;
}

/* ---- send ---- */

static gboolean
tldrs_send_all(GSocket *socket, const char *data, gsize len, GError **error)
{
	while (len > 0) {
		gssize n = g_socket_send(socket, data, len, NULL, error);
		if (n < 0)
			return FALSE;
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

static gboolean
tldrs_send_file(GSocket *socket, const char *path, guint *refused, GError **error)
{
	g_autoptr(TldrsReader) reader = NULL;
	g_autoptr(GString) buf = g_string_sized_new(256 * 1024);
	const char *name = path != NULL ? path : _("standard input");
	const char *line = NULL;
	gsize len = 0;
	guint lineno = 0;

	reader = path != NULL ? tldrs_reader_open(path, error)
	                      : tldrs_reader_new_for_fd(STDIN_FILENO, name, error);
	if (reader == NULL)
		return FALSE;
	for (;;) {
		g_autoptr(GError) error_local = NULL;
		const char *reason = NULL;
		if (!tldrs_reader_next(reader, &line, &len, &error_local)) {
			if (error_local != NULL) {
				g_propagate_error(error, g_steal_pointer(&error_local));
				return FALSE;
			}
			break;
		}
		lineno++;
		while (len > 0 && g_ascii_isspace(line[len - 1]))
			len--;
		while (len > 0 && g_ascii_isspace(line[0])) {
			line++;
			len--;
		}
		if (len == 0)
			continue;
		if (!tldrs_json_check_object(line, len, NULL, &reason)) {
			g_printerr(_("tldrs: %s:%u: refused: %s\n"), name, lineno, reason);
			(*refused)++;
			continue;
		}
		g_string_append_len(buf, line, (gssize)len);
		g_string_append_c(buf, '\n');
		if (buf->len >= 256 * 1024) {
			if (!tldrs_send_all(socket, buf->str, buf->len, error))
				return FALSE;
			g_string_truncate(buf, 0);
		}
	}
	return tldrs_send_all(socket, buf->str, buf->len, error);
}

static int
tldrs_cmd_send(int argc, char **argv)
{
	g_autofree char *opt_socket = NULL;
	g_autofree char *opt_trace = NULL;
	const GOptionEntry entries[] = {{"trace-id",
	                                 't',
	                                 0,
	                                 G_OPTION_ARG_STRING,
	                                 &opt_trace,
	                                 N_("Trace to send to (default: $TRACE_TEF_TLDR_TRACE_ID)"),
	                                 N_("ID")},
	                                {"socket",
	                                 0,
	                                 0,
	                                 G_OPTION_ARG_FILENAME,
	                                 &opt_socket,
	                                 N_("The daemon's socket"),
	                                 N_("PATH")},
	                                {NULL}};
	g_autoptr(GOptionContext) ctx = tldrs_context_new(
	        _("[FILE…]"),
	        _("Send JSONL events from FILEs, or standard input, to the daemon."),
	        entries);
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	g_autofree char *open_line = NULL;
	const char *reason = NULL;
	const char *trace_id;
	guint refused = 0;

	if (!tldrs_parse(ctx, &argc, &argv))
		return TLDRS_EXIT_USAGE;
	trace_id = opt_trace != NULL ? opt_trace : g_getenv("TRACE_TEF_TLDR_TRACE_ID");
	if (trace_id == NULL || trace_id[0] == '\0') {
		g_printerr(_("tldrs: send: no trace id: pass --trace-id or set "
		             "TRACE_TEF_TLDR_TRACE_ID\n"));
		return TLDRS_EXIT_USAGE;
	}
	if (!tldrs_protocol_check_trace_id(trace_id, strlen(trace_id), &reason)) {
		g_printerr(_("tldrs: send: bad trace id “%s”: %s\n"), trace_id, reason);
		return TLDRS_EXIT_USAGE;
	}
	path = tldrs_client_socket_path(opt_socket);
	socket = tldrs_client_socket_connect(path, &error);
	if (socket == NULL) {
		if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
			return tldrs_fail(error);
		g_printerr(_("tldrs: cannot connect to %s (is “tldrs serve” running?)\n"),
		           error->message);
		return TLDRS_EXIT_FAIL;
	}
	open_line = g_strdup_printf("OPEN %s\n", trace_id);
	if (!tldrs_send_all(socket, open_line, strlen(open_line), &error))
		return tldrs_fail(error);
	if (argc < 2 && !tldrs_send_file(socket, NULL, &refused, &error))
		return tldrs_fail(error);
	for (int i = 1; i < argc; i++) {
		if (!tldrs_send_file(socket, argv[i], &refused, &error))
			return tldrs_fail(error);
	}
	if (!g_socket_close(socket, &error))
		return tldrs_fail(error);
	return refused > 0 ? TLDRS_EXIT_FAIL : TLDRS_EXIT_OK;
}

static const TldrsCommand tldrs_commands[] = {
        {"serve", N_("Run the daemon"), tldrs_cmd_serve},
        {"list", N_("List the stored traces"), tldrs_cmd_list},
        {"get-tef", N_("Write a trace as TEF JSON"), tldrs_cmd_get_tef},
        {"clear", N_("Delete the stored traces"), tldrs_cmd_clear},
        {"dir", N_("Print the data directory"), tldrs_cmd_dir},
        {"send", N_("Send JSONL events to the daemon"), tldrs_cmd_send},
        {"run", N_("Trace a command and every process it starts"), tldrs_run_main},
};

static void
tldrs_usage(FILE *out)
{
	fprintf(out, "%s\n", _("Usage: tldrs COMMAND [OPTIONS…]"));
	fprintf(out, "\n%s\n", _("Collects Trace Event Format events from many processes."));
	fprintf(out, "\n%s\n", _("Commands:"));
	for (guint i = 0; i < G_N_ELEMENTS(tldrs_commands); i++)
		fprintf(out, "  %-10s %s\n", tldrs_commands[i].name, _(tldrs_commands[i].summary));
	fprintf(out, "\n%s\n", _("Options:"));
	fprintf(out, "  -h, --help     %s\n", _("Show this help"));
	fprintf(out, "  --version      %s\n", _("Show the version"));
	fprintf(out, "\n%s\n", _("Run “tldrs COMMAND --help” for a command's options."));
}

int
main(int argc, char **argv)
{
	g_autofree char *prgname = NULL;

	/* Every thread that allocates (the read threads, the line check's helpers) would get a
	 * malloc arena of its own, and malloc_trim() leaves the top of each (up to 128 KiB) in
	 * place: after a burst of clients that is about 1 MiB that stays. With two arenas in
	 * all, the other threads share one besides the main thread's (glibc may give them the
	 * main one too) (docs/performance.md, Memory). Before any thread starts. */
	mallopt(M_ARENA_MAX, 2);
	/* A read thread's receive of up to 128 KiB is one block, freed by the main loop: with
	 * glibc's default thresholds the arena's top was given back and faulted in again at
	 * almost every read (page faults and unmapping were 3-4 % of the daemon's samples with
	 * sixteen streaming clients). Blocks up to 1 MiB come from the heap, and up to 1 MiB of
	 * free top stays (after a burst it is what RSS keeps over the idle figure: about 0.5 MiB
	 * more, docs/performance.md) */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);

	/* logs go to stderr (or the journal): stdout is for what a command prints */
	g_log_writer_default_set_use_stderr(TRUE);
	setlocale(LC_ALL, "");
	/* TLDRS_LOCALEDIR: catalogs from elsewhere, e.g. the build tree in tests */
	bindtextdomain(GETTEXT_PACKAGE,
	               g_getenv("TLDRS_LOCALEDIR") != NULL ? g_getenv("TLDRS_LOCALEDIR")
	                                                   : TLDRS_LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);

	if (argc < 2) {
		tldrs_usage(stderr);
		return TLDRS_EXIT_USAGE;
	}
	if (g_strcmp0(argv[1], "--help") == 0 || g_strcmp0(argv[1], "-h") == 0 ||
	    g_strcmp0(argv[1], "help") == 0) {
		tldrs_usage(stdout);
		return TLDRS_EXIT_OK;
	}
	if (g_strcmp0(argv[1], "--version") == 0 || g_strcmp0(argv[1], "-V") == 0) {
		g_print("tldrs %s\n", PACKAGE_VERSION);
		return TLDRS_EXIT_OK;
	}
	for (guint i = 0; i < G_N_ELEMENTS(tldrs_commands); i++) {
		if (g_strcmp0(argv[1], tldrs_commands[i].name) == 0) {
			prgname = g_strdup_printf("tldrs %s", tldrs_commands[i].name);
			g_set_prgname(prgname);
			/* the command sees itself as argv[0] */
			return tldrs_commands[i].run(argc - 1, argv + 1);
		}
	}
	g_printerr(_("tldrs: unknown command “%s”\n"), argv[1]);
	tldrs_usage(stderr);
	return TLDRS_EXIT_USAGE;
}
