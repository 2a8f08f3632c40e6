/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
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

#include "tldrs-config.h"
#include "tldrs-protocol.h"
#include "tldrs-reader.h"
#include "tldrs-run.h"
#include "tldrs-tef.h"

/* `tldrs run -- COMMAND`: trace a command with no daemon set-up. A running daemon is used
 * (its socket, else D-Bus activation); otherwise a private one runs for the duration on a
 * private socket and data directory. COMMAND and its children find the trace through the
 * variables real clients read; tldrs adds the command's own span and names, and writes the
 * TEF file once COMMAND has exited and every client of the trace has disconnected. */

typedef struct {
	GMainLoop *loop;
	GPid pid;
	int status;
	gboolean exited;
} TldrsRunChild;

static gboolean
tldrs_run_socket_live(const char *path)
{
	g_autoptr(GSocket) s = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	return s != NULL && g_socket_connect(s, addr, NULL, NULL);
}

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

/* a private daemon on a private socket and data directory, for this run only */
static GSubprocess *
tldrs_run_private_daemon(const char *dir, char **socket_path, GError **error)
{
	g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *conf = g_build_filename(dir, "tldrs.conf", NULL);
	g_autofree char *data = g_build_filename(dir, "data", NULL);
	g_autofree char *sock = g_build_filename(dir, "tldrs.socket", NULL);
	g_autofree char *log = g_build_filename(dir, "daemon.log", NULL);
	g_autoptr(GSubprocessLauncher) l =
	        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	g_autoptr(GSubprocess) p = NULL;

	/* the user's config and bus name are not ours to use */
	if (!g_file_set_contents(conf, "[Daemon]\nDBus=none\nSinks=jsonl\n", -1, error))
		return NULL;
	g_subprocess_launcher_set_stderr_file_path(l, log);
	p = g_subprocess_launcher_spawn(l,
	                                error,
	                                exe != NULL ? exe : "tldrs",
	                                "serve",
	                                "--config",
	                                conf,
	                                "--socket",
	                                sock,
	                                "-d",
	                                data,
	                                NULL);
	if (p == NULL)
		return NULL;
	for (guint i = 0; i < 500; i++) {
		if (tldrs_run_socket_live(sock)) {
			*socket_path = g_steal_pointer(&sock);
			return g_steal_pointer(&p);
		}
		if (g_subprocess_get_identifier(p) == NULL)
			break;
		g_usleep(10000);
	}
	g_set_error(error,
	            G_IO_ERROR,
	            G_IO_ERROR_FAILED,
	            _("the private daemon did not start (see %s)"),
	            log);
	g_subprocess_force_exit(p);
	return NULL;
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

static void
tldrs_run_child_exited(GPid pid, int status, gpointer user_data)
{
	TldrsRunChild *child = user_data;
	child->status = status;
	child->exited = TRUE;
	g_spawn_close_pid(pid);
	g_main_loop_quit(child->loop);
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

static gboolean
tldrs_run_forward_int(gpointer user_data)
{
	TldrsRunChild *child = user_data;
	if (!child->exited)
		kill(child->pid, SIGINT);
	return G_SOURCE_CONTINUE;
}

static gboolean
tldrs_run_forward_term(gpointer user_data)
{
	TldrsRunChild *child = user_data;
	if (!child->exited)
		kill(child->pid, SIGTERM);
	return G_SOURCE_CONTINUE;
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

int
tldrs_run_main(int argc, char **argv)
{
	g_autofree char *opt_out = NULL;
	g_autofree char *opt_trace = NULL;
	g_autofree char *opt_socket = NULL;
	gboolean opt_keep = FALSE;
	const GOptionEntry entries[] = {{"output",
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
	                                {NULL}};
	g_autoptr(GOptionContext) ctx = g_option_context_new(_("-- COMMAND [ARGS…]"));
	g_autoptr(GError) error = NULL;
	g_autoptr(GSubprocess) private_daemon = NULL;
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_autofree char *trace_id = NULL;
	g_autofree char *out = NULL;
	g_autofree char *socket_path = NULL;
	g_autofree char *private_dir = NULL;
	g_autofree char *cwd = g_get_current_dir();
	g_auto(GStrv) envp = NULL;
	g_autoptr(GString) buf = g_string_new(NULL);
	g_autofree char *name = NULL;
	TldrsRunChild child = {loop, 0, 0, FALSE};
	GStatBuf before;
	const char *why = NULL;
	gboolean had_before;
	gint64 start, end;
	guint sig_ids[2];
	int code;

	g_option_context_set_summary(ctx,
	                             _("Run COMMAND with every process it starts in one trace, and "
	                               "write the trace as TEF."));
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
	had_before = g_stat(out, &before) == 0;

	/* a daemon: the socket, then D-Bus activation, then a private one */
	if (opt_socket != NULL) {
		socket_path = g_canonicalize_filename(opt_socket, cwd);
	} else {
		g_autoptr(TldrsConfig) config = tldrs_config_new();
		g_autofree char *conf = tldrs_config_find_file();
		if (conf != NULL)
			tldrs_config_load_file(config, conf, NULL);
		socket_path = g_strdup(config->socket_path);
	}
	if (!tldrs_run_socket_live(socket_path) && opt_socket == NULL) {
		g_autofree char *activated = tldrs_run_dbus_activate();
		if (activated != NULL && tldrs_run_socket_live(activated)) {
			g_free(socket_path);
			socket_path = g_steal_pointer(&activated);
		} else {
			private_dir = g_dir_make_tmp("tldrs-run-XXXXXX", &error);
			g_free(socket_path);
			socket_path = NULL;
			if (private_dir != NULL)
				private_daemon =
				        tldrs_run_private_daemon(private_dir, &socket_path, &error);
		}
	}
	if (socket_path != NULL) {
		g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(socket_path);
		g_clear_error(&error);
		socket = g_socket_new(G_SOCKET_FAMILY_UNIX,
		                      G_SOCKET_TYPE_STREAM,
		                      G_SOCKET_PROTOCOL_DEFAULT,
		                      &error);
		if (socket != NULL && !g_socket_connect(socket, addr, NULL, &error))
			g_clear_object(&socket);
	}
	/* the command runs whatever happens to tracing */
	if (socket == NULL) {
		g_printerr(_("tldrs: run: not tracing, no daemon: %s\n"),
		           error != NULL ? error->message : _("no socket"));
		g_clear_error(&error);
	} else {
		g_autofree char *open =
		        g_strdup_printf("OPEN %s\nEMIT_TEF_AT_EXIT %s\n", trace_id, out);
		if (!tldrs_run_send(socket, open, &error)) {
			g_printerr(_("tldrs: run: not tracing: %s\n"), error->message);
			g_clear_error(&error);
			g_clear_object(&socket);
		}
	}

	envp = g_get_environ();
	if (socket != NULL) {
		envp = g_environ_setenv(envp, "TRACE_TEF_TLDR_TRACE_ID", trace_id, TRUE);
		envp = g_environ_setenv(envp, "TRACE_TEF_TLDR_SOCKET", socket_path, TRUE);
	}
	start = g_get_real_time();
	if (!g_spawn_async(NULL,
	                   argv + 1,
	                   envp,
	                   G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
	                           G_SPAWN_CHILD_INHERITS_STDIN,
	                   NULL,
	                   NULL,
	                   &child.pid,
	                   &error)) {
		g_printerr("tldrs: run: %s: %s\n", argv[1], error->message);
		if (private_daemon != NULL) {
			g_subprocess_send_signal(private_daemon, SIGTERM);
			g_subprocess_wait(private_daemon, NULL, NULL);
			tldrs_run_remove_dir(private_dir);
		}
		return 127;
	} else {
		/* SIGINT and SIGTERM are the command's to handle */
		sig_ids[0] = g_unix_signal_add(SIGINT, tldrs_run_forward_int, &child);
		sig_ids[1] = g_unix_signal_add(SIGTERM, tldrs_run_forward_term, &child);
		g_child_watch_add(child.pid, tldrs_run_child_exited, &child);
		g_main_loop_run(loop);
		g_source_remove(sig_ids[0]);
		g_source_remove(sig_ids[1]);
		if (WIFEXITED(child.status))
			code = WEXITSTATUS(child.status);
		else if (WIFSIGNALED(child.status))
			code = 128 + WTERMSIG(child.status);
		else
			code = 1;
	}
	end = g_get_real_time();

	if (socket == NULL)
		return code;

	/* our events: the command's names and one span over its whole run */
	name = tldrs_run_json_string(argv[1]);
	g_string_append_printf(buf,
	                       "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":%d,\"tid\":%d,"
	                       "\"args\":{\"name\":%s}}\n",
	                       (int)child.pid,
	                       (int)child.pid,
	                       name);
	g_string_append_printf(buf,
	                       "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":%d,\"tid\":%d,"
	                       "\"args\":{\"name\":%s}}\n",
	                       (int)child.pid,
	                       (int)child.pid,
	                       name);
	g_string_append_printf(
	        buf,
	        "{\"ph\":\"X\",\"name\":%s,\"cat\":\"tldrs run\",\"ts\":%" G_GINT64_FORMAT
	        ",\"dur\":%" G_GINT64_FORMAT ",\"pid\":%d,\"tid\":%d,\"args\":{\"argv\":[",
	        name,
	        start,
	        end - start,
	        (int)child.pid,
	        (int)child.pid);
	for (int i = 1; i < argc; i++) {
		g_autofree char *a = tldrs_run_json_string(argv[i]);
		g_string_append_printf(buf, "%s%s", i > 1 ? "," : "", a);
	}
	g_string_append_printf(buf, "],\"exit_status\":%d}}\n", code);
	if (!tldrs_run_send(socket, buf->str, &error)) {
		g_printerr(_("tldrs: run: cannot send to the daemon: %s\n"), error->message);
		return code;
	}
	g_socket_close(socket, NULL);

	/* the daemon writes the file once the last client of the trace is gone */
	for (guint waited = 0;; waited += 10) {
		GStatBuf now;
		if (g_stat(out, &now) == 0 &&
		    (!had_before || now.st_ino != before.st_ino || now.st_dev != before.st_dev))
			break;
		if (private_daemon != NULL && g_subprocess_get_identifier(private_daemon) == NULL) {
			g_printerr(
			        _("tldrs: run: the private daemon stopped (see %s/daemon.log)\n"),
			        private_dir);
			return code;
		}
		if (waited == 5000)
			g_printerr(_("tldrs: run: waiting for the processes of trace %s to "
			             "disconnect…\n"),
			           trace_id);
		g_usleep(10000);
	}
	{
		guint64 events = 0;
		guint processes = 0;
		tldrs_run_count(out, &events, &processes);
		g_printerr(g_dngettext(GETTEXT_PACKAGE,
		                       "tldrs: wrote %s: %" PRIu64 " events from %u process\n",
		                       "tldrs: wrote %s: %" PRIu64 " events from %u processes\n",
		                       processes),
		           out,
		           (uint64_t)events,
		           processes);
	}
	if (private_daemon != NULL) {
		g_subprocess_send_signal(private_daemon, SIGTERM);
		g_subprocess_wait(private_daemon, NULL, NULL);
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
	return code;
}
