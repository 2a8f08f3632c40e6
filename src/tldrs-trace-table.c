/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include "tldrs-error.h"
#include "tldrs-store.h"
#include "tldrs-trace-table.h"

/* The open traces, by id: a trace is opened by its first client and closed a moment
 * (TLDRS_TRACE_TABLE_CLOSE_DELAY_MS) after its last one left, unless another client opened it
 * meanwhile. A trace whose events a sink could not store yet (a full disk) is not closed: it
 * is held, retried at every flush, and closed once they are stored, or given up when the
 * daemon stops; a client may open it again meanwhile. Their account for `list -l` (the state
 * file) is kept here, and the D-Bus views of a trace are built here. Under
 * `serve --into-file` there is one trace, closed only when given up. What happens when a trace is
 * done (its TEF files, retention) is up to whoever listens to "trace-finished". */

struct _TldrsTraceTable {
	GObject parent_instance;
	GPtrArray *sinks; /* of TldrsSink, the daemon's */
	TldrsChecked *checked;
	char *data_dir;
	GHashTable *traces; /* id -> TldrsTrace, the open traces */
	TldrsTrace *into_trace;
	GPtrArray *closing; /* TldrsTrace whose last client left */
	guint closing_id;
	gboolean closing_at_once;
	GPtrArray *held;    /* TldrsTrace whose last client left before all was stored */
	gboolean giving_up; /* the daemon stops: a trace closes whatever is not stored */
	guint max_traces;
	TldrsState *state;
	guint state_save_id;
	GHashTable *event_counts; /* "path\nsize\nmtime" -> guint64 */
};

G_DEFINE_TYPE(TldrsTraceTable, tldrs_trace_table, G_TYPE_OBJECT)

enum {
	SIGNAL_TRACE_OPENED,
	SIGNAL_TRACE_CLOSED,
	SIGNAL_TRACE_FINISHED,
	SIGNAL_LAST,
};

static guint tldrs_trace_table_signals[SIGNAL_LAST] = {0};

static gboolean
tldrs_trace_table_state_save_cb(gpointer user_data)
{
	TldrsTraceTable *self = TLDRS_TRACE_TABLE(user_data);
	self->state_save_id = 0;
	tldrs_state_save(self->state);
	return G_SOURCE_REMOVE;
}

/* traces opened or closed: tell `list -l` soon, once for a burst */
static void
tldrs_trace_table_schedule_state_save(TldrsTraceTable *self)
{
	if (self->state_save_id == 0)
		self->state_save_id = g_timeout_add(100, tldrs_trace_table_state_save_cb, self);
}

static void
tldrs_trace_table_update_state(TldrsTraceTable *self, TldrsTrace *trace, guint clients)
{
	tldrs_state_trace_update(self->state,
	                         tldrs_trace_get_id(trace),
	                         clients,
	                         tldrs_trace_get_events(trace),
	                         tldrs_trace_get_refused(trace),
	                         tldrs_trace_get_dropped(trace),
	                         tldrs_trace_get_last_write(trace));
}

static void
tldrs_trace_table_update_all(TldrsTraceTable *self)
{
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, self->traces);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		TldrsTrace *trace = value;
		tldrs_trace_table_update_state(self, trace, tldrs_trace_get_clients(trace));
	}
}

/* the last client of @trace is gone: store everything, close it, and say so */
static void
tldrs_trace_table_finish(TldrsTraceTable *self, TldrsTrace *trace)
{
	g_autoptr(TldrsTrace) keep G_GNUC_UNUSED = g_object_ref(trace);
	g_autoptr(GPtrArray) paths = NULL;
	g_autofree char *source = NULL;
	g_autofree char *id = g_strdup(tldrs_trace_get_id(trace));

	tldrs_trace_flush(trace, TRUE);
	if (!tldrs_trace_is_stored(trace) && !self->giving_up) {
		/* not done until a sink's kept events are out: held, retried at every flush */
		tldrs_trace_table_update_state(self, trace, 0);
		tldrs_trace_table_schedule_state_save(self);
		if (!g_ptr_array_find(self->held, trace, NULL)) {
			g_ptr_array_add(self->held, g_object_ref(trace));
			/* while the daemon stops, it is given up after a last try */
			if (!self->closing_at_once)
				g_message("trace %s: last client gone, events not stored yet: held "
				          "and retried at every flush, finished once stored",
				          id);
		}
		return;
	}
	g_ptr_array_remove(self->held, trace);
	source = tldrs_trace_get_stored_file(trace);
	paths = tldrs_trace_steal_exit_paths(trace);
	tldrs_trace_table_update_state(self, trace, 0);
	/* given up as the daemon stops: the --into-file trace too, to say what is lost */
	if (trace == self->into_trace && !tldrs_trace_is_stored(trace))
		tldrs_trace_close(trace);
	if (trace != self->into_trace) {
		tldrs_trace_close(trace);
		g_hash_table_remove(self->traces, id);
		g_info("trace %s closed", id);
		g_signal_emit(self, tldrs_trace_table_signals[SIGNAL_TRACE_CLOSED], 0, id);
	}
	tldrs_trace_table_schedule_state_save(self);
	g_ptr_array_add(paths, NULL);
	g_signal_emit(self,
	              tldrs_trace_table_signals[SIGNAL_TRACE_FINISHED],
	              0,
	              trace,
	              source,
	              (const char *const *)paths->pdata);
}

static gboolean
tldrs_trace_table_closing_cb(gpointer user_data)
{
	TldrsTraceTable *self = TLDRS_TRACE_TABLE(user_data);
	g_autoptr(GPtrArray) closing = g_steal_pointer(&self->closing);

	self->closing = g_ptr_array_new_with_free_func(g_object_unref);
	self->closing_id = 0;
	for (guint i = 0; i < closing->len; i++) {
		TldrsTrace *trace = g_ptr_array_index(closing, i);
		/* another client opened it meanwhile */
		if (tldrs_trace_get_clients(trace) == 0 && !tldrs_trace_is_closed(trace))
			tldrs_trace_table_finish(self, trace);
	}
	return G_SOURCE_REMOVE;
}

/* close the traces whose last client has left, without waiting */
void
tldrs_trace_table_close_pending(TldrsTraceTable *self)
{
	g_return_if_fail(TLDRS_IS_TRACE_TABLE(self));
	g_clear_handle_id(&self->closing_id, g_source_remove);
	tldrs_trace_table_closing_cb(self);
}

/* open traces at once (each holds files); 0: no limit beyond 65536 */
void
tldrs_trace_table_set_max_traces(TldrsTraceTable *self, guint max_traces)
{
	g_return_if_fail(TLDRS_IS_TRACE_TABLE(self));
	self->max_traces = max_traces;
}

/* shutting down: a trace whose last client left closes at once */
void
tldrs_trace_table_set_closing_at_once(TldrsTraceTable *self, gboolean at_once)
{
	g_return_if_fail(TLDRS_IS_TRACE_TABLE(self));
	self->closing_at_once = at_once;
}

/* the trace @id, with one more client; NULL when too many traces are open */
TldrsTrace *
tldrs_trace_table_acquire(TldrsTraceTable *self, const char *id)
{
	guint max = self->max_traces > 0 ? self->max_traces : 65536;
	TldrsTrace *trace;

	g_return_val_if_fail(TLDRS_IS_TRACE_TABLE(self), NULL);
	if (self->into_trace != NULL) {
		g_ptr_array_remove(self->held, self->into_trace);
		tldrs_trace_add_client(self->into_trace);
		return self->into_trace;
	}
	trace = g_hash_table_lookup(self->traces, id);
	/* held until its events are stored: it goes on, after them */
	if (trace != NULL && g_ptr_array_remove(self->held, trace))
		g_info("trace %s opened again before its events were stored", id);
	if (trace == NULL) {
		/* each open trace holds files: a client opening trace after trace must not use
		 * up the file descriptors of everyone else */
		if (g_hash_table_size(self->traces) >= max)
			tldrs_trace_table_close_pending(self);
		if (g_hash_table_size(self->traces) >= max)
			return NULL;
		trace = tldrs_trace_new(id, NULL, self->sinks, self->checked);
		g_hash_table_insert(self->traces, g_strdup(id), trace);
		tldrs_state_trace_opened(self->state, id);
		tldrs_state_trace_update(self->state, id, 1, 0, 0, 0, 0);
		tldrs_trace_table_schedule_state_save(self);
		g_info("trace %s opened", id);
		g_signal_emit(self, tldrs_trace_table_signals[SIGNAL_TRACE_OPENED], 0, id);
	}
	tldrs_trace_add_client(trace);
	return trace;
}

/* a client leaves @trace (a reference from acquire()) */
void
tldrs_trace_table_release(TldrsTraceTable *self, TldrsTrace *trace)
{
	g_return_if_fail(TLDRS_IS_TRACE_TABLE(self));
	g_return_if_fail(TLDRS_IS_TRACE(trace));
	if (tldrs_trace_remove_client(trace) > 0)
		return;
	if (self->closing_at_once) {
		tldrs_trace_table_finish(self, trace);
		return;
	}
	/* not at once: connections that are readable now may still OPEN this trace (a child
	 * that connected before its parent left); a short timeout lets them be read first, and
	 * unlike an idle callback it also runs while other clients keep the daemon busy */
	g_ptr_array_add(self->closing, g_object_ref(trace));
	if (self->closing_id == 0)
		self->closing_id = g_timeout_add(
		        TLDRS_TRACE_TABLE_CLOSE_DELAY_MS, tldrs_trace_table_closing_cb, self);
}

/* the held traces try again (with a flush that waits for the sinks); those whose events are
 * all stored now are finished */
static void
tldrs_trace_table_retry_held(TldrsTraceTable *self)
{
	g_autoptr(GPtrArray) held = NULL;

	if (self->held->len == 0)
		return;
	held = g_ptr_array_new_with_free_func(g_object_unref);
	for (guint i = 0; i < self->held->len; i++)
		g_ptr_array_add(held, g_object_ref(g_ptr_array_index(self->held, i)));
	for (guint i = 0; i < held->len; i++) {
		TldrsTrace *trace = g_ptr_array_index(held, i);
		tldrs_trace_flush(trace, TRUE);
		if (tldrs_trace_is_stored(trace) && tldrs_trace_get_clients(trace) == 0 &&
		    g_ptr_array_find(self->held, trace, NULL))
			tldrs_trace_table_finish(self, trace);
	}
}

/* @wait: every sink has stored everything when this returns (not for the periodic flush) */
void
tldrs_trace_table_flush_all(TldrsTraceTable *self, gboolean wait)
{
	GHashTableIter iter;
	gpointer value;

	g_return_if_fail(TLDRS_IS_TRACE_TABLE(self));
	g_hash_table_iter_init(&iter, self->traces);
	while (g_hash_table_iter_next(&iter, NULL, &value)) {
		TldrsTrace *trace = value;
		if (g_ptr_array_find(self->held, trace, NULL))
			continue;
		if (wait)
			tldrs_trace_flush(trace, TRUE);
		else
			tldrs_trace_flush_periodic(trace);
		tldrs_trace_table_update_state(self, trace, tldrs_trace_get_clients(trace));
	}
	if (self->into_trace != NULL && !g_ptr_array_find(self->held, self->into_trace, NULL))
		tldrs_trace_flush(self->into_trace, wait);
	tldrs_trace_table_retry_held(self);
	tldrs_state_save(self->state);
}

/**
 * tldrs_trace_table_give_up:
 *
 * The daemon stops: every held trace makes a last try and is finished, whatever its sinks
 * could not store (logged per trace, with the bytes lost); so is the --into-file trace.
 * From now on a trace whose last client leaves is finished at once.
 *
 * Returns: how many traces lost events
 */
guint
tldrs_trace_table_give_up(TldrsTraceTable *self)
{
	g_autoptr(GPtrArray) held = NULL;
	guint lost = 0;

	g_return_val_if_fail(TLDRS_IS_TRACE_TABLE(self), 0);
	self->giving_up = TRUE;
	held = g_steal_pointer(&self->held);
	self->held = g_ptr_array_new_with_free_func(g_object_unref);
	for (guint i = 0; i < held->len; i++) {
		TldrsTrace *trace = g_ptr_array_index(held, i);
		if (tldrs_trace_get_clients(trace) == 0 && !tldrs_trace_is_closed(trace))
			tldrs_trace_table_finish(self, trace);
	}
	/* the --into-file trace is closed as the daemon is freed, unless it lost events */
	if (self->into_trace != NULL && !tldrs_trace_is_closed(self->into_trace)) {
		tldrs_trace_flush(self->into_trace, TRUE);
		if (!tldrs_trace_is_stored(self->into_trace))
			tldrs_trace_close(self->into_trace);
	}
	for (guint i = 0; i < held->len; i++) {
		if (tldrs_trace_get_lost(g_ptr_array_index(held, i), NULL))
			lost++;
	}
	if (self->into_trace != NULL && !g_ptr_array_find(held, self->into_trace, NULL) &&
	    tldrs_trace_get_lost(self->into_trace, NULL))
		lost++;
	return lost;
}

void
tldrs_trace_table_save_state(TldrsTraceTable *self)
{
	g_return_if_fail(TLDRS_IS_TRACE_TABLE(self));
	tldrs_state_save(self->state);
}

/* the open trace @id, or NULL */
TldrsTrace *
tldrs_trace_table_lookup(TldrsTraceTable *self, const char *id)
{
	g_return_val_if_fail(TLDRS_IS_TRACE_TABLE(self), NULL);
	return g_hash_table_lookup(self->traces, id);
}

/* open traces (the --into-file trace not counted) */
guint
tldrs_trace_table_get_size(TldrsTraceTable *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE_TABLE(self), 0);
	return g_hash_table_size(self->traces);
}

gboolean
tldrs_trace_table_has_into_file(TldrsTraceTable *self)
{
	g_return_val_if_fail(TLDRS_IS_TRACE_TABLE(self), FALSE);
	return self->into_trace != NULL;
}

/* ---- what the D-Bus interface shows of a trace ---- */

static gint
tldrs_trace_table_cmp_strptr(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

/* events in a stored file, counted once per size and modification time */
static guint64
tldrs_trace_table_count_events(TldrsTraceTable *self, const char *path)
{
	GStatBuf sb;
	g_autofree char *key = NULL;
	gpointer cached;
	guint64 n = 0;

	if (path == NULL || g_stat(path, &sb) != 0)
		return 0;
	key = g_strdup_printf("%s\n%" G_GINT64_FORMAT "\n%" G_GINT64_FORMAT,
	                      path,
	                      (gint64)sb.st_size,
	                      (gint64)sb.st_mtim.tv_sec * G_USEC_PER_SEC +
	                              sb.st_mtim.tv_nsec / 1000);
	if (g_hash_table_lookup_extended(self->event_counts, key, NULL, &cached))
		return *(guint64 *)cached;
	if (!tldrs_store_count_events(path, self->checked, &n, NULL))
		return 0;
	g_hash_table_insert(self->event_counts, g_steal_pointer(&key), g_memdup2(&n, sizeof(n)));
	return n;
}

static GVariant *
tldrs_trace_table_dict(TldrsTraceTable *self, const char *id, TldrsStoredTrace *stored)
{
	TldrsTrace *trace = g_hash_table_lookup(self->traces, id);
	const TldrsTraceStatus *st = tldrs_state_lookup(self->state, id);
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_VARDICT);
	g_auto(GVariantBuilder) files = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE_STRING_ARRAY);
	gint64 last_write = stored != NULL ? stored->mtime : 0;
	guint64 events = 0;

	if (trace != NULL)
		tldrs_trace_flush(trace, FALSE);
	for (guint i = 0; stored != NULL && i < stored->files->len; i++)
		g_variant_builder_add(&files, "s", g_ptr_array_index(stored->files, i));
	if (stored != NULL)
		events = tldrs_trace_table_count_events(self, stored->source);
	if (trace != NULL)
		last_write = MAX(last_write, tldrs_trace_get_last_write(trace));
	g_variant_builder_add(&b, "{sv}", "files", g_variant_builder_end(&files));
	g_variant_builder_add(
	        &b, "{sv}", "bytes", g_variant_new_uint64(stored != NULL ? stored->bytes : 0));
	g_variant_builder_add(&b, "{sv}", "events", g_variant_new_uint64(events));
	g_variant_builder_add(
	        &b, "{sv}", "refused", g_variant_new_uint64(st != NULL ? st->refused : 0));
	g_variant_builder_add(
	        &b, "{sv}", "dropped", g_variant_new_uint64(st != NULL ? st->dropped : 0));
	g_variant_builder_add(
	        &b,
	        "{sv}",
	        "clients",
	        g_variant_new_uint32(trace != NULL ? tldrs_trace_get_clients(trace) : 0));
	/* not while the trace closes, its last client gone: "active" agrees with "clients" */
	g_variant_builder_add(
	        &b,
	        "{sv}",
	        "active",
	        g_variant_new_boolean(trace != NULL && tldrs_trace_get_clients(trace) > 0));
	g_variant_builder_add(&b, "{sv}", "last-write", g_variant_new_int64(last_write));
	return g_variant_builder_end(&b);
}

/* a(sa{sv}): every stored or open trace, sorted by id */
GVariant *
tldrs_trace_table_list(TldrsTraceTable *self)
{
	g_autoptr(GPtrArray) stored = NULL;
	g_autoptr(GPtrArray) ids = g_ptr_array_new();
	g_auto(GVariantBuilder) b = G_VARIANT_BUILDER_INIT(G_VARIANT_TYPE("a(sa{sv})"));
	GHashTableIter iter;
	gpointer key;

	g_return_val_if_fail(TLDRS_IS_TRACE_TABLE(self), NULL);
	stored = tldrs_store_list(self->data_dir, NULL);
	tldrs_trace_table_update_all(self);
	for (guint i = 0; stored != NULL && i < stored->len; i++)
		g_ptr_array_add(ids, ((TldrsStoredTrace *)g_ptr_array_index(stored, i))->id);
	g_hash_table_iter_init(&iter, self->traces);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		if (stored == NULL || tldrs_store_find(stored, key) == NULL)
			g_ptr_array_add(ids, key);
	}
	g_ptr_array_sort(ids, (GCompareFunc)tldrs_trace_table_cmp_strptr);
	for (guint i = 0; i < ids->len; i++) {
		const char *id = g_ptr_array_index(ids, i);
		g_variant_builder_add(
		        &b,
		        "(s@a{sv})",
		        id,
		        tldrs_trace_table_dict(
		                self, id, stored != NULL ? tldrs_store_find(stored, id) : NULL));
	}
	return g_variant_builder_end(&b);
}

/* a{sv} of the stored or open trace @id */
GVariant *
tldrs_trace_table_describe(TldrsTraceTable *self, const char *id, GError **error)
{
	g_autoptr(GPtrArray) stored = NULL;
	TldrsStoredTrace *t;

	g_return_val_if_fail(TLDRS_IS_TRACE_TABLE(self), NULL);
	stored = tldrs_store_list(self->data_dir, NULL);
	t = stored != NULL ? tldrs_store_find(stored, id) : NULL;
	if (t == NULL && g_hash_table_lookup(self->traces, id) == NULL) {
		g_set_error(error, TLDRS_ERROR, TLDRS_ERROR_NO_SUCH_TRACE, "no trace \"%s\"", id);
		return NULL;
	}
	tldrs_trace_table_update_all(self);
	return tldrs_trace_table_dict(self, id, t);
}

static void
tldrs_trace_table_dispose(GObject *object)
{
	TldrsTraceTable *self = TLDRS_TRACE_TABLE(object);
	g_clear_handle_id(&self->closing_id, g_source_remove);
	g_clear_handle_id(&self->state_save_id, g_source_remove);
	g_clear_pointer(&self->closing, g_ptr_array_unref);
	g_clear_pointer(&self->held, g_ptr_array_unref);
	g_clear_pointer(&self->traces, g_hash_table_unref);
	g_clear_object(&self->into_trace);
	g_clear_pointer(&self->sinks, g_ptr_array_unref);
	G_OBJECT_CLASS(tldrs_trace_table_parent_class)->dispose(object);
}

static void
tldrs_trace_table_finalize(GObject *object)
{
	TldrsTraceTable *self = TLDRS_TRACE_TABLE(object);
	g_clear_pointer(&self->state, tldrs_state_free);
	g_clear_pointer(&self->checked, tldrs_checked_unref);
	g_clear_pointer(&self->event_counts, g_hash_table_unref);
	g_free(self->data_dir);
	G_OBJECT_CLASS(tldrs_trace_table_parent_class)->finalize(object);
}

static void
tldrs_trace_table_class_init(TldrsTraceTableClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = tldrs_trace_table_dispose;
	object_class->finalize = tldrs_trace_table_finalize;

	/**
	 * TldrsTraceTable::trace-opened:
	 * @id: a trace that was not open got its first client
	 */
	tldrs_trace_table_signals[SIGNAL_TRACE_OPENED] = g_signal_new("trace-opened",
	                                                              G_TYPE_FROM_CLASS(klass),
	                                                              G_SIGNAL_RUN_LAST,
	                                                              0,
	                                                              NULL,
	                                                              NULL,
	                                                              NULL,
	                                                              G_TYPE_NONE,
	                                                              1,
	                                                              G_TYPE_STRING);
	/**
	 * TldrsTraceTable::trace-closed:
	 * @id: the last client of the trace has gone, its events are stored, it is closed
	 */
	tldrs_trace_table_signals[SIGNAL_TRACE_CLOSED] = g_signal_new("trace-closed",
	                                                              G_TYPE_FROM_CLASS(klass),
	                                                              G_SIGNAL_RUN_LAST,
	                                                              0,
	                                                              NULL,
	                                                              NULL,
	                                                              NULL,
	                                                              G_TYPE_NONE,
	                                                              1,
	                                                              G_TYPE_STRING);
	/**
	 * TldrsTraceTable::trace-finished:
	 * @trace: the trace whose last client has gone (closed, except the --into-file one)
	 * @source: (nullable): the stored file that holds all its events
	 * @exit_paths: its EMIT_TEF_AT_EXIT paths
	 *
	 * After "trace-closed": the moment for what a finished trace asks for.
	 */
	tldrs_trace_table_signals[SIGNAL_TRACE_FINISHED] = g_signal_new("trace-finished",
	                                                                G_TYPE_FROM_CLASS(klass),
	                                                                G_SIGNAL_RUN_LAST,
	                                                                0,
	                                                                NULL,
	                                                                NULL,
	                                                                NULL,
	                                                                G_TYPE_NONE,
	                                                                3,
	                                                                TLDRS_TYPE_TRACE,
	                                                                G_TYPE_STRING,
	                                                                G_TYPE_STRV);
}

static void
tldrs_trace_table_init(TldrsTraceTable *self)
{
	self->traces = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
	self->closing = g_ptr_array_new_with_free_func(g_object_unref);
	self->held = g_ptr_array_new_with_free_func(g_object_unref);
	self->event_counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

/**
 * tldrs_trace_table_new:
 * @sinks: the daemon's sinks, for every trace
 * @checked: what the daemon vouches for
 * @data_dir: where the state file is, and the stored traces
 * @into_file: (nullable): `serve --into-file`: one trace, stored there, and no state file
 */
TldrsTraceTable *
tldrs_trace_table_new(GPtrArray *sinks,
                      TldrsChecked *checked,
                      const char *data_dir,
                      const char *into_file)
{
	TldrsTraceTable *self;
	g_return_val_if_fail(sinks != NULL, NULL);
	g_return_val_if_fail(checked != NULL, NULL);
	self = g_object_new(TLDRS_TYPE_TRACE_TABLE, NULL);
	self->sinks = g_ptr_array_ref(sinks);
	self->checked = tldrs_checked_ref(checked);
	self->data_dir = g_strdup(data_dir);
	self->state = tldrs_state_new(data_dir, into_file == NULL, checked);
	if (into_file != NULL)
		self->into_trace = tldrs_trace_new("into-file", into_file, sinks, NULL);
	return self;
}
