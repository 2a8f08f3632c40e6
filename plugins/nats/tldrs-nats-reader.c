/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "tldrs-nats-reader.h"

/* This file is the module tldrs-nats-reader.so, loaded by src/tldrs-nats-reader.c only when
 * --nats is used, so that tldrs itself does not link libnats and OpenSSL (2 MiB of RSS in
 * every daemon). */

/* `get-tef --nats` and `list --nats`: what the nats sinks of many hosts published to one
 * JetStream stream, read back (docs/many-hosts.md). A trace is read in two passes over ordered
 * consumers: first its clock records (CLOCK_MONOTONIC and CLOCK_REALTIME of each daemon read
 * together), then its events, each line rewritten as it streams by: `ts` moved onto the time
 * line of the first host (by name), `pid` and `tid` of every other host moved out of the way
 * (host number << 22, above any Linux pid), and a `process_labels` record naming the host
 * before a process's first event. Memory holds the clock records and the processes seen, not
 * the events. */

#include <nats/nats.h>

#include "tldrs-nats-common.h"

/* Linux pids and tids are below 2^22 (PID_MAX_LIMIT) */
#define TLDRS_NATS_PID_SHIFT 22
/* how long one message may take to arrive */
#define TLDRS_NATS_READ_WAIT_MS 10000

typedef struct {
	gint64 monotonic_us;
	gint64 offset_us; /* realtime - monotonic */
} TldrsNatsClockRec;

typedef struct {
	char *name;
	gint64 index;
	GHashTable *pids; /* original pids seen (gint64*) */
} TldrsNatsHost;

typedef struct {
	TldrsNatsHost *host;
	GArray *recs; /* TldrsNatsClockRec, by monotonic_us */
} TldrsNatsInstance;

typedef struct {
	const char *url;
	char *shown_url; /* without credentials, for messages */
	const char *stream;
	natsConnection *nc;
	jsCtx *js;
	GHashTable *hosts;     /* name -> TldrsNatsHost */
	GHashTable *instances; /* id -> TldrsNatsInstance */
	gint64 ref_offset_us;
	gint64 next_host_index;
	int out_fd;
	GString *out;
	TldrsNatsReadStats stats;
} TldrsNatsRead;

static void
tldrs_nats_host_free(TldrsNatsHost *h)
{
	g_free(h->name);
	g_hash_table_unref(h->pids);
	g_free(h);
}

static void
tldrs_nats_instance_free(TldrsNatsInstance *i)
{
	g_array_unref(i->recs);
	g_free(i);
}

static void
tldrs_nats_read_clear(TldrsNatsRead *r)
{
	g_clear_pointer(&r->shown_url, g_free);
	if (r->js != NULL)
		jsCtx_Destroy(r->js);
	if (r->nc != NULL) {
		natsConnection_Close(r->nc);
		natsConnection_Destroy(r->nc);
	}
	g_clear_pointer(&r->hosts, g_hash_table_unref);
	g_clear_pointer(&r->instances, g_hash_table_unref);
	if (r->out != NULL)
		g_string_free(r->out, TRUE);
}

static gboolean
tldrs_nats_fail(GError **error, const char *what, const char *url, natsStatus s)
{
	const char *last = nats_GetLastError(NULL);
	/* libnats puts "(file.c:line): " before its message */
	if (last != NULL && last[0] == '(' && strstr(last, "): ") != NULL)
		last = strstr(last, "): ") + 3;
	g_set_error(error,
	            G_IO_ERROR,
	            G_IO_ERROR_FAILED,
	            "%s %s: %s",
	            what,
	            url,
	            last != NULL && last[0] != '\0' ? last : natsStatus_GetText(s));
	return FALSE;
}

static gboolean
tldrs_nats_read_connect(TldrsNatsRead *r, GError **error)
{
	natsOptions *opts = NULL;
	natsStatus s;

	if (!tldrs_nats_check_url(r->url, error)) {
		g_prefix_error(error, "--nats: ");
		return FALSE;
	}
	s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = natsOptions_SetURL(opts, r->url);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, "tldrs get-tef");
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(opts, 3000);
	if (s == NATS_OK)
		s = natsOptions_SetAllowReconnect(opts, false);
	if (s == NATS_OK)
		s = natsConnection_Connect(&r->nc, opts);
	natsOptions_Destroy(opts);
	if (s != NATS_OK) {
		r->nc = NULL;
		return tldrs_nats_fail(error, "cannot connect to NATS at", r->shown_url, s);
	}
	s = natsConnection_JetStream(&r->js, r->nc, NULL);
	if (s != NATS_OK) {
		r->js = NULL;
		return tldrs_nats_fail(error, "no JetStream at", r->shown_url, s);
	}
	return TRUE;
}

/* the stream's subjects matching @filter, with their message counts */
static jsStreamInfo *
tldrs_nats_read_subjects(TldrsNatsRead *r, const char *filter, GError **error)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	jsOptions o;
	natsStatus s;

	jsOptions_Init(&o);
	o.Stream.Info.SubjectsFilter = filter;
	s = js_GetStreamInfo(&si, r->js, r->stream, &o, &jerr);
	if (s == NATS_OK)
		return si;
	if (jerr == JSStreamNotFoundErr || s == NATS_NOT_FOUND)
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_NOT_FOUND,
		            "no stream %s at %s",
		            r->stream,
		            r->shown_url);
	else
		tldrs_nats_fail(error, "cannot read stream info at", r->shown_url, s);
	return NULL;
}

static guint64
tldrs_nats_subject_count(jsStreamInfo *si, const char *subject)
{
	jsStreamStateSubjects *list = si->State.Subjects;
	for (int i = 0; list != NULL && i < list->Count; i++)
		if (g_strcmp0(list->List[i].Subject, subject) == 0)
			return list->List[i].Msgs;
	return 0;
}

/* a read of @subject that reached the end of the stream with @got messages of the @count
 * counted before: right only if the stream holds fewer now (its limits removed some meanwhile) */
static gboolean
tldrs_nats_read_check_count(TldrsNatsRead *r,
                            const char *subject,
                            guint64 got,
                            guint64 count,
                            GError **error)
{
	jsStreamInfo *si = tldrs_nats_read_subjects(r, subject, error);
	guint64 now;

	if (si == NULL)
		return FALSE;
	now = tldrs_nats_subject_count(si, subject);
	jsStreamInfo_Destroy(si);
	if (now < count) {
		g_debug("%s: %" G_GUINT64_FORMAT " messages read, %" G_GUINT64_FORMAT
		        " counted, %" G_GUINT64_FORMAT " in the stream now",
		        subject,
		        got,
		        count,
		        now);
		return TRUE;
	}
	g_set_error(error,
	            G_IO_ERROR,
	            G_IO_ERROR_FAILED,
	            "reading %s from %s: the server said no more after %" G_GUINT64_FORMAT
	            " of %" G_GUINT64_FORMAT " messages",
	            subject,
	            r->shown_url,
	            got,
	            count);
	return FALSE;
}

typedef gboolean (*TldrsNatsMsgFunc)(TldrsNatsRead *r, natsMsg *msg, GError **error);

/* what the server may send ahead of the reader, per subscription: the bound on the memory of
 * a read; beyond it libnats drops messages (a slow consumer) and the read goes on from the
 * last one it handled */
#define TLDRS_NATS_READ_PENDING_MSGS  256
#define TLDRS_NATS_READ_PENDING_BYTES (16 << 20)
#define TLDRS_NATS_READ_MAX_RESUMES   10000

/* an ordered consumer of @subject from stream sequence @from on (0: from the start) */
static natsSubscription *
tldrs_nats_read_subscribe(TldrsNatsRead *r, const char *subject, guint64 from, GError **error)
{
	natsSubscription *sub = NULL;
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	jsSubOptions_Init(&so);
	so.Stream = r->stream;
	so.Ordered = true;
	if (from > 0) {
		so.Config.DeliverPolicy = js_DeliverByStartSequence;
		so.Config.OptStartSeq = from;
	} else {
		so.Config.DeliverPolicy = js_DeliverAll;
	}
	s = js_SubscribeSync(&sub, r->js, subject, NULL, &so, &jerr);
	if (s != NATS_OK) {
		tldrs_nats_fail(error, "cannot read the stream at", r->shown_url, s);
		return NULL;
	}
	natsSubscription_SetPendingLimits(
	        sub, TLDRS_NATS_READ_PENDING_MSGS, TLDRS_NATS_READ_PENDING_BYTES);
	return sub;
}

static void
tldrs_nats_read_unsubscribe(natsSubscription *sub)
{
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
}

/* One subscription of a read, and what tells that no message went missing in it. libnats
 * drops a message past the pending limits only after its ordered consumer counted it as
 * delivered, so that consumer does not notice; and natsSubscription_NextMsg() reports the
 * drop (NATS_SLOW_CONSUMER) only if no later message was queued before it looked: a drop while
 * the reader waited in NextMsg(), or one for the bytes limit followed by a smaller message, goes
 * unreported. The consumer's own sequence does tell: JetStream numbers the deliveries of one
 * consumer 1, 2, 3… (an ordered consumer acknowledges nothing, so nothing is delivered
 * twice). A message of another consumer than the first one seen is one libnats created itself
 * after a gap it noticed, from a stream sequence of its own choice: not trusted either. */
typedef struct {
	natsSubscription *sub;
	char *consumer;    /* the consumer of the messages read so far, or NULL */
	guint64 next_dseq; /* the consumer sequence the next message must have */
	guint resumes;
} TldrsNatsReadSub;

/* again from stream sequence @from on, with a new consumer */
static gboolean
tldrs_nats_read_resume(TldrsNatsRead *r,
                       TldrsNatsReadSub *rs,
                       const char *subject,
                       guint64 from,
                       GError **error)
{
	if (rs->sub != NULL)
		tldrs_nats_read_unsubscribe(rs->sub);
	g_clear_pointer(&rs->consumer, g_free);
	rs->next_dseq = 1;
	rs->sub = tldrs_nats_read_subscribe(r, subject, from, error);
	return rs->sub != NULL;
}

/* whether @meta follows the messages read before it without a gap */
static gboolean
tldrs_nats_read_in_order(TldrsNatsReadSub *rs, jsMsgMetaData *meta)
{
	if (meta->Consumer == NULL || meta->Sequence.Consumer != rs->next_dseq)
		return FALSE;
	if (rs->consumer == NULL)
		rs->consumer = g_strdup(meta->Consumer);
	else if (g_strcmp0(rs->consumer, meta->Consumer) != 0)
		return FALSE;
	rs->next_dseq++;
	return TRUE;
}

/* every message of @subject, oldest first, through an ordered consumer; stops after @count
 * or when the stream has no more; fails rather than leave a message out */
static gboolean
tldrs_nats_read_subject(TldrsNatsRead *r,
                        const char *subject,
                        guint64 count,
                        TldrsNatsMsgFunc func,
                        GError **error)
{
	TldrsNatsReadSub rs = {NULL, NULL, 1, 0};
	natsStatus s;
	guint64 got = 0;
	guint64 last_seq = 0; /* the stream sequence of the last message handled */
	guint64 want = count;
	int64_t dropped = 0;
	gboolean ok = TRUE;

	if (count == 0)
		return TRUE;
	if (!tldrs_nats_read_resume(r, &rs, subject, 0, error))
		return FALSE;
	while (ok && got < want) {
		natsMsg *msg = NULL;
		jsMsgMetaData *meta = NULL;
		s = natsSubscription_NextMsg(&msg, rs.sub, TLDRS_NATS_READ_WAIT_MS);
		if (s == NATS_OK && natsMsg_GetMetaData(&meta, msg) != NATS_OK) {
			natsMsg_Destroy(msg);
			continue; /* not a message of the stream */
		}
		if (s == NATS_OK && !tldrs_nats_read_in_order(&rs, meta)) {
			/* a gap: libnats dropped some without a word */
			g_debug("%s: consumer %s sequence %" G_GUINT64_FORMAT
			        " where %s %" G_GUINT64_FORMAT " was due",
			        subject,
			        meta->Consumer,
			        (guint64)meta->Sequence.Consumer,
			        rs.consumer != NULL ? rs.consumer : "(the first)",
			        rs.next_dseq);
			jsMsgMetaData_Destroy(meta);
			natsMsg_Destroy(msg);
			s = NATS_SLOW_CONSUMER;
		}
		if (s == NATS_SLOW_CONSUMER) {
			/* the server ran ahead and libnats dropped some: again from the next
			 * message not handled */
			int64_t d = 0;
			if (rs.resumes == TLDRS_NATS_READ_MAX_RESUMES) {
				g_set_error(
				        error,
				        G_IO_ERROR,
				        G_IO_ERROR_FAILED,
				        "reading %s from %s: the server ran ahead of the reader "
				        "and messages were dropped %u times; gave up after "
				        "%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " messages",
				        subject,
				        r->shown_url,
				        rs.resumes,
				        got,
				        count);
				ok = FALSE;
				break;
			}
			if (natsSubscription_GetDropped(rs.sub, &d) == NATS_OK)
				dropped += d;
			rs.resumes++;
			if (!tldrs_nats_read_resume(r, &rs, subject, last_seq + 1, error)) {
				ok = FALSE;
				break;
			}
			continue;
		}
		if (s != NATS_OK) {
			g_set_error(error,
			            G_IO_ERROR,
			            G_IO_ERROR_TIMED_OUT,
			            "reading %s from %s: %s after %" G_GUINT64_FORMAT
			            " of %" G_GUINT64_FORMAT " messages",
			            subject,
			            r->shown_url,
			            natsStatus_GetText(s),
			            got,
			            count);
			ok = FALSE;
			break;
		}
		if (meta->Sequence.Stream > last_seq) {
			last_seq = meta->Sequence.Stream;
			ok = func(r, msg, error);
			got++;
			/* fewer than counted: some went from the stream meanwhile (checked
			 * below) */
			if (meta->NumPending == 0)
				want = got;
		}
		jsMsgMetaData_Destroy(meta);
		natsMsg_Destroy(msg);
	}
	if (rs.sub != NULL) {
		int64_t d = 0;
		if (natsSubscription_GetDropped(rs.sub, &d) == NATS_OK)
			dropped += d;
		tldrs_nats_read_unsubscribe(rs.sub);
	}
	g_free(rs.consumer);
	if (rs.resumes > 0)
		g_debug("%s: went on %u times after libnats dropped %" G_GINT64_FORMAT " messages",
		        subject,
		        rs.resumes,
		        (gint64)dropped);
	if (ok && got < count)
		ok = tldrs_nats_read_check_count(r, subject, got, count, error);
	return ok;
}

static TldrsNatsHost *
tldrs_nats_read_host(TldrsNatsRead *r, const char *name)
{
	TldrsNatsHost *h = g_hash_table_lookup(r->hosts, name);
	if (h == NULL) {
		h = g_new0(TldrsNatsHost, 1);
		h->name = g_strdup(name);
		h->index = -1;
		h->pids = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
		g_hash_table_insert(r->hosts, h->name, h);
	}
	return h;
}

static gboolean
tldrs_nats_read_clock(TldrsNatsRead *r, natsMsg *msg, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	JsonObject *o;
	TldrsNatsInstance *inst;
	TldrsNatsClockRec rec;
	const char *host;
	const char *id;

	if (!json_parser_load_from_data(
	            parser, natsMsg_GetData(msg), natsMsg_GetDataLength(msg), NULL) ||
	    !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
		g_debug("%s: a clock record that is not JSON, left out", natsMsg_GetSubject(msg));
		return TRUE;
	}
	o = json_node_get_object(json_parser_get_root(parser));
	host = json_object_get_string_member_with_default(o, "host", NULL);
	id = json_object_get_string_member_with_default(o, "instance", NULL);
	if (host == NULL || id == NULL || !json_object_has_member(o, "monotonic_us") ||
	    !json_object_has_member(o, "realtime_us"))
		return TRUE;
	rec.monotonic_us = json_object_get_int_member(o, "monotonic_us");
	rec.offset_us = json_object_get_int_member(o, "realtime_us") - rec.monotonic_us;
	inst = g_hash_table_lookup(r->instances, id);
	if (inst == NULL) {
		inst = g_new0(TldrsNatsInstance, 1);
		inst->host = tldrs_nats_read_host(r, host);
		inst->recs = g_array_new(FALSE, FALSE, sizeof(TldrsNatsClockRec));
		g_hash_table_insert(r->instances, g_strdup(id), inst);
	}
	g_array_append_val(inst->recs, rec);
	(void)error;
	return TRUE;
}

static gint
tldrs_nats_rec_cmp(gconstpointer a, gconstpointer b)
{
	const TldrsNatsClockRec *x = a;
	const TldrsNatsClockRec *y = b;
	return x->monotonic_us < y->monotonic_us ? -1 : x->monotonic_us > y->monotonic_us;
}

/* hosts are numbered by name; the earliest clock record of the first one is the reference
 * of the time line */
static void
tldrs_nats_read_number_hosts(TldrsNatsRead *r)
{
	g_autoptr(GList) names = g_list_sort(g_hash_table_get_keys(r->hosts), (GCompareFunc)strcmp);
	GHashTableIter it;
	gpointer value;
	const TldrsNatsClockRec *ref = NULL;

	for (GList *l = names; l != NULL; l = l->next) {
		TldrsNatsHost *h = g_hash_table_lookup(r->hosts, l->data);
		h->index = r->next_host_index++;
	}
	g_hash_table_iter_init(&it, r->instances);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		TldrsNatsInstance *inst = value;
		const TldrsNatsClockRec *first;
		g_array_sort(inst->recs, tldrs_nats_rec_cmp);
		first = &g_array_index(inst->recs, TldrsNatsClockRec, 0);
		if (inst->host->index == 0 &&
		    (ref == NULL || first->monotonic_us < ref->monotonic_us))
			ref = first;
	}
	r->ref_offset_us = ref != NULL ? ref->offset_us : 0;
}

/* the clock offset of @inst nearest to @ts */
static gint64
tldrs_nats_instance_offset(TldrsNatsInstance *inst, gint64 ts)
{
	guint lo = 0;
	guint hi = inst->recs->len;
	while (hi - lo > 1) {
		guint mid = lo + (hi - lo) / 2;
		if (g_array_index(inst->recs, TldrsNatsClockRec, mid).monotonic_us <= ts)
			lo = mid;
		else
			hi = mid;
	}
	if (lo + 1 < inst->recs->len) {
		const TldrsNatsClockRec *a = &g_array_index(inst->recs, TldrsNatsClockRec, lo);
		const TldrsNatsClockRec *b = &g_array_index(inst->recs, TldrsNatsClockRec, lo + 1);
		if (b->monotonic_us - ts < ts - a->monotonic_us)
			return b->offset_us;
	}
	return g_array_index(inst->recs, TldrsNatsClockRec, lo).offset_us;
}

static gboolean
tldrs_nats_read_flush(TldrsNatsRead *r, gsize keep, GError **error)
{
	gsize off = 0;
	if (r->out->len <= keep)
		return TRUE;
	while (off < r->out->len) {
		ssize_t n = write(r->out_fd, r->out->str + off, r->out->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int errsv = errno;
			g_set_error(error,
			            G_IO_ERROR,
			            g_io_error_from_errno(errsv),
			            "cannot write the events read from NATS: %s",
			            g_strerror(errsv));
			return FALSE;
		}
		off += (gsize)n;
	}
	g_string_truncate(r->out, 0);
	return TRUE;
}

/* The members of an event line that get-tef --nats rewrites, found without building a tree:
 * the spans of the values of the top-level keys "ts", "pid" and "tid" (several if a key is
 * repeated). Whatever the scan does not understand makes the line bad; the TEF writer checks
 * every line it is given again anyway. */

#define TLDRS_NATS_MAX_SPANS 8

typedef enum {
	TLDRS_NATS_MEMBER_TS,
	TLDRS_NATS_MEMBER_PID,
	TLDRS_NATS_MEMBER_TID,
} TldrsNatsMember;

typedef struct {
	TldrsNatsMember member;
	const char *start;
	const char *end;
} TldrsNatsSpan;

static const char *
tldrs_nats_skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* past the string that starts at @p (a '"'), or NULL */
static const char *
tldrs_nats_skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* past the value that starts at @p, or NULL */
static const char *
tldrs_nats_skip_value(const char *p, const char *end)
{
	guint depth = 0;
	if (p >= end)
		return NULL;
	if (*p == '"')
		return tldrs_nats_skip_string(p, end);
	if (*p != '{' && *p != '[') {
		while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
		       *p != '\r' && *p != '\n')
			p++;
		return p;
	}
	for (; p < end; p++) {
		if (*p == '"') {
			p = tldrs_nats_skip_string(p, end);
			if (p == NULL)
				return NULL;
			p--;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if ((*p == '}' || *p == ']') && --depth == 0) {
			return p + 1;
		}
	}
	return NULL;
}

static gboolean
tldrs_nats_scan_event(const char *line, gsize len, TldrsNatsSpan *spans, guint *n_spans)
{
	const char *end = line + len;
	const char *p = tldrs_nats_skip_ws(line, end);

	*n_spans = 0;
	if (p >= end || *p != '{')
		return FALSE;
	p = tldrs_nats_skip_ws(p + 1, end);
	if (p < end && *p == '}')
		return TRUE;
	while (p < end) {
		const char *key = p;
		const char *key_end;
		const char *value;
		if (*p != '"' || (p = tldrs_nats_skip_string(p, end)) == NULL)
			return FALSE;
		key_end = p;
		p = tldrs_nats_skip_ws(p, end);
		if (p >= end || *p != ':')
			return FALSE;
		value = tldrs_nats_skip_ws(p + 1, end);
		p = tldrs_nats_skip_value(value, end);
		if (p == NULL || p == value)
			return FALSE;
		if (*n_spans < TLDRS_NATS_MAX_SPANS) {
			gsize klen = (gsize)(key_end - key);
			TldrsNatsSpan *s = &spans[*n_spans];
			s->start = value;
			s->end = p;
			if (klen == 4 && memcmp(key, "\"ts\"", 4) == 0) {
				s->member = TLDRS_NATS_MEMBER_TS;
				(*n_spans)++;
			} else if (klen == 5 && memcmp(key, "\"pid\"", 5) == 0) {
				s->member = TLDRS_NATS_MEMBER_PID;
				(*n_spans)++;
			} else if (klen == 5 && memcmp(key, "\"tid\"", 5) == 0) {
				s->member = TLDRS_NATS_MEMBER_TID;
				(*n_spans)++;
			}
		}
		p = tldrs_nats_skip_ws(p, end);
		if (p < end && *p == '}')
			return tldrs_nats_skip_ws(p + 1, end) == end;
		if (p >= end || *p != ',')
			return FALSE;
		p = tldrs_nats_skip_ws(p + 1, end);
	}
	return FALSE;
}

/* a JSON integer (no fraction, no exponent) in [start, end) */
static gboolean
tldrs_nats_parse_int(const char *start, const char *end, gint64 *out)
{
	char buf[32];
	char *stop = NULL;
	gsize n = (gsize)(end - start);
	if (n == 0 || n >= sizeof(buf) || memchr(start, '.', n) != NULL ||
	    memchr(start, 'e', n) != NULL || memchr(start, 'E', n) != NULL)
		return FALSE;
	memcpy(buf, start, n);
	buf[n] = '\0';
	*out = g_ascii_strtoll(buf, &stop, 10);
	return stop == buf + n && (g_ascii_isdigit(buf[0]) || buf[0] == '-');
}

/* the first time a process of host @h shows up: a process_labels record naming the host */
static void
tldrs_nats_read_label(TldrsNatsRead *r, TldrsNatsHost *h, gint64 pid)
{
	if (g_hash_table_contains(h->pids, &pid))
		return;
	g_hash_table_add(h->pids, g_memdup2(&pid, sizeof(pid)));
	g_string_append_printf(r->out,
	                       "{\"name\":\"process_labels\",\"ph\":\"M\",\"pid\":%" G_GINT64_FORMAT
	                       ",\"args\":{\"labels\":\"host ",
	                       (h->index << TLDRS_NATS_PID_SHIFT) + pid);
	/* a host name is valid UTF-8 (the sink checks it): only quotes, backslashes and
	 * control characters need escaping */
	for (const guchar *c = (const guchar *)h->name; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			g_string_append_printf(r->out, "\\%c", *c);
		else if (*c < 0x20)
			g_string_append_printf(r->out, "\\u%04x", *c);
		else
			g_string_append_c(r->out, (char)*c);
	}
	g_string_append(r->out, "\"}}\n");
}

static void
tldrs_nats_read_line(TldrsNatsRead *r,
                     TldrsNatsHost *h,
                     TldrsNatsInstance *inst,
                     const char *line,
                     gsize len)
{
	TldrsNatsSpan spans[TLDRS_NATS_MAX_SPANS];
	guint n_spans = 0;
	const char *copied = line;
	gboolean has_ts = FALSE;

	if (!tldrs_nats_scan_event(line, len, spans, &n_spans)) {
		r->stats.bad_lines++;
		return;
	}
	for (guint i = 0; i < n_spans; i++) {
		gint64 pid;
		if (spans[i].member == TLDRS_NATS_MEMBER_PID &&
		    tldrs_nats_parse_int(spans[i].start, spans[i].end, &pid))
			tldrs_nats_read_label(r, h, pid);
	}
	for (guint i = 0; i < n_spans; i++) {
		const TldrsNatsSpan *s = &spans[i];
		gint64 v;
		g_string_append_len(r->out, copied, s->start - copied);
		copied = s->end;
		if (s->member != TLDRS_NATS_MEMBER_TS) {
			/* every other host's pids and tids out of the way */
			if (h->index != 0 && tldrs_nats_parse_int(s->start, s->end, &v))
				g_string_append_printf(r->out,
				                       "%" G_GINT64_FORMAT,
				                       (h->index << TLDRS_NATS_PID_SHIFT) + v);
			else
				g_string_append_len(r->out, s->start, s->end - s->start);
			continue;
		}
		has_ts = TRUE;
		if (inst == NULL) {
			g_string_append_len(r->out, s->start, s->end - s->start);
		} else if (tldrs_nats_parse_int(s->start, s->end, &v)) {
			v += tldrs_nats_instance_offset(inst, v) - r->ref_offset_us;
			g_string_append_printf(r->out, "%" G_GINT64_FORMAT, v);
		} else {
			g_autofree char *num = g_strndup(s->start, (gsize)(s->end - s->start));
			char *stop = NULL;
			char buf[G_ASCII_DTOSTR_BUF_SIZE];
			double d = g_ascii_strtod(num, &stop);
			if (stop == NULL || *stop != '\0' || num[0] == '"') {
				g_string_append(r->out, num); /* not a number: left as it is */
				continue;
			}
			d += (double)(tldrs_nats_instance_offset(inst, (gint64)d) -
			              r->ref_offset_us);
			g_string_append(r->out, g_ascii_dtostr(buf, sizeof(buf), d));
		}
	}
	g_string_append_len(r->out, copied, line + len - copied);
	g_string_append_c(r->out, '\n');
	if (has_ts && inst == NULL)
		r->stats.unaligned++;
	r->stats.events++;
}

static gboolean
tldrs_nats_read_events(TldrsNatsRead *r, natsMsg *msg, GError **error)
{
	const char *host = NULL;
	const char *id = NULL;
	const char *data = natsMsg_GetData(msg);
	gsize len = (gsize)natsMsg_GetDataLength(msg);
	TldrsNatsHost *h;
	TldrsNatsInstance *inst = NULL;

	if (natsMsgHeader_Get(msg, TLDRS_NATS_HEADER_HOST, &host) != NATS_OK)
		host = "?";
	if (natsMsgHeader_Get(msg, TLDRS_NATS_HEADER_INSTANCE, &id) == NATS_OK)
		inst = g_hash_table_lookup(r->instances, id);
	h = tldrs_nats_read_host(r, host);
	if (h->index < 0)
		h->index = r->next_host_index++; /* a host without a clock record */
	for (const char *p = data; p < data + len;) {
		const char *nl = memchr(p, '\n', (gsize)(data + len - p));
		const char *end = nl != NULL ? nl : data + len;
		if (end > p)
			tldrs_nats_read_line(r, h, inst, p, (gsize)(end - p));
		p = end + 1;
	}
	return tldrs_nats_read_flush(r, 1 << 20, error);
}

static void
tldrs_nats_read_init(TldrsNatsRead *r, const char *url, const char *stream)
{
	memset(r, 0, sizeof(*r));
	r->url = url;
	r->shown_url = tldrs_nats_url_shown(url);
	r->stream = stream != NULL ? stream : TLDRS_NATS_DEFAULT_STREAM;
	r->hosts = g_hash_table_new_full(
	        g_str_hash, g_str_equal, NULL, (GDestroyNotify)tldrs_nats_host_free);
	r->instances = g_hash_table_new_full(
	        g_str_hash, g_str_equal, g_free, (GDestroyNotify)tldrs_nats_instance_free);
	r->out = g_string_sized_new(2 << 20);
}

static gint
tldrs_nats_id_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
tldrs_nats_module_list_traces(const char *url, const char *stream, GError **error)
{
	TldrsNatsRead r;
	g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
	jsStreamInfo *si;
	jsStreamStateSubjects *list;

	tldrs_nats_read_init(&r, url, stream);
	if (!tldrs_nats_read_connect(&r, error)) {
		tldrs_nats_read_clear(&r);
		return NULL;
	}
	si = tldrs_nats_read_subjects(&r, TLDRS_NATS_EVENTS_PREFIX "*", error);
	if (si == NULL) {
		tldrs_nats_read_clear(&r);
		return NULL;
	}
	list = si->State.Subjects;
	for (int i = 0; list != NULL && i < list->Count; i++) {
		char *id = tldrs_nats_token_decode(list->List[i].Subject +
		                                   strlen(TLDRS_NATS_EVENTS_PREFIX));
		if (id != NULL)
			g_ptr_array_add(ids, id);
	}
	jsStreamInfo_Destroy(si);
	tldrs_nats_read_clear(&r);
	g_ptr_array_sort(ids, tldrs_nats_id_cmp);
	return g_steal_pointer(&ids);
}

gboolean
tldrs_nats_module_read_trace(const char *url,
                             const char *stream,
                             const char *trace_id,
                             int out_fd,
                             TldrsNatsReadStats *stats,
                             GError **error)
{
	TldrsNatsRead r;
	g_autofree char *token = tldrs_nats_token_encode(trace_id);
	g_autofree char *filter = g_strconcat("tldrs.*.", token, NULL);
	g_autofree char *events = g_strconcat(TLDRS_NATS_EVENTS_PREFIX, token, NULL);
	g_autofree char *clocks = g_strconcat(TLDRS_NATS_CLOCK_PREFIX, token, NULL);
	guint64 n_events;
	guint64 n_clocks;
	jsStreamInfo *si;
	gboolean ok;

	tldrs_nats_read_init(&r, url, stream);
	r.out_fd = out_fd;
	if (!tldrs_nats_read_connect(&r, error)) {
		tldrs_nats_read_clear(&r);
		return FALSE;
	}
	si = tldrs_nats_read_subjects(&r, filter, error);
	if (si == NULL) {
		tldrs_nats_read_clear(&r);
		return FALSE;
	}
	n_events = tldrs_nats_subject_count(si, events);
	n_clocks = tldrs_nats_subject_count(si, clocks);
	jsStreamInfo_Destroy(si);
	if (n_events == 0 && n_clocks == 0) {
		g_set_error(error,
		            G_IO_ERROR,
		            G_IO_ERROR_NOT_FOUND,
		            "no trace %s in stream %s at %s",
		            trace_id,
		            r.stream,
		            r.shown_url);
		tldrs_nats_read_clear(&r);
		return FALSE;
	}
	ok = tldrs_nats_read_subject(&r, clocks, n_clocks, tldrs_nats_read_clock, error);
	if (ok) {
		tldrs_nats_read_number_hosts(&r);
		ok = tldrs_nats_read_subject(&r, events, n_events, tldrs_nats_read_events, error) &&
		     tldrs_nats_read_flush(&r, 0, error);
	}
	r.stats.hosts = g_hash_table_size(r.hosts);
	if (stats != NULL)
		*stats = r.stats;
	tldrs_nats_read_clear(&r);
	return ok;
}

gboolean
tldrs_nats_module_check_url(const char *url, GError **error)
{
	if (tldrs_nats_check_url(url, error))
		return TRUE;
	g_prefix_error(error, "nats: ");
	return FALSE;
}

/* a process that is done with NATS: libnats' threads and memory go (not in the daemon,
 * whose nats sink uses the same library) */
void
tldrs_nats_module_shutdown(void)
{
	nats_Close();
}
