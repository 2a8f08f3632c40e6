/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* the real tldrs binary on a temporary socket and data directory */
typedef struct {
	char *tmpdir;
	char *socket_path;
	char *data_dir;
	char *log_path;
	GSubprocess *proc;
} TldrsTestDaemon;

char *
tldrs_test_mkdtemp(void);
void
tldrs_test_rm_rf(const char *path);
GSubprocessLauncher *
tldrs_test_launcher(const char *tmpdir);
TldrsTestDaemon *
tldrs_test_daemon_new(void);
void
tldrs_test_daemon_start(TldrsTestDaemon *d, const char *const *extra_args);
void
tldrs_test_daemon_start_with_setup(TldrsTestDaemon *d,
                                   const char *const *extra_args,
                                   GSpawnChildSetupFunc child_setup,
                                   gpointer user_data,
                                   GDestroyNotify destroy);
TldrsTestDaemon *
tldrs_test_daemon_start_new(const char *const *extra_args);
TldrsTestDaemon *
tldrs_test_daemon_replace(TldrsTestDaemon *old, const char *const *extra_args);
int
tldrs_test_daemon_wait(TldrsTestDaemon *d);
int
tldrs_test_daemon_stop(TldrsTestDaemon *d, int sig);
char *
tldrs_test_daemon_log(TldrsTestDaemon *d);
void
tldrs_test_daemon_free(TldrsTestDaemon *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsTestDaemon, tldrs_test_daemon_free)

gboolean
tldrs_test_socket_ready(const char *path);
GSocket *
tldrs_test_connect(const char *socket_path);
void
tldrs_test_send(GSocket *socket, const char *data);
void
tldrs_test_send_len(GSocket *socket, const char *data, gsize len);
void
tldrs_test_close(GSocket *socket);
void
tldrs_test_send_events(GSocket *socket, const char *name, guint n);
char *
tldrs_test_write_config(TldrsTestDaemon *d, const char *text);

typedef struct _TldrsTestSender TldrsTestSender;
TldrsTestSender *
tldrs_test_sender_start(GSocket *socket, const char *data, gsize len);
gboolean
tldrs_test_sender_done(TldrsTestSender *sender);
void
tldrs_test_sender_join(TldrsTestSender *sender);

int
tldrs_test_run(GSubprocessLauncher *l, const char *const *argv, char **out, char **err);
int
tldrs_test_cli(TldrsTestDaemon *d, char **out, char **err, const char *first_arg, ...)
        G_GNUC_NULL_TERMINATED;
int
tldrs_test_serve_config(TldrsTestDaemon *d, const char *conf, char **err);
gboolean
tldrs_test_wait_for_file(const char *path, guint timeout_ms);
gboolean
tldrs_test_daemon_wait_log(TldrsTestDaemon *d, const char *needle, guint timeout_ms);
gboolean
tldrs_test_daemon_wait_log_count(TldrsTestDaemon *d, const char *needle, guint n, guint timeout_ms);
gboolean
tldrs_test_log_before(const char *log, const char *first, const char *second);
JsonNode *
tldrs_test_load_tef(const char *path);
JsonArray *
tldrs_test_tef_events(JsonNode *root);
guint
tldrs_test_count_lines(const char *path);
char *
tldrs_test_trace_file(TldrsTestDaemon *d, const char *id);

gboolean
tldrs_test_have_program(const char *name);
char *
tldrs_test_find_program(const char *name);
void
tldrs_test_drop_unbuilt_sinks(char *config_text);
int
tldrs_test_run_env(char **out, char **err, const char *const *argv, const char *const *envp);
void
tldrs_test_meson_install(const char *destdir);

pid_t
tldrs_test_listen_as_nobody(const char *path);

G_END_DECLS
