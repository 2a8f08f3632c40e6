/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What the nats sink writes and `tldrs get-tef --nats` / `tldrs list --nats` read: the
 * subjects, the message headers, the clock record. Compiled into the plugin and into the
 * tldrs executable; it uses no daemon internals and no libnats. See docs/many-hosts.md. */

/* the events of trace ID go to TLDRS_NATS_EVENTS_PREFIX + token(ID), its clock records to
 * TLDRS_NATS_CLOCK_PREFIX + token(ID) */
#define TLDRS_NATS_EVENTS_PREFIX  "tldrs.trace."
#define TLDRS_NATS_CLOCK_PREFIX   "tldrs.clock."
#define TLDRS_NATS_DEFAULT_STREAM "TLDRS"
#define TLDRS_NATS_DEFAULT_URL    "nats://127.0.0.1:4222"

/* headers of every message */
#define TLDRS_NATS_HEADER_HOST     "Tldrs-Host"
#define TLDRS_NATS_HEADER_INSTANCE "Tldrs-Instance"

char *
tldrs_nats_token_encode(const char *trace_id);
char *
tldrs_nats_token_decode(const char *token);
gboolean
tldrs_nats_check_url(const char *url, GError **error);
char *
tldrs_nats_url_shown(const char *url);

/* a clock record: CLOCK_MONOTONIC and CLOCK_REALTIME of one host read together, in
 * microseconds; @uncertainty_us is the time the reading took */
typedef struct {
	gint64 monotonic_us;
	gint64 realtime_us;
	gint64 uncertainty_us;
} TldrsNatsClock;

void
tldrs_nats_clock_read(TldrsNatsClock *clock);
char *
tldrs_nats_clock_to_json(const TldrsNatsClock *clock, const char *host, const char *instance);

G_END_DECLS
