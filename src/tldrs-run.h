/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

int
tldrs_run_main(int argc, char **argv);

G_END_DECLS
