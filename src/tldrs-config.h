/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define TLDRS_FLUSH_INTERVAL_DEFAULT_US (2 * G_USEC_PER_SEC)
#define TLDRS_MAX_LINE_BYTES_DEFAULT    (8 * 1024 * 1024)
/* MaxClients when not set: half the open-files limit, at least 64, at most this */
#define TLDRS_MAX_CLIENTS_MAX                    1000000
#define TLDRS_MAX_BACKLOG_BYTES_DEFAULT          (8 * 1024 * 1024)
#define TLDRS_SINKS_DEFAULT                      "jsonl"
#define TLDRS_MAX_AT_EXIT_PATHS_DEFAULT          64
#define TLDRS_MAX_INCOMPLETE_LINES_BYTES_DEFAULT (256 * 1024 * 1024)

/**
 * TldrsConfig:
 *
 * The daemon's settings: built-in defaults, then the environment, then the config file,
 * then the command line, each overriding the one before.
 */
typedef struct {
	char *config_path; /* the file that was read, or NULL */
	GKeyFile *keyfile; /* its contents, or NULL */
	char *socket_path;
	char *data_dir;
	char **sinks;
	gint64 flush_interval_us;
	char *plugin_dir;
	gsize max_line_bytes;
	gsize max_incomplete_lines_bytes; /* MaxIncompleteLinesBytes: of all connections */
	guint max_clients;                /* MaxClients, 0: from the open-files limit */
	guint max_at_exit_paths;          /* MaxAtExitPaths: per trace */
	guint64 max_backlog_bytes;        /* MaxBacklogBytes: what the sinks may keep in memory */
	gint64 exit_idle_us;              /* ExitIdleSec, 0: never */
	guint64 retention_max_bytes;      /* [Retention] MaxTotalBytes, 0: no limit */
	gint64 retention_max_age_us;      /* [Retention] MaxAgeSec, 0: no limit */
	char *into_file;                  /* serve --into-file, or NULL */
	gboolean dbus;                    /* DBus=session */
	gboolean replace;                 /* serve --replace */
} TldrsConfig;

TldrsConfig *
tldrs_config_new(void);
char *
tldrs_config_default_socket_path(void);
char *
tldrs_config_shared_socket_path(void);
char *
tldrs_config_private_socket_path(void);
char *
tldrs_config_default_data_dir(void);
char *
tldrs_config_find_file(void);
gboolean
tldrs_config_load_file(TldrsConfig *self, const char *path, GError **error);
TldrsConfig *
tldrs_config_reread(const TldrsConfig *self, char ***restart_only, GError **error);
void
tldrs_config_set_data_dir(TldrsConfig *self, const char *dir);
void
tldrs_config_free(TldrsConfig *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(TldrsConfig, tldrs_config_free)

/* the plugin directory (a colon-separated list in the build tree) when the config names none:
 * $TLDRS_PLUGIN_DIR, the build tree's plugins for its own tldrs, else the installed one */
char *
tldrs_config_default_plugin_dir(void);

G_END_DECLS
