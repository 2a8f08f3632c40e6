/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "tldrs-state.h"

#define TLDRS_STATE_FILE        ".tldrs-state.json"
#define TLDRS_STATE_MAX_ENTRIES 10000

typedef struct {
	TldrsTraceStatus status;
	guint64 refused_before; /* refused lines of earlier runs */
} TldrsStateEntry;

struct _TldrsState {
	char *data_dir;
	gboolean enabled;
	gboolean dirty;
	GHashTable *entries; /* id -> TldrsStateEntry */
};

static GHashTable *
tldrs_state_read(const char *data_dir)
{
	g_autofree char *fn = g_build_filename(data_dir, TLDRS_STATE_FILE, NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	GHashTable *result = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	JsonNode *root;
	JsonObject *traces;
	g_autoptr(GList) members = NULL;

	if (!json_parser_load_from_file(parser, fn, NULL))
		return result;
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return result;
	traces = json_object_get_object_member(json_node_get_object(root), "traces");
	if (traces == NULL)
		return result;
	members = json_object_get_members(traces);
	for (GList *l = members; l != NULL; l = l->next) {
		JsonNode *node = json_object_get_member(traces, l->data);
		JsonObject *o;
		TldrsTraceStatus *st;
		if (!JSON_NODE_HOLDS_OBJECT(node))
			continue;
		o = json_node_get_object(node);
		st = g_new0(TldrsTraceStatus, 1);
		st->clients = (guint)json_object_get_int_member_with_default(o, "clients", 0);
		st->events = (guint64)json_object_get_int_member_with_default(o, "events", 0);
		st->refused = (guint64)json_object_get_int_member_with_default(o, "refused", 0);
		st->last_write = json_object_get_int_member_with_default(o, "lastWrite", 0);
		g_hash_table_insert(result, g_strdup(l->data), st);
	}
	return result;
}

gboolean
tldrs_state_daemon_running(const char *data_dir)
{
	g_autofree char *fn = g_build_filename(data_dir, ".tldrs.lock", NULL);
	int fd = g_open(fn, O_RDONLY | O_CLOEXEC, 0);
	gboolean running = FALSE;
	if (fd < 0)
		return FALSE;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK)
		running = TRUE;
	close(fd);
	return running;
}

/* what `list -l` shows: connected clients only while a daemon holds the data directory */
GHashTable *
tldrs_state_load(const char *data_dir, gboolean *daemon_running)
{
	GHashTable *result = tldrs_state_read(data_dir);
	gboolean running = tldrs_state_daemon_running(data_dir);
	if (!running) {
		GHashTableIter iter;
		gpointer value;
		g_hash_table_iter_init(&iter, result);
		while (g_hash_table_iter_next(&iter, NULL, &value))
			((TldrsTraceStatus *)value)->clients = 0;
	}
	if (daemon_running != NULL)
		*daemon_running = running;
	return result;
}

TldrsState *
tldrs_state_new(const char *data_dir, gboolean enabled)
{
	TldrsState *self = g_new0(TldrsState, 1);
	self->data_dir = g_strdup(data_dir);
	self->enabled = enabled;
	self->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (enabled) {
		g_autoptr(GHashTable) old = tldrs_state_read(data_dir);
		GHashTableIter iter;
		gpointer key, value;
		g_hash_table_iter_init(&iter, old);
		while (g_hash_table_iter_next(&iter, &key, &value)) {
			TldrsStateEntry *e = g_new0(TldrsStateEntry, 1);
			e->status = *(TldrsTraceStatus *)value;
			e->status.clients = 0;
			e->refused_before = e->status.refused;
			g_hash_table_insert(self->entries, g_strdup(key), e);
		}
	}
	return self;
}

static TldrsStateEntry *
tldrs_state_entry(TldrsState *self, const char *id)
{
	TldrsStateEntry *e = g_hash_table_lookup(self->entries, id);
	if (e == NULL) {
		e = g_new0(TldrsStateEntry, 1);
		g_hash_table_insert(self->entries, g_strdup(id), e);
	}
	return e;
}

void
tldrs_state_trace_opened(TldrsState *self, const char *id)
{
	TldrsStateEntry *e = tldrs_state_entry(self, id);
	/* a new run of the trace: its refusals add to the earlier ones */
	e->refused_before = e->status.refused;
	e->status.events = 0;
	self->dirty = TRUE;
}

void
tldrs_state_trace_update(TldrsState *self,
                         const char *id,
                         guint clients,
                         guint64 events,
                         guint64 refused,
                         gint64 last_write)
{
	TldrsStateEntry *e = tldrs_state_entry(self, id);
	TldrsTraceStatus st = {clients, events, e->refused_before + refused, last_write};
	if (st.last_write == 0)
		st.last_write = e->status.last_write;
	if (st.clients == e->status.clients && st.events == e->status.events &&
	    st.refused == e->status.refused && st.last_write == e->status.last_write)
		return;
	e->status = st;
	self->dirty = TRUE;
}

static gboolean
tldrs_state_trace_exists(TldrsState *self, const char *id)
{
	static const char *const suffixes[] = {".jsonl", ".jsonl.gz", ".json"};
	for (guint i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *base = g_strconcat(id, suffixes[i], NULL);
		g_autofree char *fn = g_build_filename(self->data_dir, base, NULL);
		if (g_file_test(fn, G_FILE_TEST_EXISTS))
			return TRUE;
	}
	return FALSE;
}

static gboolean
tldrs_state_write(const char *fn, const char *data, GError **error)
{
	g_autofree char *tmp = g_strconcat(fn, ".XXXXXX", NULL);
	gsize len = strlen(data);
	gsize off = 0;
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		int errsv = errno;
		g_set_error_literal(
		        error, G_FILE_ERROR, g_file_error_from_errno(errsv), g_strerror(errsv));
		return FALSE;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int errsv = errno;
			close(fd);
			g_unlink(tmp);
			g_set_error_literal(error,
			                    G_FILE_ERROR,
			                    g_file_error_from_errno(errsv),
			                    g_strerror(errsv));
			return FALSE;
		}
		off += (gsize)n;
	}
	close(fd);
	if (g_rename(tmp, fn) != 0) {
		int errsv = errno;
		g_unlink(tmp);
		g_set_error_literal(
		        error, G_FILE_ERROR, g_file_error_from_errno(errsv), g_strerror(errsv));
		return FALSE;
	}
	return TRUE;
}

void
tldrs_state_save(TldrsState *self)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *fn = NULL;
	g_autofree char *data = NULL;
	GHashTableIter iter;
	gpointer key, value;
	guint n = 0;

	if (self == NULL || !self->enabled || !self->dirty)
		return;
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "pid");
	json_builder_add_int_value(b, getpid());
	json_builder_set_member_name(b, "traces");
	json_builder_begin_object(b);
	g_hash_table_iter_init(&iter, self->entries);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		TldrsStateEntry *e = value;
		/* forget traces that were deleted; keep the file small */
		if (e->status.clients == 0 &&
		    (n >= TLDRS_STATE_MAX_ENTRIES || !tldrs_state_trace_exists(self, key))) {
			g_hash_table_iter_remove(&iter);
			continue;
		}
		n++;
		json_builder_set_member_name(b, key);
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "clients");
		json_builder_add_int_value(b, e->status.clients);
		json_builder_set_member_name(b, "events");
		json_builder_add_int_value(b, (gint64)e->status.events);
		json_builder_set_member_name(b, "refused");
		json_builder_add_int_value(b, (gint64)e->status.refused);
		json_builder_set_member_name(b, "lastWrite");
		json_builder_add_int_value(b, e->status.last_write);
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	data = json_generator_to_data(gen, NULL);
	fn = g_build_filename(self->data_dir, TLDRS_STATE_FILE, NULL);
	/* a temporary file renamed, no fsync: readers never see half a file, and the main loop
	 * never waits for the disk (a crash loses at most these counters) */
	if (!tldrs_state_write(fn, data, &error)) {
		g_debug("cannot save %s: %s", fn, error->message);
		return;
	}
	self->dirty = FALSE;
}

void
tldrs_state_free(TldrsState *self)
{
	if (self == NULL)
		return;
	g_hash_table_unref(self->entries);
	g_free(self->data_dir);
	g_free(self);
}

/* what the daemon knows of a trace now, or NULL */
const TldrsTraceStatus *
tldrs_state_lookup(TldrsState *self, const char *id)
{
	TldrsStateEntry *e = g_hash_table_lookup(self->entries, id);
	return e != NULL ? &e->status : NULL;
}
