/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <tldrs/tldrs-sink.h>

G_BEGIN_DECLS

char *
tldrs_plugin_loader_path(const char *plugin_dir, const char *name);
TldrsSink *
tldrs_plugin_loader_load_sink(const char *plugin_dir, const char *name, GError **error);
const TldrsSinkInfo *
tldrs_plugin_loader_find_info(const char *plugin_dir, const char *name);
GPtrArray *
tldrs_plugin_loader_list(const char *plugin_dir);
const TldrsSinkInfo *
tldrs_plugin_loader_load_info(const char *plugin_dir, const char *name, GError **error);
char *
tldrs_plugin_loader_describe(const TldrsSinkInfo *info);

G_END_DECLS
