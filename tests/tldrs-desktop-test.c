/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

/* Desktop integration: the installed layout, the systemd units, socket activation through
 * systemd-socket-activate, D-Bus activation on a private bus, ExitIdleSec. */

#include <signal.h>
#include <string.h>

#include <glib/gstdio.h>

#include "tldrs-test-util.h"

static char *
read_file(const char *path)
{
	g_autoptr(GError) error = NULL;
	char *contents = NULL;
	g_file_get_contents(path, &contents, NULL, &error);
	g_assert_no_error(error);
	return contents;
}

/* `meson install` into a temporary directory puts every file where the platform wants it */
static void
test_install_layout(void)
{
	g_autofree char *tmp = tldrs_test_mkdtemp();
	g_autofree char *destdir = g_build_filename(tmp, "dest", NULL);
	const char *prefix = g_getenv("TLDRS_PREFIX");
	const char *plugindir = g_getenv("TLDRS_PLUGIN_INSTALL_DIR");
	const char *unitdir = g_getenv("TLDRS_USER_UNIT_DIR");
	const char *dbusdir = g_getenv("TLDRS_DBUS_SERVICES_DIR");
	g_autofree char *root = NULL;
	g_autofree char *service = NULL;
	g_autofree char *socket_unit = NULL;
	g_autofree char *dbus_service = NULL;
	g_autofree char *expected_exec = NULL;
	const char *files[] = {"bin/tldrs",
	                       "share/dbus-1/interfaces/org.tldrs.Daemon1.xml",
	                       "share/doc/tldrs/examples/tldrs.conf",
	                       NULL};
	const char *plugins[] = {"jsonl", "gzip", "tef", NULL};

	if (!tldrs_test_have_program("meson")) {
		g_test_skip("meson is not installed");
		return;
	}
	tldrs_test_meson_install(destdir);
	root = g_build_filename(destdir, prefix, NULL);
	for (guint i = 0; files[i] != NULL; i++) {
		g_autofree char *fn = g_build_filename(root, files[i], NULL);
		if (!g_file_test(fn, G_FILE_TEST_IS_REGULAR))
			g_error("not installed: %s", fn);
	}
	for (guint i = 0; plugins[i] != NULL; i++) {
		g_autofree char *base = g_strdup_printf("tldrs-sink-%s.so", plugins[i]);
		g_autofree char *fn = g_build_filename(destdir, plugindir, base, NULL);
		if (!g_file_test(fn, G_FILE_TEST_IS_REGULAR))
			g_error("plugin not installed: %s", fn);
	}
	{
		g_autofree char *fn = g_build_filename(destdir, unitdir, "tldrs.service", NULL);
		g_autofree char *fn2 = g_build_filename(destdir, unitdir, "tldrs.socket", NULL);
		g_autofree char *fn3 =
		        g_build_filename(destdir, dbusdir, "org.tldrs.Daemon1.service", NULL);
		service = read_file(fn);
		socket_unit = read_file(fn2);
		dbus_service = read_file(fn3);
	}
	/* paths inside installed files come from meson */
	expected_exec = g_strdup_printf("ExecStart=%s/bin/tldrs serve\n", prefix);
	g_assert_nonnull(strstr(service, expected_exec));
	g_assert_null(strstr(service, "@"));
	g_assert_nonnull(strstr(service, "Type=notify"));
	g_assert_nonnull(strstr(socket_unit, "ListenStream=/tmp/tldrs.socket\n"));
	g_assert_nonnull(strstr(socket_unit, "ListenStream=%t/tldrs.socket\n"));
	{
		g_autofree char *fn =
		        g_build_filename(root, "lib", "environment.d", "60-tldrs.conf", NULL);
		g_autofree char *env = read_file(fn);
		g_assert_nonnull(
		        strstr(env, "\nTRACE_TEF_TLDR_SOCKET=${XDG_RUNTIME_DIR}/tldrs.socket\n"));
	}
	g_assert_nonnull(strstr(socket_unit, "SocketMode=0600"));
	g_assert_nonnull(strstr(dbus_service, "Name=org.tldrs.Daemon1\n"));
	g_assert_nonnull(strstr(dbus_service, "SystemdService=tldrs.service\n"));
	g_assert_null(strstr(dbus_service, "@"));

	/* systemd-analyze verify on the installed units, the binary pointed at the destdir */
	if (!tldrs_test_have_program("systemd-analyze")) {
		g_test_message("systemd-analyze is not installed: units not verified");
	} else {
		g_autofree char *rt = g_build_filename(tmp, "runtime", NULL);
		g_autofree char *units = g_build_filename(tmp, "units", NULL);
		g_autofree char *svc = g_build_filename(units, "tldrs.service", NULL);
		g_autofree char *sock = g_build_filename(units, "tldrs.socket", NULL);
		g_autofree char *bin = g_build_filename(root, "bin", "tldrs", NULL);
		g_autofree char *fixed = NULL;
		g_autofree char *runtime_env = NULL;
		g_autofree char *man_env = NULL;
		g_autofree char *out = NULL;
		g_autofree char *verr = NULL;
		g_auto(GStrv) parts = g_strsplit(service, expected_exec, 2);
		g_autofree char *exec = g_strdup_printf("ExecStart=%s serve\n", bin);
		const char *argv[] = {"systemd-analyze", "verify", "--user", svc, sock, NULL};
		const char *envp[] = {NULL, NULL, "PATH=/usr/bin:/bin", NULL};
		int rc;

		g_mkdir_with_parents(rt, 0700);
		g_mkdir_with_parents(units, 0700);
		fixed = g_strjoinv(exec, parts);
		g_file_set_contents(svc, fixed, -1, NULL);
		g_file_set_contents(sock, socket_unit, -1, NULL);
		runtime_env = g_strdup_printf("XDG_RUNTIME_DIR=%s", rt);
		man_env = g_strdup_printf("MANPATH=%s/share/man", root);
		envp[0] = runtime_env;
		envp[1] = man_env;
		rc = tldrs_test_run_env(&out, &verr, argv, envp);
		if (strstr(verr, "Failed to initialize manager") != NULL) {
			g_test_message("systemd-analyze cannot run here: %s", verr);
		} else {
			/* man pages not installed yet are not the units' fault */
			g_auto(GStrv) lines = g_strsplit(verr, "\n", -1);
			for (guint i = 0; lines[i] != NULL; i++) {
				if (lines[i][0] == '\0' ||
				    strstr(lines[i], "Command 'man ") != NULL)
					continue;
				g_error("systemd-analyze verify: %s", lines[i]);
			}
			(void)rc;
		}
	}
	tldrs_test_rm_rf(tmp);
}

/* socket activation: the daemon serves the sockets it is given (tldrs.socket passes the
 * shared and the private one) and binds none itself */
static void
test_socket_activation(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *activated = g_build_filename(d->tmpdir, "activated.socket", NULL);
	g_autofree char *activated2 = g_build_filename(d->tmpdir, "private.socket", NULL);
	g_autofree char *conf = g_build_filename(d->tmpdir, "tldrs.conf", NULL);
	g_autofree char *fn = tldrs_test_trace_file(d, "tr-act");
	g_autoptr(GSubprocessLauncher) l = NULL;
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GError) error = NULL;
	GSocket *s;

	if (!tldrs_test_have_program("systemd-socket-activate")) {
		g_test_skip("systemd-socket-activate is not installed");
		return;
	}
	/* ExitIdleSec: an activated daemon leaves when unused, and loses nothing */
	g_file_set_contents(conf, "[Daemon]\nExitIdleSec=0.5\n", -1, NULL);
	l = tldrs_test_launcher(d->tmpdir);
	g_subprocess_launcher_set_stderr_file_path(l, d->log_path);
	/* the start line is not TAP */
	g_subprocess_launcher_set_flags(l, G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
	p = g_subprocess_launcher_spawn(l,
	                                &error,
	                                "systemd-socket-activate",
	                                "-E",
	                                "TLDRS_PLUGIN_DIR",
	                                "-E",
	                                "DBUS_SESSION_BUS_ADDRESS",
	                                "-l",
	                                activated,
	                                "-l",
	                                activated2,
	                                g_getenv("TLDRS_BIN"),
	                                "serve",
	                                "-v",
	                                "--config",
	                                conf,
	                                "--socket",
	                                d->socket_path,
	                                "-d",
	                                d->data_dir,
	                                NULL);
	g_assert_no_error(error);
	/* the activator binds, then listens: wait until it takes connections */
	for (guint i = 0; i < 500 && !tldrs_test_socket_ready(activated); i++)
		g_usleep(10000);
	g_assert_true(tldrs_test_socket_ready(activated));
	s = tldrs_test_connect(activated);
	tldrs_test_send(
	        s, "OPEN tr-act\n{\"ph\":\"i\",\"name\":\"a\",\"ts\":1,\"pid\":1,\"tid\":0}\n");
	/* the second socket, while the first client keeps the daemon busy */
	{
		GSocket *s2 = tldrs_test_connect(activated2);
		tldrs_test_send(s2,
		                "OPEN tr-act\n{\"ph\":\"i\",\"name\":\"b\",\"ts\":1,\"pid\":1,"
		                "\"tid\":0}\n");
		tldrs_test_close(s2);
	}
	tldrs_test_close(s);
	/* the daemon exits after half a second idle */
	g_subprocess_wait(p, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(g_subprocess_get_if_exited(p));
	g_assert_cmpint(g_subprocess_get_exit_status(p), ==, 0);
	g_assert_cmpuint(tldrs_test_count_lines(fn), ==, 2);
	/* it never bound a socket of its own */
	g_assert_false(g_file_test(d->socket_path, G_FILE_TEST_EXISTS));
	{
		g_autofree char *log = tldrs_test_daemon_log(d);
		g_assert_nonnull(strstr(log, "using the socket passed by systemd"));
		g_assert_nonnull(strstr(log, "idle for ExitIdleSec"));
	}
}

/* D-Bus activation: a call to org.tldrs.Daemon1 starts the daemon */
static void
test_dbus_activation(void)
{
	g_autoptr(TldrsTestDaemon) d = tldrs_test_daemon_new();
	g_autofree char *services = g_build_filename(d->tmpdir, "services", NULL);
	g_autofree char *conf = g_build_filename(d->tmpdir, "bus.conf", NULL);
	g_autofree char *svc = g_build_filename(services, "org.tldrs.Daemon1.service", NULL);
	g_autofree char *installed = NULL;
	g_autofree char *text = NULL;
	g_autofree char *bus_conf = NULL;
	g_autofree char *address = NULL;
	g_autoptr(GSubprocessLauncher) l = NULL;
	g_autoptr(GSubprocess) bus = NULL;
	g_autoptr(GDBusConnection) c = NULL;
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) error = NULL;
	GInputStream *in;
	char buf[512] = {0};
	gsize got = 0;
	const char *built = g_getenv("TLDRS_DBUS_SERVICE_FILE");

	if (!tldrs_test_have_program("dbus-daemon")) {
		g_test_skip("dbus-daemon is not installed");
		return;
	}
	/* the service file as built, its Exec pointed at this build and this test's dirs */
	installed = read_file(built);
	g_assert_nonnull(strstr(installed, "SystemdService=tldrs.service"));
	g_mkdir_with_parents(services, 0700);
	/* -q: the start line would reach this test's TAP output through the bus */
	text = g_strdup_printf(
	        "[D-BUS Service]\nName=org.tldrs.Daemon1\nExec=%s serve -q --socket %s "
	        "-d %s\n",
	        g_getenv("TLDRS_BIN"),
	        d->socket_path,
	        d->data_dir);
	g_file_set_contents(svc, text, -1, NULL);
	bus_conf = g_strdup_printf(
	        "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration "
	        "1.0//EN\" "
	        "\"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	        "<busconfig><type>session</type><listen>unix:tmpdir=%s</listen>"
	        "<servicedir>%s</servicedir>"
	        "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>"
	        "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
	        d->tmpdir,
	        services);
	g_file_set_contents(conf, bus_conf, -1, NULL);
	l = tldrs_test_launcher(d->tmpdir);
	g_subprocess_launcher_set_flags(l, G_SUBPROCESS_FLAGS_STDOUT_PIPE);
	bus = g_subprocess_launcher_spawn(l,
	                                  &error,
	                                  "dbus-daemon",
	                                  "--nofork",
	                                  "--print-address=1",
	                                  "--config-file",
	                                  conf,
	                                  NULL);
	g_assert_no_error(error);
	in = g_subprocess_get_stdout_pipe(bus);
	while (got < sizeof(buf) - 1 && strchr(buf, '\n') == NULL) {
		gssize n = g_input_stream_read(in, buf + got, sizeof(buf) - 1 - got, NULL, &error);
		g_assert_no_error(error);
		if (n <= 0)
			break;
		got += (gsize)n;
	}
	address = g_strstrip(g_strdup(buf));
	c = g_dbus_connection_new_for_address_sync(
	        address,
	        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
	                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
	        NULL,
	        NULL,
	        &error);
	g_assert_no_error(error);
	/* nothing runs yet: the call starts it */
	g_assert_false(g_file_test(d->socket_path, G_FILE_TEST_EXISTS));
	reply = g_dbus_connection_call_sync(c,
	                                    "org.tldrs.Daemon1",
	                                    "/org/tldrs/Daemon1",
	                                    "org.tldrs.Daemon1",
	                                    "ListTraces",
	                                    NULL,
	                                    G_VARIANT_TYPE("(a(sa{sv}))"),
	                                    G_DBUS_CALL_FLAGS_NONE,
	                                    20000,
	                                    NULL,
	                                    &error);
	g_assert_no_error(error);
	g_assert_true(tldrs_test_socket_ready(d->socket_path));
	g_clear_pointer(&reply, g_variant_unref);
	reply = g_dbus_connection_call_sync(c,
	                                    "org.tldrs.Daemon1",
	                                    "/org/tldrs/Daemon1",
	                                    "org.tldrs.Daemon1",
	                                    "Quit",
	                                    NULL,
	                                    NULL,
	                                    G_DBUS_CALL_FLAGS_NONE,
	                                    5000,
	                                    NULL,
	                                    &error);
	g_assert_no_error(error);
	for (guint i = 0; i < 500 && g_file_test(d->socket_path, G_FILE_TEST_EXISTS); i++)
		g_usleep(10000);
	g_assert_false(g_file_test(d->socket_path, G_FILE_TEST_EXISTS));
	g_subprocess_force_exit(bus);
	g_subprocess_wait(bus, NULL, NULL);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/tldrs/desktop/install-layout", test_install_layout);
	g_test_add_func("/tldrs/desktop/socket-activation", test_socket_activation);
	g_test_add_func("/tldrs/desktop/dbus-activation", test_dbus_activation);
	return g_test_run();
}
