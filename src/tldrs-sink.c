/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include <tldrs/tldrs-sink.h>

G_DEFINE_INTERFACE(TldrsSink, tldrs_sink, G_TYPE_OBJECT)

static void
tldrs_sink_default_init(TldrsSinkInterface *iface)
{
	(void)iface;
}

guint
tldrs_sink_abi_version(void)
{
	return TLDRS_SINK_ABI_VERSION;
}

/**
 * tldrs_sink_type_get_info:
 * @type: a type implementing #TldrsSink
 *
 * Returns: what the sink type says it is, or %NULL if it says nothing
 */
const TldrsSinkInfo *
tldrs_sink_type_get_info(GType type)
{
	gpointer klass;
	TldrsSinkInterface *iface;
	const TldrsSinkInfo *info;

	g_return_val_if_fail(g_type_is_a(type, TLDRS_TYPE_SINK), NULL);
	klass = g_type_class_ref(type);
	iface = g_type_interface_peek(klass, TLDRS_TYPE_SINK);
	info = iface != NULL ? iface->info : NULL;
	/* classes of plugin types stay: their modules are resident */
	g_type_class_unref(klass);
	return info;
}

const TldrsSinkInfo *
tldrs_sink_get_info(TldrsSink *self)
{
	g_return_val_if_fail(TLDRS_IS_SINK(self), NULL);
	return TLDRS_SINK_GET_IFACE(self)->info;
}

gboolean
tldrs_sink_setup(TldrsSink *self, const TldrsSinkSetup *setup, GError **error)
{
	TldrsSinkInterface *iface;
	g_return_val_if_fail(TLDRS_IS_SINK(self), FALSE);
	g_return_val_if_fail(setup != NULL, FALSE);
	iface = TLDRS_SINK_GET_IFACE(self);
	if (iface->setup == NULL)
		return TRUE;
	return iface->setup(self, setup, error);
}

gpointer
tldrs_sink_open_trace(TldrsSink *self, const char *trace_id, const char *file)
{
	g_return_val_if_fail(TLDRS_IS_SINK(self), NULL);
	g_return_val_if_fail(trace_id != NULL, NULL);
	return TLDRS_SINK_GET_IFACE(self)->open_trace(self, trace_id, file);
}

gboolean
tldrs_sink_write(TldrsSink *self, gpointer trace, const char *lines, gsize len, GError **error)
{
	g_return_val_if_fail(TLDRS_IS_SINK(self), FALSE);
	return TLDRS_SINK_GET_IFACE(self)->write(self, trace, lines, len, error);
}

gboolean
tldrs_sink_flush(TldrsSink *self, gpointer trace, GError **error)
{
	TldrsSinkInterface *iface;
	g_return_val_if_fail(TLDRS_IS_SINK(self), FALSE);
	iface = TLDRS_SINK_GET_IFACE(self);
	if (iface->flush == NULL)
		return TRUE;
	return iface->flush(self, trace, error);
}

void
tldrs_sink_close_trace(TldrsSink *self, gpointer trace)
{
	g_return_if_fail(TLDRS_IS_SINK(self));
	TLDRS_SINK_GET_IFACE(self)->close_trace(self, trace);
}

char *
tldrs_sink_stored_file(TldrsSink *self, gpointer trace)
{
	TldrsSinkInterface *iface;
	g_return_val_if_fail(TLDRS_IS_SINK(self), NULL);
	iface = TLDRS_SINK_GET_IFACE(self);
	if (iface->stored_file == NULL)
		return NULL;
	return iface->stored_file(self, trace);
}

gsize
tldrs_sink_backlog(TldrsSink *self)
{
	TldrsSinkInterface *iface;
	g_return_val_if_fail(TLDRS_IS_SINK(self), 0);
	iface = TLDRS_SINK_GET_IFACE(self);
	if (iface->backlog == NULL)
		return 0;
	return iface->backlog(self);
}

guint64
tldrs_sink_dropped(TldrsSink *self, gpointer trace)
{
	TldrsSinkInterface *iface;
	g_return_val_if_fail(TLDRS_IS_SINK(self), 0);
	iface = TLDRS_SINK_GET_IFACE(self);
	if (iface->dropped == NULL)
		return 0;
	return iface->dropped(self, trace);
}

void
tldrs_sink_shutdown(TldrsSink *self)
{
	TldrsSinkInterface *iface;
	g_return_if_fail(TLDRS_IS_SINK(self));
	iface = TLDRS_SINK_GET_IFACE(self);
	if (iface->shutdown != NULL)
		iface->shutdown(self);
}

void
tldrs_sink_trace_complete(TldrsSink *self, gpointer trace, const char *stored_file)
{
	TldrsSinkInterface *iface;
	g_return_if_fail(TLDRS_IS_SINK(self));
	iface = TLDRS_SINK_GET_IFACE(self);
	if (iface->trace_complete != NULL)
		iface->trace_complete(self, trace, stored_file);
}

gboolean
tldrs_sink_flush_async(TldrsSink *self, gpointer trace, GError **error)
{
	TldrsSinkInterface *iface;
	g_return_val_if_fail(TLDRS_IS_SINK(self), FALSE);
	iface = TLDRS_SINK_GET_IFACE(self);
	if (iface->flush_async == NULL)
		return tldrs_sink_flush(self, trace, error);
	return iface->flush_async(self, trace, error);
}
