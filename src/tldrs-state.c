/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "tldrs-state.h"

#define TLDRS_STATE_FILE        ".tldrs-state.json"
#define TLDRS_STATE_MAX_ENTRIES 10000
#define TLDRS_STATE_MAX_BYTES   (16 * 1024 * 1024)

typedef struct {
	TldrsTraceStatus status;
	guint64 refused_before; /* refused lines of earlier runs */
	guint64 dropped_before; /* dropped events of earlier runs */
	gboolean has_checked;
	TldrsCheckedFile checked; /* the record last written for its .jsonl */
} TldrsStateEntry;

struct _TldrsState {
	char *data_dir;
	gboolean enabled;
	gboolean dirty;
	gboolean unsettled;         /* a record waits for the clock to move on */
	TldrsChecked *checked;      /* what the daemon vouches for, or NULL */
	guint64 vouched_generation; /* of the records saved last */
	GHashTable *entries;        /* id -> TldrsStateEntry */
};

/* the state file of @data_dir, for trust: only one that this user owns and only this user
 * can write (the daemon writes it 0600), not through a symbolic link */
static JsonParser *
tldrs_state_parse_trusted(const char *data_dir)
{
	g_autofree char *fn = g_build_filename(data_dir, TLDRS_STATE_FILE, NULL);
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autofree char *data = NULL;
	gsize len = 0;
	GStatBuf st;
	int fd = g_open(fn, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 || st.st_size > TLDRS_STATE_MAX_BYTES) {
		close(fd);
		return NULL;
	}
	data = g_malloc((gsize)st.st_size + 1);
	while (len < (gsize)st.st_size) {
		ssize_t n = read(fd, data + len, (gsize)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (gsize)n;
	}
	close(fd);
	if (!json_parser_load_from_data(parser, data, (gssize)len, NULL))
		return NULL;
	return g_steal_pointer(&parser);
}

static JsonObject *
tldrs_state_traces_of(JsonParser *parser)
{
	JsonNode *root = json_parser_get_root(parser);
	JsonNode *traces;
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return NULL;
	traces = json_object_get_member(json_node_get_object(root), "traces");
	if (traces == NULL || !JSON_NODE_HOLDS_OBJECT(traces))
		return NULL;
	return json_node_get_object(traces);
}

/* the "checked" record of a trace's entry */
static gboolean
tldrs_state_parse_checked(JsonObject *entry, TldrsCheckedFile *file)
{
	static const char *const names[] = {"size", "dev", "ino", "mtimeNs", "ctimeNs"};
	gint64 v[G_N_ELEMENTS(names)];
	JsonNode *node = json_object_get_member(entry, "checked");
	JsonObject *o;

	if (node == NULL || !JSON_NODE_HOLDS_OBJECT(node))
		return FALSE;
	o = json_node_get_object(node);
	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		JsonNode *m = json_object_get_member(o, names[i]);
		if (m == NULL || !JSON_NODE_HOLDS_VALUE(m) ||
		    json_node_get_value_type(m) != G_TYPE_INT64)
			return FALSE;
		v[i] = json_node_get_int(m);
	}
	if (v[0] < 0)
		return FALSE;
	file->size = (guint64)v[0];
	file->dev = (guint64)v[1];
	file->ino = (guint64)v[2];
	file->mtime_ns = v[3];
	file->ctime_ns = v[4];
	return TRUE;
}

/**
 * tldrs_state_lookup_record:
 * @path: a stored trace file, `<id>.jsonl`
 * @st: its fstat()
 * @rec: (out): the identity the state file beside it records for it
 *
 * The "checked" record that the daemon of @path's data directory saved for the trace, if
 * the file and the state file are this user's (see tldrs_checked_lookup()).
 */
gboolean
tldrs_state_lookup_record(const char *path, const GStatBuf *st, TldrsCheckedFile *rec)
{
	g_autofree char *dir = NULL;
	g_autofree char *base = NULL;
	g_autofree char *id = NULL;
	g_autoptr(JsonParser) parser = NULL;
	JsonObject *traces;
	JsonNode *entry;

	g_return_val_if_fail(path != NULL && st != NULL, FALSE);
	base = g_path_get_basename(path);
	if (!g_str_has_suffix(base, ".jsonl") || st->st_uid != geteuid())
		return FALSE;
	id = g_strndup(base, strlen(base) - strlen(".jsonl"));
	dir = g_path_get_dirname(path);
	parser = tldrs_state_parse_trusted(dir);
	traces = parser != NULL ? tldrs_state_traces_of(parser) : NULL;
	entry = traces != NULL ? json_object_get_member(traces, id) : NULL;
	return entry != NULL && JSON_NODE_HOLDS_OBJECT(entry) &&
	       tldrs_state_parse_checked(json_node_get_object(entry), rec);
}

/* ---- the state file ---- */

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
		st->dropped = (guint64)json_object_get_int_member_with_default(o, "dropped", 0);
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

static guint64
tldrs_state_checked_generation(TldrsState *self)
{
	return self->checked != NULL ? tldrs_checked_get_generation(self->checked) : 0;
}

/* the records of the last run: files unchanged since then are still vouched for */
static void
tldrs_state_load_checked(TldrsState *self)
{
	g_autoptr(JsonParser) parser = tldrs_state_parse_trusted(self->data_dir);
	JsonObject *traces = parser != NULL ? tldrs_state_traces_of(parser) : NULL;
	g_autoptr(GList) members = traces != NULL ? json_object_get_members(traces) : NULL;

	for (GList *l = members; l != NULL; l = l->next) {
		JsonNode *node = json_object_get_member(traces, l->data);
		TldrsStateEntry *e = g_hash_table_lookup(self->entries, l->data);
		g_autofree char *base = NULL;
		g_autofree char *fn = NULL;
		if (e == NULL || !JSON_NODE_HOLDS_OBJECT(node) ||
		    !tldrs_state_parse_checked(json_node_get_object(node), &e->checked))
			continue;
		e->has_checked = TRUE;
		base = g_strconcat(l->data, ".jsonl", NULL);
		fn = g_build_filename(self->data_dir, base, NULL);
		if (self->checked != NULL)
			tldrs_checked_vouch(self->checked, fn, &e->checked);
	}
}

/**
 * tldrs_state_new:
 * @checked: (nullable): what the daemon vouches for: loaded from the last run's records,
 *   saved as this run's
 */
TldrsState *
tldrs_state_new(const char *data_dir, gboolean enabled, TldrsChecked *checked)
{
	TldrsState *self = g_new0(TldrsState, 1);
	self->data_dir = g_strdup(data_dir);
	self->checked = checked != NULL ? tldrs_checked_ref(checked) : NULL;
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
			e->dropped_before = e->status.dropped;
			g_hash_table_insert(self->entries, g_strdup(key), e);
		}
		tldrs_state_load_checked(self);
	}
	self->vouched_generation = tldrs_state_checked_generation(self);
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
	e->dropped_before = e->status.dropped;
	e->status.events = 0;
	self->dirty = TRUE;
}

void
tldrs_state_trace_update(TldrsState *self,
                         const char *id,
                         guint clients,
                         guint64 events,
                         guint64 refused,
                         guint64 dropped,
                         gint64 last_write)
{
	TldrsStateEntry *e = tldrs_state_entry(self, id);
	TldrsTraceStatus st = {clients,
	                       events,
	                       e->refused_before + refused,
	                       last_write,
	                       e->dropped_before + dropped};
	if (st.last_write == 0)
		st.last_write = e->status.last_write;
	if (st.clients == e->status.clients && st.events == e->status.events &&
	    st.refused == e->status.refused && st.last_write == e->status.last_write &&
	    st.dropped == e->status.dropped)
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

/* Not g_file_set_contents_full(): its atomic replacement (CONSISTENT) fsync()s, on the main
 * loop, and without it (NONE) it rewrites the file in place, so a reader could see half of
 * it. The fsync was measured and removed (docs/performance.md, "Findings"). */
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

/* the record to save for trace @id: what this process vouches for, once the clock has moved
 * past it (the file then shows any later change) */
static gboolean
tldrs_state_entry_checked(TldrsState *self, const char *id, TldrsStateEntry *e)
{
	g_autofree char *base = g_strconcat(id, ".jsonl", NULL);
	g_autofree char *fn = g_build_filename(self->data_dir, base, NULL);
	TldrsCheckedFile rec, now;
	GStatBuf st;

	if (self->checked == NULL || !tldrs_checked_get(self->checked, fn, &rec))
		return FALSE;
	if (e->has_checked && tldrs_checked_file_equal(&e->checked, &rec))
		return TRUE;
	/* not the same: being written now, a later save has it */
	if (g_stat(fn, &st) != 0)
		return FALSE;
	tldrs_checked_file_from_stat(&now, &st);
	if (!tldrs_checked_file_equal(&now, &rec))
		return FALSE;
	if (!tldrs_checked_file_settled(&rec)) {
		self->unsettled = TRUE;
		return FALSE;
	}
	e->checked = rec;
	e->has_checked = TRUE;
	return TRUE;
}

static void
tldrs_state_build_checked(JsonBuilder *b, const TldrsCheckedFile *file)
{
	json_builder_set_member_name(b, "checked");
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "size");
	json_builder_add_int_value(b, (gint64)file->size);
	json_builder_set_member_name(b, "dev");
	json_builder_add_int_value(b, (gint64)file->dev);
	json_builder_set_member_name(b, "ino");
	json_builder_add_int_value(b, (gint64)file->ino);
	json_builder_set_member_name(b, "mtimeNs");
	json_builder_add_int_value(b, file->mtime_ns);
	json_builder_set_member_name(b, "ctimeNs");
	json_builder_add_int_value(b, file->ctime_ns);
	json_builder_end_object(b);
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

	guint64 generation;

	if (self == NULL || !self->enabled)
		return;
	generation = tldrs_state_checked_generation(self);
	if (!self->dirty && !self->unsettled && generation == self->vouched_generation)
		return;
	self->unsettled = FALSE;
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
		json_builder_set_member_name(b, "dropped");
		json_builder_add_int_value(b, (gint64)e->status.dropped);
		json_builder_set_member_name(b, "lastWrite");
		json_builder_add_int_value(b, e->status.last_write);
		if (tldrs_state_entry_checked(self, key, e))
			tldrs_state_build_checked(b, &e->checked);
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
	self->vouched_generation = generation;
}

void
tldrs_state_free(TldrsState *self)
{
	if (self == NULL)
		return;
	/* the daemon is exiting: a file written in the last moment gets its record once the clock
	 * has moved on, a few milliseconds */
	for (guint i = 0; self->enabled && self->unsettled && i < 50; i++) {
		g_usleep(2000);
		tldrs_state_save(self);
	}
	g_hash_table_unref(self->entries);
	g_clear_pointer(&self->checked, tldrs_checked_unref);
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
