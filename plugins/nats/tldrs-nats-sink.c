/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs-sink-nats"

#include <errno.h>
#include <string.h>

#include <gio/gio.h>
#include <nats/nats.h>

#include <tldrs/tldrs-sink.h>

#include "tldrs-nats-common.h"

/* The nats sink: every accepted event of every trace goes to a NATS JetStream stream, subject
 * `tldrs.trace.<token of the trace id>`, in messages of whole lines (BatchBytes at most), each
 * with the host, the daemon's instance id and a message id that JetStream deduplicates by.
 * Beside them, per trace, clock records (`tldrs.clock.<token>`): CLOCK_MONOTONIC and
 * CLOCK_REALTIME read together, at open and every ClockIntervalSec.
 *
 * The main thread only queues messages; one publisher thread of the sink's own connects,
 * creates the stream if missing, publishes the queue in windows with js_PublishMsgAsync and
 * takes a window off the queue once JetStream acknowledged all of it. A window with a failure
 * or no answer (the server went away) is sent again, same message ids: JetStream drops what
 * it already stored. The queue holds at most BufferBytes; what does not fit is dropped and
 * counted per trace (a warning per trace and streak). Connected but taking nothing for
 * TLDRS_NATS_STALL_US counts as unreachable, so that the daemon does not wait for it. A line
 * over the server's max payload is dropped and counted. See docs/many-hosts.md. */

#define TLDRS_NATS_WINDOW_MSGS  512
#define TLDRS_NATS_WINDOW_BYTES (8 << 20)
#define TLDRS_NATS_ACK_WAIT_MS  5000
/* JetStream took nothing for this long although there is something to take: the sink stops
 * holding up the clients (as if disconnected) */
#define TLDRS_NATS_STALL_US (10 * G_USEC_PER_SEC)
/* the max payload assumed until the server said (the NATS default) */
#define TLDRS_NATS_DEFAULT_MAX_PAYLOAD (1 << 20)

/* the events of one trace that the sink gave up on; shared by the trace and its queued
 * messages (an atomic rc box), so that what is lost after close_trace() still counts
 * somewhere; under the sink's lock */
typedef struct {
	guint64 dropped;
} TldrsNatsCount;

typedef struct {
	char *subject;
	char *msg_id;
	GBytes *payload;
	guint lines;
	TldrsNatsCount *count;
} TldrsNatsMsg;

struct _TldrsNatsSink {
	GObject parent_instance;

	/* configuration, read-only once set up */
	char **urls;
	char *shown_url; /* the first URL without credentials, for messages */
	char *stream;
	char **subjects;
	jsRetentionPolicy retention;
	gint64 replicas;
	gint64 max_age_sec;
	gint64 duplicate_window_sec;
	char *token;
	char *user;
	char *password;
	char *credentials;
	char *tls_ca;
	char *tls_cert;
	char *tls_key;
	gboolean tls;
	char *host;
	char instance[33];
	gsize buffer_bytes;
	gsize batch_bytes;
	guint clock_interval_sec;
	gint64 shutdown_timeout_us;

	/* main thread */
	guint64 next_seq;
	guint clock_source;
	GHashTable *traces; /* TldrsNatsTrace* set: the open traces */

	/* shared with the publisher thread */
	GMutex lock;
	GCond cond;
	GQueue queue;       /* TldrsNatsMsg*, not yet acknowledged, oldest first */
	gsize queued_bytes; /* payload bytes in queue */
	gboolean connected; /* the publisher's connection is up */
	gboolean stopping;  /* shutdown(): publish what is queued, then stop */
	guint64 published;  /* messages acknowledged */
	guint64 duplicates; /* of them, what JetStream had already */
	GThread *thread;
	gint window_failed;      /* atomic: a message of the current window failed */
	gint window_dups;        /* atomic: of the current window, what JetStream already had */
	gsize max_payload;       /* what the server takes in one message, headers included */
	gboolean stream_checked; /* publisher thread: an existing stream was looked at */
	char *refusal;           /* under lock: why JetStream refused one, for the warning */
};

G_DECLARE_FINAL_TYPE(TldrsNatsSink, tldrs_nats_sink, TLDRS, NATS_SINK, GObject)

typedef struct {
	TldrsNatsSink *sink;
	char *id;
	char *events_subject;
	char *clock_subject;
	GString *pending;      /* lines not yet in a message */
	TldrsNatsCount *count; /* events dropped: the queue was full, a line too long, ... */
	gboolean dropping;
} TldrsNatsTrace;

static void
tldrs_nats_sink_iface_init(TldrsSinkInterface *iface);

G_DEFINE_TYPE_WITH_CODE(TldrsNatsSink,
                        tldrs_nats_sink,
                        G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(TLDRS_TYPE_SINK, tldrs_nats_sink_iface_init))

static void
tldrs_nats_msg_free(TldrsNatsMsg *m)
{
	g_free(m->subject);
	g_free(m->msg_id);
	g_bytes_unref(m->payload);
	g_atomic_rc_box_release(m->count);
	g_free(m);
}

/* an upper bound of the headers of one message (NATS/1.0, host, instance, message id) */
static gsize
tldrs_nats_sink_header_bytes(TldrsNatsSink *self)
{
	return 256 + strlen(self->host);
}

/* the most payload bytes of one message; under lock */
static gsize
tldrs_nats_sink_payload_limit(TldrsNatsSink *self)
{
	gsize header = tldrs_nats_sink_header_bytes(self);
	return self->max_payload > header ? self->max_payload - header : 0;
}

/* ---- configuration ---- */

static gboolean
tldrs_nats_sink_fail(GError **error,
                     const TldrsSinkSetup *setup,
                     const char *key,
                     const char *expected,
                     const char *value)
{
	g_set_error(error,
	            G_IO_ERROR,
	            G_IO_ERROR_INVALID_ARGUMENT,
	            "%s: [%s] %s: expected %s, got \"%s\"",
	            setup->config_path,
	            setup->group,
	            key,
	            expected,
	            value);
	return FALSE;
}

static gboolean
tldrs_nats_sink_parse_int(const char *value, gint64 min, gint64 max, gint64 *out)
{
	gint64 v;
	if (!g_ascii_string_to_signed(value, 10, min, max, &v, NULL))
		return FALSE;
	*out = v;
	return TRUE;
}

static char *
tldrs_nats_sink_expand_path(const char *value)
{
	if (value[0] == '~' && (value[1] == '/' || value[1] == '\0'))
		return g_build_filename(g_get_home_dir(), value + 1, NULL);
	return g_strdup(value);
}

/* does the subject filter @filter (with * and >) match @subject? */
static gboolean
tldrs_nats_subject_matches(const char *filter, const char *subject)
{
	g_auto(GStrv) f = g_strsplit(filter, ".", -1);
	g_auto(GStrv) t = g_strsplit(subject, ".", -1);
	guint i = 0;
	for (; f[i] != NULL; i++) {
		if (g_str_equal(f[i], ">"))
			return t[i] != NULL;
		if (t[i] == NULL || (!g_str_equal(f[i], "*") && !g_str_equal(f[i], t[i])))
			return FALSE;
	}
	return t[i] == NULL;
}

static gboolean
tldrs_nats_sink_set_key(TldrsNatsSink *self,
                        const TldrsSinkSetup *setup,
                        const char *key,
                        const char *value,
                        GError **error)
{
	gint64 n = 0;

	if (g_str_equal(key, "URL")) {
		g_auto(GStrv) urls = g_strsplit_set(value, ",;", -1);
		g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func(g_free);
		for (guint i = 0; urls[i] != NULL; i++) {
			g_autoptr(GError) error_local = NULL;
			g_strstrip(urls[i]);
			if (urls[i][0] == '\0')
				continue;
			if (!tldrs_nats_check_url(urls[i], &error_local)) {
				g_set_error(error,
				            G_IO_ERROR,
				            G_IO_ERROR_INVALID_ARGUMENT,
				            "%s: [%s] %s: %s",
				            setup->config_path,
				            setup->group,
				            key,
				            error_local->message);
				return FALSE;
			}
			g_ptr_array_add(kept, g_strdup(urls[i]));
		}
		if (kept->len == 0)
			return tldrs_nats_sink_fail(
			        error, setup, key, "one or more NATS URLs", value);
		g_ptr_array_add(kept, NULL);
		g_strfreev(self->urls);
		self->urls = (char **)g_ptr_array_free(g_steal_pointer(&kept), FALSE);
	} else if (g_str_equal(key, "Stream")) {
		/* JetStream stream names: no '.', '*', '>', whitespace or path separators */
		if (value[0] == '\0' || strpbrk(value, ".*> \t/\\") != NULL)
			return tldrs_nats_sink_fail(error,
			                            setup,
			                            key,
			                            "a stream name without . * > / \\ or spaces",
			                            value);
		g_free(self->stream);
		self->stream = g_strdup(value);
	} else if (g_str_equal(key, "Subjects")) {
		g_auto(GStrv) subjects = g_strsplit(value, ";", -1);
		g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func(g_free);
		for (guint i = 0; subjects[i] != NULL; i++) {
			g_strstrip(subjects[i]);
			if (subjects[i][0] != '\0')
				g_ptr_array_add(kept, g_strdup(subjects[i]));
		}
		for (guint k = 0; k < 2; k++) {
			const char *ours =
			        k == 0 ? TLDRS_NATS_EVENTS_PREFIX "x" : TLDRS_NATS_CLOCK_PREFIX "x";
			gboolean covered = FALSE;
			for (guint i = 0; i < kept->len && !covered; i++)
				covered = tldrs_nats_subject_matches(g_ptr_array_index(kept, i),
				                                     ours);
			if (!covered)
				return tldrs_nats_sink_fail(error,
				                            setup,
				                            key,
				                            "subjects separated by ';' that cover "
				                            "tldrs.trace.* and tldrs.clock.*",
				                            value);
		}
		g_ptr_array_add(kept, NULL);
		g_strfreev(self->subjects);
		self->subjects = (char **)g_ptr_array_free(g_steal_pointer(&kept), FALSE);
	} else if (g_str_equal(key, "Retention")) {
		/* an interest stream without consumers keeps nothing, a workqueue stream cannot
		 * serve get-tef's ordered consumer: only limits keeps the traces readable */
		if (!g_str_equal(value, "limits"))
			return tldrs_nats_sink_fail(error,
			                            setup,
			                            key,
			                            "limits (interest and workqueue streams lose "
			                            "the traces get-tef --nats reads)",
			                            value);
		self->retention = js_LimitsPolicy;
	} else if (g_str_equal(key, "Replicas")) {
		if (!tldrs_nats_sink_parse_int(value, 1, 5, &self->replicas))
			return tldrs_nats_sink_fail(
			        error, setup, key, "a number from 1 to 5", value);
	} else if (g_str_equal(key, "MaxAgeSec")) {
		if (!tldrs_nats_sink_parse_int(value, 0, G_MAXINT32, &self->max_age_sec))
			return tldrs_nats_sink_fail(
			        error, setup, key, "seconds, 0 for no limit", value);
	} else if (g_str_equal(key, "DuplicateWindowSec")) {
		if (!tldrs_nats_sink_parse_int(value, 1, G_MAXINT32, &self->duplicate_window_sec))
			return tldrs_nats_sink_fail(
			        error, setup, key, "seconds, at least 1", value);
	} else if (g_str_equal(key, "Token")) {
		g_free(self->token);
		self->token = value[0] != '\0' ? g_strdup(value) : NULL;
	} else if (g_str_equal(key, "User")) {
		g_free(self->user);
		self->user = value[0] != '\0' ? g_strdup(value) : NULL;
	} else if (g_str_equal(key, "Password")) {
		g_free(self->password);
		self->password = value[0] != '\0' ? g_strdup(value) : NULL;
	} else if (g_str_equal(key, "CredentialsFile") || g_str_equal(key, "TLSCAFile") ||
	           g_str_equal(key, "TLSCertFile") || g_str_equal(key, "TLSKeyFile")) {
		char **slot = g_str_equal(key, "CredentialsFile") ? &self->credentials
		              : g_str_equal(key, "TLSCAFile")     ? &self->tls_ca
		              : g_str_equal(key, "TLSCertFile")   ? &self->tls_cert
		                                                  : &self->tls_key;
		g_autofree char *path = NULL;
		if (value[0] == '\0')
			return TRUE;
		path = tldrs_nats_sink_expand_path(value);
		if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
			return tldrs_nats_sink_fail(error, setup, key, "an existing file", value);
		g_free(*slot);
		*slot = g_steal_pointer(&path);
	} else if (g_str_equal(key, "TLS")) {
		if (g_str_equal(value, "true"))
			self->tls = TRUE;
		else if (g_str_equal(value, "false"))
			self->tls = FALSE;
		else
			return tldrs_nats_sink_fail(error, setup, key, "true or false", value);
	} else if (g_str_equal(key, "Host")) {
		if (value[0] == '\0')
			return TRUE; /* the machine's host name */
		if (!g_utf8_validate(value, -1, NULL))
			return tldrs_nats_sink_fail(error, setup, key, "a host name", value);
		g_free(self->host);
		self->host = g_strdup(value);
	} else if (g_str_equal(key, "BufferBytes")) {
		if (!tldrs_nats_sink_parse_int(value, 65536, G_MAXINT64, &n))
			return tldrs_nats_sink_fail(
			        error, setup, key, "bytes, at least 65536", value);
		self->buffer_bytes = (gsize)n;
	} else if (g_str_equal(key, "BatchBytes")) {
		if (!tldrs_nats_sink_parse_int(value, 1024, 1 << 20, &n))
			return tldrs_nats_sink_fail(
			        error, setup, key, "bytes, from 1024 to 1048576", value);
		self->batch_bytes = (gsize)n;
	} else if (g_str_equal(key, "ClockIntervalSec")) {
		if (!tldrs_nats_sink_parse_int(value, 1, 86400, &n))
			return tldrs_nats_sink_fail(
			        error, setup, key, "seconds, from 1 to 86400", value);
		self->clock_interval_sec = (guint)n;
	} else if (g_str_equal(key, "ShutdownTimeoutSec")) {
		if (!tldrs_nats_sink_parse_int(value, 0, 3600, &n))
			return tldrs_nats_sink_fail(
			        error, setup, key, "seconds, from 0 to 3600", value);
		self->shutdown_timeout_us = n * G_USEC_PER_SEC;
	}
	/* the daemon refused any other key */
	return TRUE;
}

static gboolean
tldrs_nats_sink_setup(TldrsSink *sink, const TldrsSinkSetup *setup, GError **error)
{
	TldrsNatsSink *self = TLDRS_NATS_SINK(sink);
	g_auto(GStrv) keys = NULL;

	if (setup->config != NULL && g_key_file_has_group(setup->config, setup->group))
		keys = g_key_file_get_keys(setup->config, setup->group, NULL, NULL);
	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		g_autofree char *value =
		        g_key_file_get_value(setup->config, setup->group, keys[i], NULL);
		g_strstrip(value);
		if (!tldrs_nats_sink_set_key(self, setup, keys[i], value, error))
			return FALSE;
	}
	if ((self->user == NULL) != (self->password == NULL)) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_INVALID_ARGUMENT,
		            "%s: [%s] User and Password: expected both or neither",
		            setup->config_path,
		            setup->group);
		return FALSE;
	}
	if ((self->tls_cert == NULL) != (self->tls_key == NULL)) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_INVALID_ARGUMENT,
		            "%s: [%s] TLSCertFile and TLSKeyFile: expected both or neither",
		            setup->config_path,
		            setup->group);
		return FALSE;
	}
	if (g_str_equal(self->host, "localhost") || g_str_has_prefix(self->host, "localhost."))
		g_warning("[%s] Host: the host name is \"%s\" (a container?): set Host= so that "
		          "readers can tell this host from others",
		          setup->group,
		          self->host);
	g_free(self->shown_url);
	self->shown_url = tldrs_nats_url_shown(self->urls[0]);
	g_info("publishing to %s, stream %s, as host %s instance %s",
	       self->shown_url,
	       self->stream,
	       self->host,
	       self->instance);
	return TRUE;
}

/* ---- the publisher thread ---- */

static natsOptions *
tldrs_nats_sink_options(TldrsNatsSink *self, natsStatus *s)
{
	natsOptions *opts = NULL;
	const char **urls = (const char **)self->urls;

	*s = natsOptions_Create(&opts);
	if (*s == NATS_OK)
		*s = natsOptions_SetServers(opts, urls, (int)g_strv_length(self->urls));
	if (*s == NATS_OK)
		*s = natsOptions_SetName(opts, "tldrs");
	if (*s == NATS_OK)
		*s = natsOptions_SetTimeout(opts, 2000);
	if (*s == NATS_OK)
		*s = natsOptions_SetMaxReconnect(opts, -1);
	if (*s == NATS_OK)
		*s = natsOptions_SetReconnectWait(opts, 250);
	if (*s == NATS_OK)
		*s = natsOptions_SetPingInterval(opts, 2000);
	if (*s == NATS_OK && self->token != NULL)
		*s = natsOptions_SetToken(opts, self->token);
	if (*s == NATS_OK && self->user != NULL)
		*s = natsOptions_SetUserInfo(opts, self->user, self->password);
	if (*s == NATS_OK && self->credentials != NULL)
		*s = natsOptions_SetUserCredentialsFromFiles(opts, self->credentials, NULL);
	if (*s == NATS_OK && self->tls)
		*s = natsOptions_SetSecure(opts, true);
	if (*s == NATS_OK && self->tls_ca != NULL)
		*s = natsOptions_LoadCATrustedCertificates(opts, self->tls_ca);
	if (*s == NATS_OK && self->tls_cert != NULL)
		*s = natsOptions_LoadCertificatesChain(opts, self->tls_cert, self->tls_key);
	if (*s != NATS_OK) {
		natsOptions_Destroy(opts);
		return NULL;
	}
	return opts;
}

/* libnats' thread: one acknowledgment, positive or not */
static void
tldrs_nats_sink_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	TldrsNatsSink *self = closure;
	(void)js;
	if (pae != NULL || pa == NULL) {
		g_atomic_int_set(&self->window_failed, 1);
		g_mutex_lock(&self->lock);
		if (self->refusal == NULL)
			self->refusal = g_strdup(
			        pae != NULL && pae->ErrText != NULL
			                ? pae->ErrText
			                : natsStatus_GetText(pae != NULL ? pae->Err : NATS_ERR));
		g_mutex_unlock(&self->lock);
	} else if (pa->Duplicate) {
		/* counted once the whole window is acknowledged: a failed one is sent again */
		g_atomic_int_inc(&self->window_dups);
	}
	natsMsg_Destroy(msg);
}

static void
tldrs_nats_sink_set_connected(TldrsNatsSink *self, gboolean connected)
{
	g_mutex_lock(&self->lock);
	if (self->connected != connected) {
		self->connected = connected;
		if (connected)
			g_info("connected to NATS");
		else
			g_warning("NATS unreachable: keeping up to %" G_GSIZE_FORMAT
			          " bytes of events, retrying",
			          self->buffer_bytes);
	}
	g_mutex_unlock(&self->lock);
}

/* wait up to @us for shutdown(); TRUE when the thread is to stop now */
static gboolean
tldrs_nats_sink_pause(TldrsNatsSink *self, gint64 us, gint64 stop_by)
{
	gboolean stop;
	gint64 until = MIN(g_get_monotonic_time() + us, stop_by);
	g_mutex_lock(&self->lock);
	/* the whole time, whatever wakes us (new messages, shutdown()), so that a server that
	 * is not there is not asked back to back; only a shutdown with nothing left ends it */
	while (g_get_monotonic_time() < until && !(self->stopping && self->queue.length == 0))
		g_cond_wait_until(&self->cond, &self->lock, until);
	stop = self->stopping && (self->queue.length == 0 || g_get_monotonic_time() >= stop_by);
	g_mutex_unlock(&self->lock);
	return stop;
}

/* an existing stream that would lose or double our events: said once */
static void
tldrs_nats_sink_check_stream(TldrsNatsSink *self, jsStreamInfo *si)
{
	static const char *const ours[] = {TLDRS_NATS_EVENTS_PREFIX "x",
	                                   TLDRS_NATS_CLOCK_PREFIX "x"};
	jsStreamConfig *cfg = si->Config;

	if (self->stream_checked || cfg == NULL)
		return;
	self->stream_checked = TRUE;
	if (cfg->Retention != js_LimitsPolicy)
		g_warning("stream %s at %s has %s retention: it may not keep the events "
		          "(get-tef --nats needs limits)",
		          self->stream,
		          self->shown_url,
		          cfg->Retention == js_InterestPolicy ? "interest" : "workqueue");
	for (guint k = 0; k < G_N_ELEMENTS(ours); k++) {
		gboolean covered = FALSE;
		for (int i = 0; i < cfg->SubjectsLen && !covered; i++)
			covered = tldrs_nats_subject_matches(cfg->Subjects[i], ours[k]);
		if (!covered)
			g_warning("stream %s at %s: its subjects do not cover %s*",
			          self->stream,
			          self->shown_url,
			          k == 0 ? TLDRS_NATS_EVENTS_PREFIX : TLDRS_NATS_CLOCK_PREFIX);
	}
	if (cfg->Duplicates < self->duplicate_window_sec * G_GINT64_CONSTANT(1000000000))
		g_warning("stream %s at %s: duplicate window %" G_GINT64_FORMAT
		          " s, shorter than DuplicateWindowSec: events sent again after a longer "
		          "outage are stored twice",
		          self->stream,
		          self->shown_url,
		          cfg->Duplicates / G_GINT64_CONSTANT(1000000000));
}

/* the stream, created when missing; TRUE once it exists. A failure is logged once per
 * streak (*warned) */
static gboolean
tldrs_nats_sink_ensure_stream(TldrsNatsSink *self, jsCtx *js, gboolean *warned)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, js, self->stream, NULL, &jerr);
	jsStreamConfig cfg;

	if (s == NATS_OK) {
		tldrs_nats_sink_check_stream(self, si);
		jsStreamInfo_Destroy(si);
		*warned = FALSE;
		return TRUE;
	}
	if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
		if (!*warned)
			g_warning("cannot look up stream %s at %s: %s (retrying)",
			          self->stream,
			          self->shown_url,
			          natsStatus_GetText(s));
		*warned = TRUE;
		return FALSE;
	}
	jsStreamConfig_Init(&cfg);
	cfg.Name = self->stream;
	cfg.Subjects = (const char **)self->subjects;
	cfg.SubjectsLen = (int)g_strv_length(self->subjects);
	cfg.Retention = self->retention;
	cfg.Replicas = self->replicas;
	cfg.Storage = js_FileStorage;
	cfg.MaxAge = self->max_age_sec * G_GINT64_CONSTANT(1000000000);
	cfg.Duplicates = self->duplicate_window_sec * G_GINT64_CONSTANT(1000000000);
	s = js_AddStream(&si, js, &cfg, NULL, &jerr);
	if (s != NATS_OK) {
		if (!*warned)
			g_warning(
			        "cannot create stream %s at %s: %s (JetStream error %d, retrying)",
			        self->stream,
			        self->shown_url,
			        nats_GetLastError(NULL) != NULL ? nats_GetLastError(NULL)
			                                        : natsStatus_GetText(s),
			        (int)jerr);
		*warned = TRUE;
		return FALSE;
	}
	*warned = FALSE;
	g_info("created stream %s", self->stream);
	jsStreamInfo_Destroy(si);
	return TRUE;
}

/* publish the first messages of the queue; TRUE when JetStream acknowledged all of them
 * (and they are off the queue) */
static gboolean
tldrs_nats_sink_publish_window(TldrsNatsSink *self, jsCtx *js, gint64 stop_by)
{
	g_autoptr(GPtrArray) window = g_ptr_array_new();
	gsize bytes = 0;
	jsPubOptions po;
	natsStatus s = NATS_OK;
	gint64 left_ms;

	g_mutex_lock(&self->lock);
	/* only this thread takes messages off the queue: they stay valid unlocked */
	for (GList *l = self->queue.head, *next = NULL;
	     l != NULL && window->len < TLDRS_NATS_WINDOW_MSGS && bytes < TLDRS_NATS_WINDOW_BYTES;
	     l = next) {
		TldrsNatsMsg *m = l->data;
		gsize len = g_bytes_get_size(m->payload);
		next = l->next;
		if (len > tldrs_nats_sink_payload_limit(self)) {
			/* queued before the server said how much it takes: it never will */
			g_warning("a message of %u events (%" G_GSIZE_FORMAT
			          " bytes) is over what the NATS server takes (%" G_GSIZE_FORMAT
			          " bytes with headers): dropped",
			          m->lines,
			          len,
			          self->max_payload);
			m->count->dropped += m->lines;
			self->queued_bytes -= len;
			g_queue_delete_link(&self->queue, l);
			tldrs_nats_msg_free(m);
			continue;
		}
		g_ptr_array_add(window, m);
		bytes += len;
	}
	g_mutex_unlock(&self->lock);
	if (window->len == 0)
		return TRUE;

	g_atomic_int_set(&self->window_failed, 0);
	g_atomic_int_set(&self->window_dups, 0);
	for (guint i = 0; i < window->len && s == NATS_OK; i++) {
		TldrsNatsMsg *m = g_ptr_array_index(window, i);
		natsMsg *msg = NULL;
		gsize len = 0;
		const void *data = g_bytes_get_data(m->payload, &len);
		s = natsMsg_Create(&msg, m->subject, NULL, data, (int)len);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(msg, TLDRS_NATS_HEADER_HOST, self->host);
		if (s == NATS_OK)
			s = natsMsgHeader_Set(msg, TLDRS_NATS_HEADER_INSTANCE, self->instance);
		if (s == NATS_OK) {
			jsPubOptions_Init(&po);
			po.MsgId = m->msg_id;
			s = js_PublishMsgAsync(js, &msg, &po);
		}
		natsMsg_Destroy(msg);
	}
	jsPubOptions_Init(&po);
	/* no longer than the shutdown has left */
	left_ms = stop_by == G_MAXINT64 ? TLDRS_NATS_ACK_WAIT_MS
	                                : (stop_by - g_get_monotonic_time()) / 1000;
	po.MaxWait = CLAMP(left_ms, 1, TLDRS_NATS_ACK_WAIT_MS);
	if (s == NATS_OK)
		s = js_PublishAsyncComplete(js, &po);
	if (s != NATS_OK) {
		/* what is still unanswered comes back to us; it is sent again later */
		natsMsgList pending = {0};
		if (js_PublishAsyncGetPendingList(&pending, js) == NATS_OK)
			natsMsgList_Destroy(&pending);
		g_debug("window of %u messages: %s", window->len, natsStatus_GetText(s));
		return FALSE;
	}
	if (g_atomic_int_get(&self->window_failed))
		return FALSE;

	g_mutex_lock(&self->lock);
	for (guint i = 0; i < window->len; i++) {
		TldrsNatsMsg *m = g_queue_pop_head(&self->queue);
		g_assert(m == g_ptr_array_index(window, i));
		self->queued_bytes -= g_bytes_get_size(m->payload);
		self->published++;
		tldrs_nats_msg_free(m);
	}
	self->duplicates += (guint)g_atomic_int_get(&self->window_dups);
	g_cond_broadcast(&self->cond);
	g_mutex_unlock(&self->lock);
	return TRUE;
}

static gpointer
tldrs_nats_sink_thread(gpointer data)
{
	TldrsNatsSink *self = data;
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	gboolean stream_ok = FALSE;
	gint64 backoff = 100 * 1000;
	gint64 stop_by = G_MAXINT64;
	gboolean warned = FALSE;
	gboolean stream_warned = FALSE;
	gboolean refused = FALSE;
	gint64 progress_at = g_get_monotonic_time(); /* the queue was empty or a window went */
	gboolean stalled = FALSE;

	for (;;) {
		gboolean stop;

		g_mutex_lock(&self->lock);
		if (self->queue.length == 0 && !self->stopping) {
			while (self->queue.length == 0 && !self->stopping)
				g_cond_wait(&self->cond, &self->lock);
			progress_at = g_get_monotonic_time();
		}
		if (self->stopping && stop_by == G_MAXINT64)
			stop_by = g_get_monotonic_time() + self->shutdown_timeout_us;
		stop = self->stopping &&
		       (self->queue.length == 0 || g_get_monotonic_time() >= stop_by);
		g_mutex_unlock(&self->lock);
		if (stop)
			break;

		if (nc == NULL) {
			natsStatus s;
			natsOptions *opts = tldrs_nats_sink_options(self, &s);
			if (opts != NULL) {
				s = natsConnection_Connect(&nc, opts);
				natsOptions_Destroy(opts);
			}
			if (s != NATS_OK) {
				if (!warned)
					g_warning("cannot connect to NATS at %s: %s (retrying)",
					          self->shown_url,
					          natsStatus_GetText(s));
				warned = TRUE;
				natsConnection_Destroy(nc);
				nc = NULL;
				tldrs_nats_sink_set_connected(self, FALSE);
				if (tldrs_nats_sink_pause(self, backoff, stop_by))
					break;
				backoff = MIN(backoff * 2, 2 * G_USEC_PER_SEC);
				continue;
			}
			warned = FALSE;
			g_mutex_lock(&self->lock);
			self->max_payload = (gsize)MAX(natsConnection_GetMaxPayload(nc), 0);
			g_mutex_unlock(&self->lock);
		}
		if (js == NULL) {
			jsOptions jo;
			jsOptions_Init(&jo);
			jo.Wait = TLDRS_NATS_ACK_WAIT_MS;
			jo.PublishAsync.MaxPending = TLDRS_NATS_WINDOW_MSGS + 1;
			jo.PublishAsync.AckHandler = tldrs_nats_sink_on_ack;
			jo.PublishAsync.AckHandlerClosure = self;
			if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK) {
				js = NULL;
				if (tldrs_nats_sink_pause(self, backoff, stop_by))
					break;
				continue;
			}
		}
		if (natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED) {
			/* libnats reconnects on its own */
			tldrs_nats_sink_set_connected(self, FALSE);
			if (tldrs_nats_sink_pause(self, 100 * 1000, stop_by))
				break;
			continue;
		}
		if (!stream_ok)
			stream_ok = tldrs_nats_sink_ensure_stream(self, js, &stream_warned);
		if (stream_ok && tldrs_nats_sink_publish_window(self, js, stop_by)) {
			if (stalled)
				g_info("JetStream takes events again");
			stalled = FALSE;
			tldrs_nats_sink_set_connected(self, TRUE);
			progress_at = g_get_monotonic_time();
			backoff = 100 * 1000;
			refused = FALSE;
			continue;
		}
		/* JetStream answered no (a stream whose Subjects= miss ours, a full stream):
		 * said once per streak; the window is sent again */
		{
			g_autofree char *why = NULL;
			g_mutex_lock(&self->lock);
			why = g_steal_pointer(&self->refusal);
			g_mutex_unlock(&self->lock);
			if (why != NULL && !refused)
				g_warning("stream %s at %s refuses events: %s (kept, retrying)",
				          self->stream,
				          self->shown_url,
				          why);
			refused = refused || why != NULL;
		}
		/* connected, but nothing taken for a while (a full stream, JetStream down): the
		 * clients and the other sinks go on, events are kept up to BufferBytes, then
		 * dropped and counted, as while unreachable */
		if (!stalled && g_get_monotonic_time() - progress_at >= TLDRS_NATS_STALL_US) {
			g_warning("stream %s at %s took no events for %d s: no longer holding up "
			          "clients; keeping up to %" G_GSIZE_FORMAT
			          " bytes of events, then dropping them",
			          self->stream,
			          self->shown_url,
			          (int)(TLDRS_NATS_STALL_US / G_USEC_PER_SEC),
			          self->buffer_bytes);
			stalled = TRUE;
			g_mutex_lock(&self->lock);
			self->connected = FALSE;
			g_mutex_unlock(&self->lock);
		}
		/* no stream yet, or the server did not answer: it may have restarted without
		 * its stream (memory storage), so look again before the next try */
		stream_ok = FALSE;
		if (tldrs_nats_sink_pause(self, backoff, stop_by))
			break;
		backoff = MIN(backoff * 2, 2 * G_USEC_PER_SEC);
	}

	g_mutex_lock(&self->lock);
	if (self->queue.length > 0) {
		guint64 lines = 0;
		for (GList *l = self->queue.head; l != NULL; l = l->next) {
			TldrsNatsMsg *m = l->data;
			m->count->dropped += m->lines;
			lines += m->lines;
		}
		g_warning("stopping with %u messages (%" G_GUINT64_FORMAT
		          " events, %" G_GSIZE_FORMAT " bytes) not acknowledged by NATS: lost",
		          self->queue.length,
		          lines,
		          self->queued_bytes);
	}
	g_mutex_unlock(&self->lock);
	if (js != NULL)
		jsCtx_Destroy(js);
	if (nc != NULL) {
		natsConnection_Close(nc);
		natsConnection_Destroy(nc);
	}
	nats_ReleaseThreadMemory();
	return NULL;
}

/* ---- the main thread's side ---- */

static guint
tldrs_nats_count_lines(const char *data, gsize len)
{
	guint n = 0;
	for (const char *p = data; (p = memchr(p, '\n', (gsize)(data + len - p))) != NULL; p++)
		n++;
	return n;
}

/* queue one message, or drop it (and count its events) when the buffer is full */
static void
tldrs_nats_sink_enqueue(TldrsNatsSink *self,
                        TldrsNatsTrace *t,
                        const char *subject,
                        const char *data,
                        gsize len,
                        guint lines)
{
	TldrsNatsMsg *m;
	gboolean fits;

	g_mutex_lock(&self->lock);
	fits = self->queued_bytes + len <= self->buffer_bytes;
	if (fits) {
		m = g_new0(TldrsNatsMsg, 1);
		m->subject = g_strdup(subject);
		m->msg_id =
		        g_strdup_printf("%s-%" G_GUINT64_FORMAT, self->instance, self->next_seq++);
		m->payload = g_bytes_new(data, len);
		m->lines = lines;
		m->count = g_atomic_rc_box_acquire(t->count);
		g_queue_push_tail(&self->queue, m);
		self->queued_bytes += len;
		g_cond_signal(&self->cond);
	} else {
		t->count->dropped += lines;
	}
	g_mutex_unlock(&self->lock);

	if (fits) {
		if (t->dropping)
			g_info("trace %s: NATS buffer has room again", t->id);
		t->dropping = FALSE;
	} else {
		if (!t->dropping)
			g_warning("trace %s: NATS buffer full (%" G_GSIZE_FORMAT
			          " bytes, BufferBytes): dropping events",
			          t->id,
			          self->buffer_bytes);
		t->dropping = TRUE;
	}
	if (self->thread == NULL)
		self->thread = g_thread_new("tldrs-nats", tldrs_nats_sink_thread, self);
}

static void
tldrs_nats_sink_send_clock(TldrsNatsSink *self, TldrsNatsTrace *t)
{
	TldrsNatsClock clock;
	g_autofree char *json = NULL;
	tldrs_nats_clock_read(&clock);
	json = tldrs_nats_clock_to_json(&clock, self->host, self->instance);
	tldrs_nats_sink_enqueue(self, t, t->clock_subject, json, strlen(json), 0);
}

static gboolean
tldrs_nats_sink_clock_tick(gpointer data)
{
	TldrsNatsSink *self = data;
	GHashTableIter it;
	gpointer key;
	g_hash_table_iter_init(&it, self->traces);
	while (g_hash_table_iter_next(&it, &key, NULL))
		tldrs_nats_sink_send_clock(self, key);
	return G_SOURCE_CONTINUE;
}

static gpointer
tldrs_nats_sink_open_trace(TldrsSink *sink, const char *trace_id, const char *file)
{
	TldrsNatsSink *self = TLDRS_NATS_SINK(sink);
	TldrsNatsTrace *t = g_new0(TldrsNatsTrace, 1);
	g_autofree char *token = tldrs_nats_token_encode(trace_id);
	(void)file;
	t->sink = self;
	t->id = g_strdup(trace_id);
	t->events_subject = g_strconcat(TLDRS_NATS_EVENTS_PREFIX, token, NULL);
	t->clock_subject = g_strconcat(TLDRS_NATS_CLOCK_PREFIX, token, NULL);
	t->pending = g_string_sized_new(self->batch_bytes);
	t->count = g_atomic_rc_box_new0(TldrsNatsCount);
	g_hash_table_add(self->traces, t);
	/* the first clock record goes before the first event */
	tldrs_nats_sink_send_clock(self, t);
	if (self->clock_source == 0)
		self->clock_source = g_timeout_add_seconds(
		        self->clock_interval_sec, tldrs_nats_sink_clock_tick, self);
	return t;
}

/* the pending lines as messages of at most BatchBytes, and no more than the server takes in
 * one message with our headers; a line longer than that can never be published: it is
 * dropped and counted */
static void
tldrs_nats_sink_send_pending(TldrsNatsSink *self, TldrsNatsTrace *t, gboolean all)
{
	gsize off = 0;
	gsize limit;

	g_mutex_lock(&self->lock);
	limit = MIN(self->batch_bytes, tldrs_nats_sink_payload_limit(self));
	g_mutex_unlock(&self->lock);
	limit = MAX(limit, 1);
	while (t->pending->len - off >= (all ? 1 : limit)) {
		const char *start = t->pending->str + off;
		gsize avail = t->pending->len - off;
		gsize n = MIN(avail, limit);
		const char *cut = g_strrstr_len(start, (gssize)n, "\n");
		if (cut == NULL) {
			cut = memchr(start + n, '\n', avail - n);
			if (cut == NULL)
				break; /* cannot happen: write() gets whole lines */
			n = (gsize)(cut - start) + 1;
			g_mutex_lock(&self->lock);
			t->count->dropped++;
			g_mutex_unlock(&self->lock);
			g_warning("trace %s: an event of %" G_GSIZE_FORMAT
			          " bytes is over what NATS takes in one message (%" G_GSIZE_FORMAT
			          " bytes): dropped",
			          t->id,
			          n,
			          limit);
			off += n;
			continue;
		}
		n = (gsize)(cut - start) + 1;
		tldrs_nats_sink_enqueue(
		        self, t, t->events_subject, start, n, tldrs_nats_count_lines(start, n));
		off += n;
	}
	g_string_erase(t->pending, 0, (gssize)off);
}

static gboolean
tldrs_nats_sink_write(TldrsSink *sink, gpointer trace, const char *lines, gsize len, GError **error)
{
	TldrsNatsSink *self = TLDRS_NATS_SINK(sink);
	TldrsNatsTrace *t = trace;
	(void)error;
	g_string_append_len(t->pending, lines, (gssize)len);
	tldrs_nats_sink_send_pending(self, t, FALSE);
	return TRUE;
}

static gboolean
tldrs_nats_sink_flush(TldrsSink *sink, gpointer trace, GError **error)
{
	TldrsNatsSink *self = TLDRS_NATS_SINK(sink);
	(void)error;
	tldrs_nats_sink_send_pending(self, trace, TRUE);
	return TRUE;
}

/* while the server answers, what waits for it holds up the clients like any sink's backlog;
 * while it does not, the events are kept up to BufferBytes and then dropped, so that the
 * other sinks go on */
static gsize
tldrs_nats_sink_backlog(TldrsSink *sink)
{
	TldrsNatsSink *self = TLDRS_NATS_SINK(sink);
	gsize n;
	g_mutex_lock(&self->lock);
	n = self->connected ? self->queued_bytes : 0;
	g_mutex_unlock(&self->lock);
	return n;
}

static guint64
tldrs_nats_sink_dropped(TldrsSink *sink, gpointer trace)
{
	TldrsNatsSink *self = TLDRS_NATS_SINK(sink);
	TldrsNatsTrace *t = trace;
	guint64 n;
	g_mutex_lock(&self->lock);
	n = t->count->dropped;
	g_mutex_unlock(&self->lock);
	return n;
}

static void
tldrs_nats_sink_close_trace(TldrsSink *sink, gpointer trace)
{
	TldrsNatsSink *self = TLDRS_NATS_SINK(sink);
	TldrsNatsTrace *t = trace;
	guint64 dropped;
	if (t == NULL)
		return;
	tldrs_nats_sink_send_pending(self, t, TRUE);
	dropped = tldrs_nats_sink_dropped(sink, t);
	if (dropped > 0)
		g_warning("trace %s: %" G_GUINT64_FORMAT
		          " events dropped: the NATS buffer was full, or NATS refused them",
		          t->id,
		          dropped);
	g_hash_table_remove(self->traces, t);
	if (g_hash_table_size(self->traces) == 0)
		g_clear_handle_id(&self->clock_source, g_source_remove);
	g_free(t->id);
	g_free(t->events_subject);
	g_free(t->clock_subject);
	g_string_free(t->pending, TRUE);
	g_atomic_rc_box_release(t->count);
	g_free(t);
}

static void
tldrs_nats_sink_shutdown(TldrsSink *sink)
{
	TldrsNatsSink *self = TLDRS_NATS_SINK(sink);
	g_clear_handle_id(&self->clock_source, g_source_remove);
	if (self->thread == NULL)
		return;
	g_mutex_lock(&self->lock);
	self->stopping = TRUE;
	g_cond_broadcast(&self->cond);
	g_mutex_unlock(&self->lock);
	g_thread_join(g_steal_pointer(&self->thread));
	g_info("%" G_GUINT64_FORMAT " messages acknowledged (%" G_GUINT64_FORMAT
	       " of them duplicates JetStream dropped)",
	       self->published,
	       self->duplicates);
}

static void
tldrs_nats_sink_finalize(GObject *object)
{
	TldrsNatsSink *self = TLDRS_NATS_SINK(object);
	tldrs_nats_sink_shutdown(TLDRS_SINK(self));
	g_queue_clear_full(&self->queue, (GDestroyNotify)tldrs_nats_msg_free);
	g_hash_table_unref(self->traces);
	g_mutex_clear(&self->lock);
	g_cond_clear(&self->cond);
	g_strfreev(self->urls);
	g_free(self->shown_url);
	g_free(self->refusal);
	g_strfreev(self->subjects);
	g_free(self->stream);
	g_free(self->token);
	g_free(self->user);
	g_free(self->password);
	g_free(self->credentials);
	g_free(self->tls_ca);
	g_free(self->tls_cert);
	g_free(self->tls_key);
	g_free(self->host);
	G_OBJECT_CLASS(tldrs_nats_sink_parent_class)->finalize(object);
}

static void
tldrs_nats_sink_iface_init(TldrsSinkInterface *iface)
{
	static const char *const keys[] = {
	        "URL",         "Stream",      "Subjects",           "Retention",
	        "Replicas",    "MaxAgeSec",   "DuplicateWindowSec", "Token",
	        "User",        "Password",    "CredentialsFile",    "TLS",
	        "TLSCAFile",   "TLSCertFile", "TLSKeyFile",         "Host",
	        "BufferBytes", "BatchBytes",  "ClockIntervalSec",   "ShutdownTimeoutSec",
	        NULL};
	static const TldrsSinkInfo info = {
	        .name = "nats",
	        .suffix = NULL,
	        .flags = TLDRS_SINK_FLAG_NONE,
	        .config_keys = keys,
	};
	iface->info = &info;
	iface->setup = tldrs_nats_sink_setup;
	iface->open_trace = tldrs_nats_sink_open_trace;
	iface->write = tldrs_nats_sink_write;
	iface->flush = tldrs_nats_sink_flush;
	iface->backlog = tldrs_nats_sink_backlog;
	iface->dropped = tldrs_nats_sink_dropped;
	iface->close_trace = tldrs_nats_sink_close_trace;
	iface->shutdown = tldrs_nats_sink_shutdown;
}

static void
tldrs_nats_sink_class_init(TldrsNatsSinkClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = tldrs_nats_sink_finalize;
}

static void
tldrs_nats_sink_init(TldrsNatsSink *self)
{
	g_mutex_init(&self->lock);
	g_cond_init(&self->cond);
	g_queue_init(&self->queue);
	self->traces = g_hash_table_new(NULL, NULL);
	self->urls = g_new0(char *, 2);
	self->urls[0] = g_strdup(TLDRS_NATS_DEFAULT_URL);
	self->shown_url = g_strdup(TLDRS_NATS_DEFAULT_URL);
	self->stream = g_strdup(TLDRS_NATS_DEFAULT_STREAM);
	self->subjects = g_new0(char *, 2);
	self->subjects[0] = g_strdup("tldrs.>");
	self->retention = js_LimitsPolicy;
	self->replicas = 1;
	self->duplicate_window_sec = 600;
	self->host = g_strdup(g_get_host_name());
	self->buffer_bytes = 64 << 20;
	self->batch_bytes = 64 << 10;
	self->max_payload = TLDRS_NATS_DEFAULT_MAX_PAYLOAD;
	self->clock_interval_sec = 10;
	self->shutdown_timeout_us = 10 * G_USEC_PER_SEC;
	for (guint i = 0; i < 4; i++)
		g_snprintf(self->instance + 8 * i, 9, "%08x", g_random_int());
}

TLDRS_SINK_PLUGIN_DEFINE(tldrs_nats_sink_get_type)
