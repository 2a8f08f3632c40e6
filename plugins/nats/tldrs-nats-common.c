/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#include <string.h>
#include <time.h>

#include <gio/gio.h>

#include "tldrs-nats-common.h"

/* A NATS subject token may not hold '.', '*', '>', whitespace (and should stay printable);
 * a trace id may. Letters, digits, '-' and '_' stay as they are, every other byte becomes
 * '=' and two upper-case hex digits ('=' itself too), so the mapping is one to one and
 * reversible. */
static gboolean
tldrs_nats_token_plain(guchar c)
{
	return g_ascii_isalnum(c) || c == '-' || c == '_';
}

char *
tldrs_nats_token_encode(const char *trace_id)
{
	GString *s = g_string_sized_new(strlen(trace_id));
	for (const guchar *p = (const guchar *)trace_id; *p != '\0'; p++) {
		if (tldrs_nats_token_plain(*p))
			g_string_append_c(s, (char)*p);
		else
			g_string_append_printf(s, "=%02X", *p);
	}
	return g_string_free(s, FALSE);
}

char *
tldrs_nats_token_decode(const char *token)
{
	GString *s = g_string_sized_new(strlen(token));
	for (const char *p = token; *p != '\0'; p++) {
		int hi, lo;
		if (tldrs_nats_token_plain((guchar)*p)) {
			g_string_append_c(s, *p);
			continue;
		}
		if (*p != '=' || (hi = g_ascii_xdigit_value(p[1])) < 0 ||
		    (lo = g_ascii_xdigit_value(p[2])) < 0 || hi * 16 + lo == 0) {
			g_string_free(s, TRUE);
			return NULL;
		}
		g_string_append_c(s, (char)(hi * 16 + lo));
		p += 2;
	}
	return g_string_free(s, FALSE);
}

static gboolean
tldrs_nats_url_ok(const char *url)
{
	g_autoptr(GUri) uri = NULL;
	g_autofree char *full = NULL;
	const char *scheme;
	const char *path;

	if (url == NULL || url[0] == '\0' || strpbrk(url, " \t\r\n,") != NULL)
		return FALSE;
	full = strstr(url, "://") != NULL ? g_strdup(url) : g_strconcat("nats://", url, NULL);
	uri = g_uri_parse(full, G_URI_FLAGS_HAS_PASSWORD, NULL);
	if (uri == NULL)
		return FALSE;
	scheme = g_uri_get_scheme(uri);
	path = g_uri_get_path(uri);
	return (g_ascii_strcasecmp(scheme, "nats") == 0 ||
	        g_ascii_strcasecmp(scheme, "tls") == 0) &&
	       g_uri_get_host(uri) != NULL && g_uri_get_host(uri)[0] != '\0' &&
	       (path[0] == '\0' || g_str_equal(path, "/"));
}

/* @url as text with whatever comes before its last '@' (user, password, token) replaced by
 * "***": for a URL that does not even parse */
static char *
tldrs_nats_url_masked(const char *url)
{
	const char *sep = strstr(url, "://");
	const char *start = sep != NULL ? sep + 3 : url;
	const char *at = strrchr(start, '@');
	if (at == NULL)
		return g_strdup(url);
	return g_strdup_printf("%.*s***%s", (int)(start - url), url, at);
}

/* nats://HOST:PORT, tls://HOST:PORT (user:password@ or token@ allowed), or HOST:PORT */
gboolean
tldrs_nats_check_url(const char *url, GError **error)
{
	g_autofree char *shown = NULL;
	if (tldrs_nats_url_ok(url))
		return TRUE;
	shown = tldrs_nats_url_masked(url != NULL ? url : "");
	g_set_error(error,
	            G_IO_ERROR,
	            G_IO_ERROR_INVALID_ARGUMENT,
	            "expected a NATS URL like nats://HOST:4222 or tls://HOST:4222, got \"%s\"",
	            shown);
	return FALSE;
}

/* @url for messages: without the user, password or token in it */
char *
tldrs_nats_url_shown(const char *url)
{
	g_autoptr(GUri) uri = NULL;
	g_autofree char *full = NULL;
	if (url == NULL || strchr(url, '@') == NULL)
		return g_strdup(url);
	full = strstr(url, "://") != NULL ? g_strdup(url) : g_strconcat("nats://", url, NULL);
	uri = g_uri_parse(full, G_URI_FLAGS_HAS_PASSWORD, NULL);
	if (uri == NULL)
		return tldrs_nats_url_masked(url);
	return g_uri_to_string_partial(uri, G_URI_HIDE_USERINFO);
}

static gint64
tldrs_nats_clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_REALTIME: the monotonic reading is paired with the
 * middle of the two realtime ones; of a few tries the one that took the least time wins (a
 * preemption in between makes a try slow) */
void
tldrs_nats_clock_read(TldrsNatsClock *clock)
{
	clock->uncertainty_us = G_MAXINT64;
	for (guint i = 0; i < 5; i++) {
		gint64 r1 = tldrs_nats_clock_us(CLOCK_REALTIME);
		gint64 m = tldrs_nats_clock_us(CLOCK_MONOTONIC);
		gint64 r2 = tldrs_nats_clock_us(CLOCK_REALTIME);
		if (r2 - r1 < clock->uncertainty_us) {
			clock->monotonic_us = m;
			clock->realtime_us = r1 + (r2 - r1) / 2;
			clock->uncertainty_us = MAX(r2 - r1, 1);
		}
	}
}

static void
tldrs_nats_append_json_string(GString *out, const char *str)
{
	g_string_append_c(out, '"');
	for (const guchar *p = (const guchar *)str; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_printf(out, "\\%c", *p);
		else if (*p < 0x20)
			g_string_append_printf(out, "\\u%04x", *p);
		else
			g_string_append_c(out, (char)*p);
	}
	g_string_append_c(out, '"');
}

char *
tldrs_nats_clock_to_json(const TldrsNatsClock *clock, const char *host, const char *instance)
{
	GString *s = g_string_new("{\"host\":");
	tldrs_nats_append_json_string(s, host);
	g_string_append(s, ",\"instance\":");
	tldrs_nats_append_json_string(s, instance);
	g_string_append_printf(s,
	                       ",\"monotonic_us\":%" G_GINT64_FORMAT
	                       ",\"realtime_us\":%" G_GINT64_FORMAT
	                       ",\"uncertainty_us\":%" G_GINT64_FORMAT "}",
	                       clock->monotonic_us,
	                       clock->realtime_us,
	                       clock->uncertainty_us);
	return g_string_free(s, FALSE);
}
