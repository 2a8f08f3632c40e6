/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#pragma once

/* The tldrs sink API: the one header a sink plugin needs, besides GLib. Installed as
 * <tldrs/tldrs-sink.h>; `pkg-config --cflags tldrs-sink` finds it, and the `plugindir`
 * variable of tldrs-sink.pc says where the daemon looks for plugins. It needs no header of
 * the daemon's, and no config.h. See docs/writing-a-sink.md.
 *
 * "Since: N" below is the TLDRS_SINK_ABI_VERSION that brought a name in; what has no note
 * is there since version 1. */

#include <glib-object.h>
#include <gmodule.h>

G_BEGIN_DECLS

/**
 * TLDRS_SINK_ABI_VERSION:
 *
 * Bumped whenever #TldrsSinkInterface, #TldrsSinkSetup or #TldrsSinkInfo change
 * incompatibly. A plugin built against another version is refused at load time. New
 * members go into the reserved padding, so that a plugin built against an older version
 * keeps its layout; the version is bumped when their meaning changes for old plugins.
 */
#define TLDRS_SINK_ABI_VERSION 3

#define TLDRS_TYPE_SINK (tldrs_sink_get_type())
G_DECLARE_INTERFACE(TldrsSink, tldrs_sink, TLDRS, SINK, GObject)

/**
 * TldrsSinkFlags:
 * @TLDRS_SINK_FLAG_NONE: none of the below
 * @TLDRS_SINK_FLAG_STORES_EVENTS: stored_file() returns a file of the trace's events that
 *   the TEF writer reads (JSONL, plain or gzip-compressed); its @suffix marks the daemon's
 *   own files, which a TEF file never replaces
 * @TLDRS_SINK_FLAG_APPENDS_VERBATIM: the stored file is exactly the bytes handed to
 *   write(), appended, and nothing else: while nobody else touches it, it holds only lines
 *   the daemon checked (the daemon vouches for them, see docs/writing-a-sink.md)
 * @TLDRS_SINK_FLAG_INTO_FILE: open_trace() honours its @file argument; the first sink with
 *   this flag is the one `serve --into-file` uses
 * @TLDRS_SINK_FLAG_NEEDS_STORED_EVENTS: reads what another sink stored: `Sinks=` must list
 *   a sink with %TLDRS_SINK_FLAG_STORES_EVENTS beside it
 *
 * What a sink is, for the daemon. Since: 3
 */
typedef enum {
	TLDRS_SINK_FLAG_NONE = 0,
	TLDRS_SINK_FLAG_STORES_EVENTS = 1 << 0,
	TLDRS_SINK_FLAG_APPENDS_VERBATIM = 1 << 1,
	TLDRS_SINK_FLAG_INTO_FILE = 1 << 2,
	TLDRS_SINK_FLAG_NEEDS_STORED_EVENTS = 1 << 3,
} TldrsSinkFlags;

/**
 * TldrsSinkInfo:
 * @name: the sink's name in `Sinks=` and `[Sink NAME]`; the plugin file is
 *   `tldrs-sink-NAME.so`
 * @suffix: (nullable): the suffix of the per-trace files it keeps, e.g. `.jsonl.gz`
 * @flags: what the daemon may rely on
 * @config_keys: the keys of its `[Sink NAME]` group, %NULL-terminated; any other key is
 *   refused when the configuration is read, whether the sink is in `Sinks=` or not. Values
 *   are for setup() to check.
 *
 * A sink describes itself: set #TldrsSinkInterface.info to a static one in the interface
 * init. The daemon reads it without creating an instance. Since: 3
 */
typedef struct {
	const char *name;
	const char *suffix;
	TldrsSinkFlags flags;
	const char *const *config_keys;

	/*< private >*/
	gpointer padding[4];
} TldrsSinkInfo;

/**
 * TldrsSinkSetup:
 * @data_dir: the daemon's data directory (exists, absolute)
 * @config: the daemon's configuration file, or %NULL when there is none
 * @config_path: the file @config was read from, for error messages, or %NULL
 * @group: the sink's own group in @config, e.g. `Sink gzip`
 * @flush_interval_us: how often the daemon calls flush(), in microseconds
 * @start_tef: the daemon's TEF writer (see below). Since: 3
 * @tef_writer: pass it back to @start_tef. Since: 3
 *
 * What the daemon tells a sink before the first event. Only valid during setup();
 * copy what you keep. The daemon allocates it: new members are added at the end.
 */
typedef struct {
	const char *data_dir;
	GKeyFile *config;
	const char *config_path;
	const char *group;
	gint64 flush_interval_us;
	/* Since: 3. The daemon's TEF writer, from the main thread only: schedules the writing of
	 * the events @source holds now (a file a %TLDRS_SINK_FLAG_STORES_EVENTS sink stored,
	 * or %NULL for none) as strict-JSON TEF (@format "object" or "array") to @dest, in a
	 * worker; the file appears complete or not at all. Retention leaves the trace alone
	 * meanwhile, and the daemon finishes it before it exits. Pass @tef_writer back. */
	void (*start_tef)(gpointer tef_writer,
	                  const char *source,
	                  const char *dest,
	                  const char *format,
	                  const char *trace_id);
	gpointer tef_writer;

	/*< private >*/
	gpointer padding[8];
} TldrsSinkSetup;

/**
 * TldrsSinkInterface:
 * @setup: read the sink's config group and prepare; an unknown key or a bad value is an
 *   error naming the group and key. Called once, before the daemon binds its socket.
 * @open_trace: start storing a trace. @file is %NULL for the normal layout (the sink picks a
 *   name from @trace_id under the data directory) or an absolute file name that the user
 *   asked for (`serve --into-file`). Returns the sink's per-trace state, which the daemon
 *   passes back to every other call for this trace. Must not fail: problems surface, and are
 *   retried, on write() and flush().
 * @write: append @len bytes: whole event lines, each ended by `\n`, already checked to be
 *   strict JSON objects, for one trace, in order. The bytes are only valid during the call.
 *   The sink must keep what it could not store and retry it on the next write() or flush()
 *   (so an error loses nothing), and report the error.
 * @flush: make everything accepted so far readable in the sink's files (not necessarily
 *   fsync'ed). Also the moment to retry after an error.
 * @close_trace: the trace's last client is gone and a final flush() succeeded (or the
 *   daemon gives up on it as it stops: drop what is kept, and take it out of backlog());
 *   release the per-trace state. A later client of the same trace id gets a fresh
 *   open_trace().
 * @stored_file: (optional) the file holding the events of this trace that the TEF writer
 *   can read (`.jsonl` or `.jsonl.gz`), or %NULL if this sink keeps no such file.
 * @backlog: (optional) bytes accepted by write() but not stored yet; the daemon stops
 *   reading from clients while a sink's backlog is over its limit.
 * @flush_async: (optional) the periodic flush: start making everything accepted so far
 *   readable, without waiting for it (a sink that works in a thread queues it). Errors
 *   surface on the next call. Without it the daemon calls flush(). Since: 2
 * @trace_complete: (optional) the trace's last client is gone and every sink was flushed
 *   successfully (or the daemon gives up on what a failing sink could not store):
 *   @stored_file (or %NULL) holds all its events. Called just before close_trace().
 *   Since: 2
 * @shutdown: (optional) the daemon is exiting: finish background work.
 * @info: what the sink is (name, suffix, flags, config keys); required. Since: 3
 * @dropped: (optional) the events of this trace the sink accepted in write() but gave up on
 *   (a buffer over its budget while a server was unreachable, say), counted since
 *   open_trace(); the daemon shows them in `list -l` and over D-Bus. Since: 3 (in a reserved
 *   pointer: a plugin built without it leaves it %NULL)
 *
 * The interface every sink plugin implements. All calls come from the daemon's main thread.
 */
struct _TldrsSinkInterface {
	GTypeInterface g_iface;

	gboolean (*setup)(TldrsSink *self, const TldrsSinkSetup *setup, GError **error);
	gpointer (*open_trace)(TldrsSink *self, const char *trace_id, const char *file);
	gboolean (*write)(TldrsSink *self,
	                  gpointer trace,
	                  const char *lines,
	                  gsize len,
	                  GError **error);
	gboolean (*flush)(TldrsSink *self, gpointer trace, GError **error);
	void (*close_trace)(TldrsSink *self, gpointer trace);
	char *(*stored_file)(TldrsSink *self, gpointer trace);
	gsize (*backlog)(TldrsSink *self);
	void (*shutdown)(TldrsSink *self);
	void (*trace_complete)(TldrsSink *self, gpointer trace, const char *stored_file);
	gboolean (*flush_async)(TldrsSink *self, gpointer trace, GError **error);
	const TldrsSinkInfo *info;
	guint64 (*dropped)(TldrsSink *self, gpointer trace);

	/*< private >*/
	gpointer padding[4];
};

/* The daemon's side of the interface: a plugin only needs tldrs_sink_get_type() (through
 * TLDRS_TYPE_SINK) and tldrs_sink_abi_version() (through TLDRS_SINK_PLUGIN_DEFINE); the
 * daemon exports them. The others are how the daemon calls a sink. */
gboolean
tldrs_sink_setup(TldrsSink *self, const TldrsSinkSetup *setup, GError **error);
gpointer
tldrs_sink_open_trace(TldrsSink *self, const char *trace_id, const char *file);
gboolean
tldrs_sink_write(TldrsSink *self, gpointer trace, const char *lines, gsize len, GError **error);
gboolean
tldrs_sink_flush(TldrsSink *self, gpointer trace, GError **error);
/* Since: 2 */
gboolean
tldrs_sink_flush_async(TldrsSink *self, gpointer trace, GError **error);
void
tldrs_sink_close_trace(TldrsSink *self, gpointer trace);
char *
tldrs_sink_stored_file(TldrsSink *self, gpointer trace);
gsize
tldrs_sink_backlog(TldrsSink *self);
void
tldrs_sink_shutdown(TldrsSink *self);
/* Since: 2 */
void
tldrs_sink_trace_complete(TldrsSink *self, gpointer trace, const char *stored_file);

/* Since: 3 */
const TldrsSinkInfo *
tldrs_sink_get_info(TldrsSink *self);
/* Since: 3 */
guint64
tldrs_sink_dropped(TldrsSink *self, gpointer trace);
/* Since: 3 */
const TldrsSinkInfo *
tldrs_sink_type_get_info(GType type);

guint
tldrs_sink_abi_version(void);

/**
 * TLDRS_SINK_PLUGIN_DEFINE:
 * @TypeName: the GType getter of the plugin's sink class, e.g. `tldrs_jsonl_sink_get_type`
 *
 * Put once in a plugin: exports the typed entry point that the loader looks up
 * (`tldrs_sink_plugin_get_type`) and checks the ABI version when the module is opened.
 * A plugin's types are registered once and its module is never unloaded.
 */
#define TLDRS_SINK_PLUGIN_DEFINE(TypeName)                                                         \
	G_MODULE_EXPORT const gchar *g_module_check_init(GModule *module);                         \
	G_MODULE_EXPORT const gchar *g_module_check_init(GModule *module)                          \
	{                                                                                          \
		if (tldrs_sink_abi_version() != TLDRS_SINK_ABI_VERSION)                            \
			return "plugin built for another tldrs sink ABI version";                  \
		g_module_make_resident(module);                                                    \
		return NULL;                                                                       \
	}                                                                                          \
	G_MODULE_EXPORT GType tldrs_sink_plugin_get_type(void);                                    \
	G_MODULE_EXPORT GType tldrs_sink_plugin_get_type(void)                                     \
	{                                                                                          \
		return TypeName();                                                                 \
	}

G_END_DECLS
