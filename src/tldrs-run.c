/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "tldrs-client-socket.h"
#include "tldrs-proctrace.h"
#include "tldrs-protocol.h"
#include "tldrs-reader.h"
#include "tldrs-run.h"
#include "tldrs-tef.h"

/* `tldrs run -- COMMAND`: trace a command with no daemon set-up. A running daemon is used
 * (its socket, else D-Bus activation); otherwise a private one runs for the duration on a
 * private socket and data directory. COMMAND and its children find the trace through the
 * variables real clients read; tldrs adds the command's own span and names, and writes the
 * TEF file once COMMAND has exited and every client of the trace has disconnected. */

/* a daemon started on demand by D-Bus activation; its socket, or NULL */
static char *
tldrs_run_dbus_activate(void)
{
	g_autoptr(GDBusConnection) c = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, NULL);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) value = NULL;
	if (c == NULL)
		return NULL;
	reply = g_dbus_connection_call_sync(
	        c,
	        "org.tldrs.Daemon1",
	        "/org/tldrs/Daemon1",
	        "org.freedesktop.DBus.Properties",
	        "Get",
	        g_variant_new("(ss)", "org.tldrs.Daemon1", "SocketPath"),
	        G_VARIANT_TYPE("(v)"),
	        G_DBUS_CALL_FLAGS_NONE,
	        10000,
	        NULL,
	        NULL);
	if (reply == NULL)
		return NULL;
	g_variant_get(reply, "(v)", &value);
	if (!g_variant_is_of_type(value, G_VARIANT_TYPE_STRING))
		return NULL;
	return g_variant_dup_string(value, NULL);
}

static void
tldrs_run_new_session(gpointer user_data)
{
	(void)user_data;
	setsid();
}

/* a private daemon on a private socket and data directory, for this run only; its pid */
static GPid
tldrs_run_private_daemon(const char *dir, char **socket_path, GError **error)
{
	g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *conf = g_build_filename(dir, "tldrs.conf", NULL);
	g_autofree char *data = g_build_filename(dir, "data", NULL);
	g_autofree char *sock = g_build_filename(dir, "tldrs.socket", NULL);
	g_autofree char *log = g_build_filename(dir, "daemon.log", NULL);
	const char *argv[] = {exe != NULL ? exe : "tldrs",
	                      "serve",
	                      "--config",
	                      conf,
	                      "--socket",
	                      sock,
	                      "-d",
	                      data,
	                      NULL};
	GPid pid = 0;
	int log_fd;
	gboolean ok;

	/* the user's config and bus name are not ours to use */
	if (!g_file_set_contents(conf, "[Daemon]\nDBus=none\nSinks=jsonl\n", -1, error))
		return 0;
	log_fd = g_open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(errno),
		            "%s: %s",
		            log,
		            g_strerror(errno));
		return 0;
	}
	/* not reaped by GLib: the process tracer's wait may take its exit; in a session of its
	 * own, so that Ctrl-C at the terminal stops the command, not the daemon that keeps
	 * its events */
	ok = g_spawn_async_with_pipes_and_fds(NULL,
	                                      argv,
	                                      NULL,
	                                      G_SPAWN_DO_NOT_REAP_CHILD |
	                                              G_SPAWN_STDOUT_TO_DEV_NULL,
	                                      tldrs_run_new_session,
	                                      NULL,
	                                      -1,
	                                      -1,
	                                      log_fd,
	                                      NULL,
	                                      NULL,
	                                      0,
	                                      &pid,
	                                      NULL,
	                                      NULL,
	                                      NULL,
	                                      error);
	close(log_fd);
	if (!ok)
		return 0;
	for (guint i = 0; i < 500; i++) {
		int status;
		if (tldrs_client_socket_live(sock)) {
			*socket_path = g_steal_pointer(&sock);
			return pid;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			pid = 0;
			break;
		}
		g_usleep(10000);
	}
	g_set_error(error,
	            G_IO_ERROR,
	            G_IO_ERROR_FAILED,
	            _("the private daemon did not start (see %s)"),
	            log);
	if (pid != 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return 0;
}

static gboolean
tldrs_run_send(GSocket *socket, const char *data, GError **error)
{
	gsize len = strlen(data);
	while (len > 0) {
		gssize n = g_socket_send(socket, data, len, NULL, error);
		if (n < 0)
			return FALSE;
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

static char *
tldrs_run_new_trace_id(void)
{
	GString *id = g_string_new(NULL);
	g_string_append_printf(id, "tr-%" G_GINT64_FORMAT "-", g_get_real_time() / G_USEC_PER_SEC);
	for (guint i = 0; i < 4; i++)
		g_string_append_printf(id, "%08x", g_random_int());
	return g_string_free(id, FALSE);
}

/* the private daemon's directory: a data directory in it, files only */
static void
tldrs_run_remove_dir(const char *dir)
{
	g_autofree char *data = g_build_filename(dir, "data", NULL);
	const char *dirs[] = {data, dir};
	for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
		g_autoptr(GDir) d = g_dir_open(dirs[i], 0, NULL);
		const char *n;
		while (d != NULL && (n = g_dir_read_name(d)) != NULL) {
			g_autofree char *fn = g_build_filename(dirs[i], n, NULL);
			if (!g_file_test(fn, G_FILE_TEST_IS_DIR))
				g_unlink(fn);
		}
		g_rmdir(dirs[i]);
	}
}

/* a private daemon that did not start: its log stays for the user to read, nothing else */
static void
tldrs_run_keep_log(char *dir)
{
	g_autofree char *conf = g_build_filename(dir, "tldrs.conf", NULL);
	g_autofree char *data = g_build_filename(dir, "data", NULL);
	g_unlink(conf);
	g_rmdir(data);
	g_free(dir);
}

/* the events and processes of a TEF file that we wrote */
static void
tldrs_run_count(const char *path, guint64 *events, guint *processes)
{
	g_autoptr(TldrsReader) reader = tldrs_reader_open(path, NULL);
	g_autoptr(GHashTable) pids = g_hash_table_new(g_direct_hash, g_direct_equal);
	const char *line;
	gsize len;

	*events = 0;
	*processes = 0;
	if (reader == NULL)
		return;
	while (tldrs_reader_next(reader, &line, &len, NULL)) {
		const char *p;
		if (len == 0 || line[0] != '{' || g_str_has_prefix(line, "{\"traceEvents\""))
			continue;
		(*events)++;
		p = g_strstr_len(line, (gssize)len, "\"pid\"");
		if (p == NULL)
			continue;
		p += 5;
		while (*p == ' ' || *p == ':')
			p++;
		g_hash_table_add(pids, GSIZE_TO_POINTER(g_ascii_strtoull(p, NULL, 10)));
	}
	*processes = g_hash_table_size(pids);
}

static char *
tldrs_run_json_string(const char *s)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree char *valid = g_utf8_make_valid(s, -1);
	tldrs_tef_append_json_string(out, valid);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

typedef struct {
	GSocket *socket; /* borrowed; NULL once sending failed */
	GError *error;
} TldrsRunSender;

/* the process tracer's events go to the daemon as they come */
static void
tldrs_run_emit(const char *lines, gsize len, gpointer user_data)
{
	TldrsRunSender *sender = user_data;
	while (sender->socket != NULL && len > 0) {
		gssize n = g_socket_send(sender->socket, lines, len, NULL, &sender->error);
		if (n < 0) {
			g_printerr(_("tldrs: run: cannot send to the daemon: %s\n"),
			           sender->error->message);
			g_clear_error(&sender->error);
			sender->socket = NULL; /* not ours to unref */
			return;
		}
		lines += n;
		len -= (gsize)n;
	}
}

/* one line from the daemon, waiting until @deadline (monotonic); NULL on a time-out or when
 * the connection ends (@error says which) */
static char *
tldrs_run_read_line(GSocket *socket, GString *buf, gint64 deadline, GError **error)
{
	for (;;) {
		const char *nl = memchr(buf->str, '\n', buf->len);
		char chunk[512];
		gint64 left = deadline - g_get_monotonic_time();
		gssize n;
		if (nl != NULL) {
			char *line = g_strndup(buf->str, (gsize)(nl - buf->str));
			g_string_erase(buf, 0, nl - buf->str + 1);
			return line;
		}
		if (left <= 0 ||
		    !g_socket_condition_timed_wait(socket, G_IO_IN, left, NULL, NULL)) {
			g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "timed out");
			return NULL;
		}
		n = g_socket_receive(socket, chunk, sizeof chunk, NULL, error);
		if (n < 0)
			return NULL;
		if (n == 0) {
			g_set_error_literal(error,
			                    G_IO_ERROR,
			                    G_IO_ERROR_CONNECTION_CLOSED,
			                    _("the daemon closed the connection"));
			return NULL;
		}
		g_string_append_len(buf, chunk, n);
	}
}

/* what became of the trace file: the daemon's answer to AWAIT_TEF, within the bounds; FALSE
 * with a one-line message on stderr when OUT is not written */
static gboolean
tldrs_run_await(GSocket *socket,
                const char *socket_path,
                const char *trace_id,
                const char *out,
                guint wait_s,
                guint64 *events)
{
	g_autofree char *await = g_strdup_printf("AWAIT_TEF %s\n", out);
	g_autoptr(GString) buf = g_string_new(NULL);
	g_autoptr(GError) error = NULL;
	g_autofree char *line = NULL;
	gint64 deadline;
	guint others = 0;

	if (!tldrs_run_send(socket, await, &error)) {
		g_printerr(_("tldrs: run: cannot send to the daemon: %s\n"), error->message);
		return FALSE;
	}
	/* a tldrs daemon answers at once */
	line = tldrs_run_read_line(
	        socket, buf, g_get_monotonic_time() + 5 * G_USEC_PER_SEC, &error);
	if (line == NULL || !g_str_has_prefix(line, "AWAITING ")) {
		if (line != NULL && g_str_has_prefix(line, "TEF_FAILED "))
			g_printerr(_("tldrs: run: cannot write %s: %s\n"), out, line + 11);
		else
			g_printerr(_("tldrs: run: %s gave no answer to AWAIT_TEF (%s): not a tldrs "
			             "daemon, or an older one; %s is not written\n"),
			           socket_path,
			           error != NULL ? error->message : line,
			           out);
		return FALSE;
	}
	others = (guint)g_ascii_strtoull(line + 9, NULL, 10);
	deadline = g_get_monotonic_time() + (gint64)wait_s * G_USEC_PER_SEC;
	g_clear_pointer(&line, g_free);
	if (others > 0) {
		/* say so when it is not quick */
		line = tldrs_run_read_line(
		        socket, buf, MIN(deadline, g_get_monotonic_time() + G_USEC_PER_SEC), NULL);
		if (line == NULL)
			g_printerr(g_dngettext(GETTEXT_PACKAGE,
			                       "tldrs: run: waiting up to %u s for %u more client "
			                       "of trace %s to disconnect…\n",
			                       "tldrs: run: waiting up to %u s for %u more clients "
			                       "of trace %s to disconnect…\n",
			                       others),
			           wait_s,
			           others,
			           trace_id);
	}
	if (line == NULL)
		line = tldrs_run_read_line(socket, buf, deadline, &error);
	if (line != NULL && g_str_has_prefix(line, "TEF_WRITTEN ")) {
		*events = g_ascii_strtoull(line + 12, NULL, 10);
		return TRUE;
	}
	if (line != NULL && g_str_has_prefix(line, "TEF_FAILED "))
		g_printerr(_("tldrs: run: the daemon could not write %s: %s\n"), out, line + 11);
	else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) && others > 0)
		g_printerr(_("tldrs: run: trace %s still had clients after %u s (--wait): the "
		             "daemon writes %s when they disconnect\n"),
		           trace_id,
		           wait_s,
		           out);
	else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
		g_printerr(
		        _("tldrs: run: trace %s was not finished after %u s (--wait), its events "
		          "not stored yet (see the daemon's log): the daemon writes %s once "
		          "they are\n"),
		        trace_id,
		        wait_s,
		        out);
	else
		g_printerr(_("tldrs: run: no answer about %s: %s\n"),
		           out,
		           error != NULL ? error->message : line);
	return FALSE;
}

/* the command's own names and one span over its run, when its processes are not followed */
static void
tldrs_run_top_events(GString *buf,
                     pid_t pid,
                     int argc,
                     char **argv,
                     gint64 start,
                     gint64 end,
                     int code)
{
	g_autofree char *name = tldrs_run_json_string(argv[0]);
	for (guint i = 0; i < 2; i++)
		g_string_append_printf(buf,
		                       "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,"
		                       "\"args\":{\"name\":%s}}\n",
		                       i == 0 ? "process_name" : "thread_name",
		                       (int)pid,
		                       (int)pid,
		                       name);
	g_string_append_printf(
	        buf,
	        "{\"ph\":\"X\",\"name\":%s,\"cat\":\"tldrs run\",\"ts\":%" G_GINT64_FORMAT
	        ",\"dur\":%" G_GINT64_FORMAT ",\"pid\":%d,\"tid\":%d,\"args\":{\"argv\":[",
	        name,
	        start,
	        end - start,
	        (int)pid,
	        (int)pid);
	for (int i = 0; i < argc; i++) {
		g_autofree char *a = tldrs_run_json_string(argv[i]);
		g_string_append_printf(buf, "%s%s", i > 0 ? "," : "", a);
	}
	g_string_append_printf(buf, "],\"exit_status\":%d}}\n", code);
}

static void
tldrs_run_stop_private(TldrsProcTrace *tracer, GPid pid)
{
	int status;
	if (pid == 0)
		return;
	kill(pid, SIGTERM);
	if (!tldrs_proctrace_other_child_exited(tracer, pid, &status))
		waitpid(pid, &status, 0);
}

int
tldrs_run_main(int argc, char **argv)
{
	g_autofree char *opt_out = NULL;
	g_autofree char *opt_trace = NULL;
	g_autofree char *opt_socket = NULL;
	gboolean opt_keep = FALSE;
	gboolean opt_no_processes = FALSE;
	gint opt_wait = 30;
	const GOptionEntry entries[] = {
	        {"output",
	         'o',
	         0,
	         G_OPTION_ARG_FILENAME,
	         &opt_out,
	         N_("Write the TEF file to OUT (default: trace.json)"),
	         N_("OUT")},
	        {"trace-id",
	         't',
	         0,
	         G_OPTION_ARG_STRING,
	         &opt_trace,
	         N_("Use this trace id instead of a new one"),
	         N_("ID")},
	        {"socket",
	         0,
	         0,
	         G_OPTION_ARG_FILENAME,
	         &opt_socket,
	         N_("The daemon's socket"),
	         N_("PATH")},
	        {"keep",
	         0,
	         0,
	         G_OPTION_ARG_NONE,
	         &opt_keep,
	         N_("With a private daemon, keep the .jsonl beside OUT"),
	         NULL},
	        {"no-processes",
	         0,
	         0,
	         G_OPTION_ARG_NONE,
	         &opt_no_processes,
	         N_("Record only COMMAND itself, not the processes it starts"),
	         NULL},
	        {"wait",
	         0,
	         0,
	         G_OPTION_ARG_INT,
	         &opt_wait,
	         N_("After COMMAND exits, wait at most SECS for the trace's other clients and the "
	            "file (default 30)"),
	         N_("SECS")},
	        {NULL}};
	g_autoptr(GOptionContext) ctx = g_option_context_new(_("-- COMMAND [ARGS…]"));
	g_autoptr(GError) error = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(TldrsProcTrace) tracer = NULL;
	g_autofree char *trace_id = NULL;
	g_autofree char *out = NULL;
	g_autofree char *socket_path = NULL;
	g_autofree char *private_dir = NULL;
	g_autofree char *program = NULL;
	g_autofree char *cwd = g_get_current_dir();
	g_auto(GStrv) envp = NULL;
	g_autoptr(GString) buf = g_string_new(NULL);
	TldrsRunSender sender = {NULL, NULL};
	GPid private_daemon = 0;
	const char *why = NULL;
	gboolean written = FALSE;
	guint64 events = 0;
	gint64 start, end;
	int status;
	int code;

	g_option_context_set_summary(ctx,
	                             _("Run COMMAND, record every process it starts (a span per "
	                               "program, on a track per pid) together with the events "
	                               "those processes send, and write the trace as TEF."));
	g_option_context_add_main_entries(ctx, entries, GETTEXT_PACKAGE);
	g_option_context_set_translation_domain(ctx, GETTEXT_PACKAGE);
	g_option_context_set_strict_posix(ctx, TRUE);
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		g_printerr("tldrs: %s\n", error->message);
		return 2;
	}
	/* GOption leaves the "--" in place when strict POSIX stops at it */
	if (argc > 1 && g_strcmp0(argv[1], "--") == 0) {
		argv++;
		argc--;
	}
	if (argc < 2) {
		g_printerr(_("tldrs: run: no COMMAND given (tldrs run [OPTIONS] -- COMMAND)\n"));
		return 2;
	}
	if (opt_wait < 0) {
		g_printerr(_("tldrs: run: bad --wait %d: a number of seconds, 0 or more\n"),
		           opt_wait);
		return 2;
	}
	trace_id = opt_trace != NULL ? g_strdup(opt_trace) : tldrs_run_new_trace_id();
	if (opt_trace != NULL &&
	    !tldrs_protocol_check_trace_id(opt_trace, strlen(opt_trace), &why)) {
		g_printerr(_("tldrs: run: bad trace id “%s”: %s\n"), opt_trace, why);
		return 2;
	}
	out = g_canonicalize_filename(opt_out != NULL ? opt_out : "trace.json", cwd);
	/* the daemon would refuse it, and we would wait for a file that never comes */
	{
		g_autofree char *dir = g_path_get_dirname(out);
		if (!g_file_test(dir, G_FILE_TEST_IS_DIR) || g_file_test(out, G_FILE_TEST_IS_DIR) ||
		    access(dir, W_OK) != 0) {
			g_printerr(_("tldrs: run: cannot write %s: no such directory, or not "
			             "writable\n"),
			           out);
			return 2;
		}
	}
	/* a command that cannot start leaves nothing behind, no daemon and no trace */
	program =
	        strchr(argv[1], '/') != NULL ? g_strdup(argv[1]) : g_find_program_in_path(argv[1]);
	if (program == NULL || access(program, X_OK) != 0) {
		g_printerr(_("tldrs: run: %s: %s\n"),
		           argv[1],
		           program == NULL ? _("command not found") : g_strerror(errno));
		return 127;
	}
	tracer = tldrs_proctrace_new(!opt_no_processes, tldrs_run_emit, &sender);

	/* a daemon of ours: the socket, then D-Bus activation, then a private one */
	socket_path = opt_socket != NULL ? g_canonicalize_filename(opt_socket, cwd)
	                                 : tldrs_client_socket_path(NULL);
	socket = tldrs_client_socket_connect(socket_path, &error);
	if (socket == NULL && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
		g_printerr("tldrs: run: %s\n", error->message);
	if (socket == NULL && opt_socket == NULL) {
		g_autofree char *activated = tldrs_run_dbus_activate();
		g_clear_error(&error);
		if (activated != NULL)
			socket = tldrs_client_socket_connect(activated, NULL);
		g_clear_pointer(&socket_path, g_free);
		if (socket != NULL) {
			socket_path = g_steal_pointer(&activated);
		} else {
			private_dir = g_dir_make_tmp("tldrs-run-XXXXXX", &error);
			if (private_dir != NULL)
				private_daemon =
				        tldrs_run_private_daemon(private_dir, &socket_path, &error);
			if (private_daemon != 0) {
				tldrs_proctrace_add_other_child(tracer, private_daemon);
				socket = tldrs_client_socket_connect(socket_path, &error);
			} else if (private_dir != NULL) {
				g_clear_pointer(&private_dir, tldrs_run_keep_log);
			}
		}
	}
	/* the command runs whatever happens to tracing */
	if (socket == NULL) {
		g_printerr(_("tldrs: run: not tracing, no daemon: %s\n"),
		           error != NULL ? error->message : _("no socket"));
		g_clear_error(&error);
	} else {
		g_autofree char *open = g_strdup_printf("OPEN %s\n", trace_id);
		if (!tldrs_run_send(socket, open, &error)) {
			g_printerr(_("tldrs: run: not tracing: %s\n"), error->message);
			g_clear_error(&error);
			g_clear_object(&socket);
		}
	}
	sender.socket = socket;

	envp = g_get_environ();
	if (socket != NULL) {
		envp = g_environ_setenv(envp, "TRACE_TEF_TLDR_TRACE_ID", trace_id, TRUE);
		envp = g_environ_setenv(envp, "TRACE_TEF_TLDR_SOCKET", socket_path, TRUE);
	}
	start = g_get_monotonic_time();
	if (!tldrs_proctrace_spawn(tracer, program, argv + 1, envp, &error)) {
		g_printerr("tldrs: run: %s: %s\n", argv[1], error->message);
		g_clear_object(&socket);
		sender.socket = NULL;
		if (private_daemon != 0) {
			tldrs_run_stop_private(tracer, private_daemon);
			tldrs_run_remove_dir(private_dir);
		}
		return 127;
	}
	/* from now on the file is written even if we are killed */
	if (socket != NULL) {
		g_autofree char *at_exit = g_strdup_printf("EMIT_TEF_AT_EXIT %s\n", out);
		tldrs_run_emit(at_exit, strlen(at_exit), &sender);
	}
	status = tldrs_proctrace_run(tracer);
	end = g_get_monotonic_time();
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		code = 128 + WTERMSIG(status);
	else
		code = 1;

	if (sender.socket == NULL) {
		if (private_daemon != 0) {
			tldrs_run_stop_private(tracer, private_daemon);
			tldrs_run_remove_dir(private_dir);
		}
		return code;
	}
	if (!tldrs_proctrace_is_following(tracer)) {
		tldrs_run_top_events(
		        buf, tldrs_proctrace_get_pid(tracer), argc - 1, argv + 1, start, end, code);
		tldrs_run_emit(buf->str, buf->len, &sender);
	}
	if (sender.socket != NULL)
		written = tldrs_run_await(
		        sender.socket, socket_path, trace_id, out, (guint)opt_wait, &events);
	if (written) {
		guint64 in_file = 0;
		guint processes = 0;
		tldrs_run_count(out, &in_file, &processes);
		g_printerr(g_dngettext(GETTEXT_PACKAGE,
		                       "tldrs: wrote %s: %" PRIu64 " events from %u process\n",
		                       "tldrs: wrote %s: %" PRIu64 " events from %u processes\n",
		                       processes),
		           out,
		           (uint64_t)events,
		           processes);
	}
	if (private_daemon != 0) {
		tldrs_run_stop_private(tracer, private_daemon);
		if (opt_keep) {
			g_autofree char *base = g_strconcat(trace_id, ".jsonl", NULL);
			g_autofree char *src = g_build_filename(private_dir, "data", base, NULL);
			g_autofree char *stem = g_str_has_suffix(out, ".json")
			                                ? g_strndup(out, strlen(out) - 5)
			                                : g_strdup(out);
			g_autofree char *dst = g_strconcat(stem, ".jsonl", NULL);
			if (g_rename(src, dst) == 0)
				g_printerr(_("tldrs: kept the events in %s\n"), dst);
			else
				g_printerr(_("tldrs: run: cannot keep %s: %s\n"),
				           src,
				           g_strerror(errno));
		}
		tldrs_run_remove_dir(private_dir);
	}
	/* a trace file that was not written is a failure, unless the command failed first */
	if (!written && code == 0)
		return 1;
	return code;
}
