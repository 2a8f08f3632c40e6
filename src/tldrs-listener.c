/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "tldrs-config.h"
#include "tldrs-error.h"
#include "tldrs-listener.h"
#include "tldrs-owned-dir.h"

/* The listener: the daemon's unix socket (bound here, or passed by systemd) and a
 * GSocketService accepting on it. It lets in only the daemon's own user and at most
 * MaxClients connections, and stops accepting for a moment when the daemon is close to its
 * open-files limit. Every accepted connection is announced with the "connection" signal. */

/* a socket served: bound by us (removed at exit) or passed by systemd */
typedef struct {
	GSocket *socket;
	char *path;
	gboolean bound;
	dev_t dev;
	ino_t ino;
} TldrsListenerSocket;

struct _TldrsListener {
	GObject parent_instance;
	GSocketService *service;
	GPtrArray *sockets;   /* TldrsListenerSocket, the main one first */
	GPtrArray *activated; /* GSocket from systemd, until listen() */
	char *path;           /* the main socket served */
	uid_t uid;
	guint max_clients;        /* 0 until start(): from the open-files limit */
	TldrsLogLimit *log_limit; /* borrowed */
	TldrsListenerLoadFunc load;
	gpointer load_data;
	guint64 nofile; /* RLIMIT_NOFILE after raising it, 0: unlimited */
	guint fds_id;
	gboolean accepting;
};

G_DEFINE_TYPE(TldrsListener, tldrs_listener, G_TYPE_OBJECT)

enum {
	SIGNAL_CONNECTION,
	SIGNAL_LAST,
};

static guint tldrs_listener_signals[SIGNAL_LAST] = {0};

/* file descriptors the daemon may need: a connection each, a file per trace and sink */
static gboolean
tldrs_listener_fds_short(TldrsListener *self)
{
	guint connections = 0;
	guint64 files = 0;
	self->load(&connections, &files, self->load_data);
	return self->nofile > 0 && 64 + connections + files + 16 >= self->nofile;
}

static gboolean
tldrs_listener_resume_cb(gpointer user_data)
{
	TldrsListener *self = TLDRS_LISTENER(user_data);
	if (tldrs_listener_fds_short(self) && self->accepting)
		return G_SOURCE_CONTINUE;
	self->fds_id = 0;
	if (self->accepting) {
		g_message("accepting connections again");
		g_socket_service_start(self->service);
	}
	return G_SOURCE_REMOVE;
}

/* near RLIMIT_NOFILE: stop accepting for a moment (new clients wait in the socket's
 * backlog) instead of failing, and resume when connections have gone */
static void
tldrs_listener_check_fds(TldrsListener *self)
{
	guint connections = 0;
	guint64 files = 0;

	if (self->fds_id != 0 || !tldrs_listener_fds_short(self))
		return;
	self->load(&connections, &files, self->load_data);
	g_warning("%u clients connected, close to the limit of %" G_GUINT64_FORMAT
	          " open files: not accepting new connections for now",
	          connections,
	          self->nofile);
	/* safe here: called from the service's own handler, no accept is in flight */
	g_socket_service_stop(self->service);
	self->fds_id = g_timeout_add(100, tldrs_listener_resume_cb, self);
}

/* a new connection: only our own user, at most MaxClients */
static void
tldrs_listener_add(TldrsListener *self, GSocketConnection *connection)
{
	GSocket *socket = g_socket_connection_get_socket(connection);
	g_autoptr(GCredentials) creds = NULL;
	g_autoptr(GError) error = NULL;
	guint connections = 0;
	guint64 files = 0;
	uid_t uid;
	pid_t pid;

	creds = g_socket_get_credentials(socket, &error);
	if (creds == NULL) {
		g_warning("refused a connection: cannot read its credentials: %s", error->message);
		g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
		return;
	}
	uid = g_credentials_get_unix_user(creds, NULL);
	pid = g_credentials_get_unix_pid(creds, NULL);
	if (uid != self->uid) {
		g_warning("refused a connection from uid %u (pid %d): only uid %u may connect",
		          (guint)uid,
		          (gint)pid,
		          (guint)self->uid);
		g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
		return;
	}
	self->load(&connections, &files, self->load_data);
	if (connections >= self->max_clients) {
		if (tldrs_log_limit_may_log(self->log_limit)) {
			g_warning(
			        "refused a connection from pid %d: MaxClients=%u clients connected",
			        (gint)pid,
			        self->max_clients);
		}
		g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
		return;
	}
	g_signal_emit(self, tldrs_listener_signals[SIGNAL_CONNECTION], 0, connection, (gint)pid);
	tldrs_listener_check_fds(self);
}

static gboolean
tldrs_listener_incoming_cb(GSocketService *service,
                           GSocketConnection *connection,
                           GObject *source_object,
                           gpointer user_data)
{
	TldrsListener *self = TLDRS_LISTENER(user_data);
	(void)service;
	(void)source_object;
	/* after a shutdown has begun, only until it has read its clients */
	if (!self->accepting) {
		g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
		return TRUE;
	}
	tldrs_listener_add(self, connection);
	return TRUE;
}

static void
tldrs_listener_socket_free(TldrsListenerSocket *ls)
{
	GStatBuf sb;
	/* only our own socket: a newer daemon may have replaced it */
	if (ls->bound && g_lstat(ls->path, &sb) == 0 && sb.st_dev == ls->dev &&
	    sb.st_ino == ls->ino)
		g_unlink(ls->path);
	g_clear_object(&ls->socket);
	g_free(ls->path);
	g_free(ls);
}

/**
 * tldrs_listener_adopt:
 * @sockets: (transfer full): the listening sockets passed by systemd, the main one first
 *
 * listen() serves @sockets instead of binding any.
 */
void
tldrs_listener_adopt(TldrsListener *self, GPtrArray *sockets)
{
	g_return_if_fail(TLDRS_IS_LISTENER(self));
	g_clear_pointer(&self->activated, g_ptr_array_unref);
	self->activated = sockets;
}

/* the sockets systemd passed: serve them, bind nothing */
static gboolean
tldrs_listener_listen_activated(TldrsListener *self, GError **error)
{
	g_autoptr(GPtrArray) activated = g_steal_pointer(&self->activated);

	for (guint i = 0; i < activated->len; i++) {
		GSocket *socket = g_ptr_array_index(activated, i);
		g_autoptr(GSocketAddress) local = g_socket_get_local_address(socket, NULL);
		TldrsListenerSocket *ls = g_new0(TldrsListenerSocket, 1);
		ls->socket = g_object_ref(socket);
		if (local != NULL && G_IS_UNIX_SOCKET_ADDRESS(local))
			ls->path = g_strdup(
			        g_unix_socket_address_get_path(G_UNIX_SOCKET_ADDRESS(local)));
		else
			ls->path = g_strdup("?");
		g_ptr_array_add(self->sockets, ls);
		if (!g_socket_listener_add_socket(
		            G_SOCKET_LISTENER(self->service), socket, NULL, error))
			return FALSE;
		g_info("using the socket passed by systemd: %s", ls->path);
	}
	g_free(self->path);
	self->path = g_strdup(((TldrsListenerSocket *)g_ptr_array_index(self->sockets, 0))->path);
	return TRUE;
}

/* the user whose process listens on @path, or -1 when none does */
static gint64
tldrs_listener_socket_owner(const char *path)
{
	g_autoptr(GSocket) probe = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	g_autoptr(GCredentials) creds = NULL;
	if (probe == NULL || !g_socket_connect(probe, addr, NULL, NULL))
		return -1;
	creds = g_socket_get_credentials(probe, NULL);
	return creds != NULL ? (gint64)g_credentials_get_unix_user(creds, NULL) : -1;
}

/* bind and listen on @path; @replace: the daemon that listens there is shutting down */
static TldrsListenerSocket *
tldrs_listener_bind(TldrsListener *self, const char *path, gboolean replace, GError **error)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree char *dir = NULL;
	TldrsListenerSocket *ls;
	GStatBuf sb;
	mode_t old_umask;
	gboolean ok;

	if (strlen(path) >= 108) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_ARGUMENT,
		            _("socket path too long (at most 107 bytes): %s"),
		            path);
		return NULL;
	}
	dir = g_path_get_dirname(path);
	if (!tldrs_owned_dir_check(dir, TRUE, error))
		return NULL;
	if (g_lstat(path, &sb) == 0) {
		gint64 owner;
		if (!S_ISSOCK(sb.st_mode)) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_BUSY,
			            _("%s exists and is not a socket"),
			            path);
			return NULL;
		}
		/* --replace: the daemon we took the bus name from is shutting down */
		for (guint i = 0; replace && i < 500 && g_lstat(path, &sb) == 0 &&
		                  tldrs_listener_socket_owner(path) == (gint64)self->uid;
		     i++)
			g_usleep(10000);
		owner = g_lstat(path, &sb) == 0 ? tldrs_listener_socket_owner(path) : -1;
		if (owner >= 0 && owner != (gint64)self->uid) {
			g_set_error(error,
			            G_IO_ERROR,
			            G_IO_ERROR_PERMISSION_DENIED,
			            _("%s is held by a daemon of another user (uid %u)"),
			            path,
			            (guint)owner);
			return NULL;
		}
		if (owner >= 0) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_BUSY,
			            _("another daemon is already listening on %s"),
			            path);
			return NULL;
		}
		if (sb.st_uid != self->uid) {
			g_set_error(error,
			            G_IO_ERROR,
			            G_IO_ERROR_PERMISSION_DENIED,
			            _("%s is left by another user (uid %u)"),
			            path,
			            (guint)sb.st_uid);
			return NULL;
		}
		g_info("replacing stale socket %s", path);
		g_unlink(path);
	}
	g_mkdir_with_parents(dir, 0700);

	socket = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
	if (socket == NULL)
		return NULL;
	addr = g_unix_socket_address_new(path);
	/* owner-only from the start: no window where another user can connect */
	old_umask = umask(0177);
	ok = g_socket_bind(socket, addr, FALSE, &error_local);
	umask(old_umask);
	if (!ok) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("cannot bind %s: %s"),
		            path,
		            error_local->message);
		return NULL;
	}
	ls = g_new0(TldrsListenerSocket, 1);
	ls->path = g_strdup(path);
	ls->bound = TRUE;
	if (g_lstat(path, &sb) == 0) {
		ls->dev = sb.st_dev;
		ls->ino = sb.st_ino;
	}
	ls->socket = g_object_ref(socket);
	g_socket_set_listen_backlog(socket, 4096);
	if (!g_socket_listen(socket, &error_local) ||
	    !g_socket_listener_add_socket(
	            G_SOCKET_LISTENER(self->service), socket, NULL, &error_local)) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_FAILED,
		            _("cannot listen on %s: %s"),
		            path,
		            error_local->message);
		tldrs_listener_socket_free(ls);
		return NULL;
	}
	return ls;
}

/**
 * tldrs_listener_listen:
 * @path: the socket to bind
 * @replace: the daemon that listens on @path is shutting down: wait for it
 *
 * Binds @path, the main socket (or serves the sockets systemd passed, see
 * tldrs_listener_adopt()). A stale socket left by a dead daemon of ours is replaced, a live
 * one is not, nor anything of another user's. Accepting starts with tldrs_listener_start().
 */
gboolean
tldrs_listener_listen(TldrsListener *self, const char *path, gboolean replace, GError **error)
{
	TldrsListenerSocket *ls;

	g_return_val_if_fail(TLDRS_IS_LISTENER(self), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);

	if (self->activated != NULL)
		return tldrs_listener_listen_activated(self, error);
	ls = tldrs_listener_bind(self, path, replace, error);
	if (ls == NULL)
		return FALSE;
	g_ptr_array_insert(self->sockets, 0, ls);
	g_free(self->path);
	self->path = g_strdup(path);
	return TRUE;
}

/* one more socket to serve besides the main one (the private socket); not with systemd's */
gboolean
tldrs_listener_listen_also(TldrsListener *self, const char *path, GError **error)
{
	TldrsListenerSocket *ls;

	g_return_val_if_fail(TLDRS_IS_LISTENER(self), FALSE);
	ls = tldrs_listener_bind(self, path, FALSE, error);
	if (ls == NULL)
		return FALSE;
	g_ptr_array_add(self->sockets, ls);
	if (self->path == NULL)
		self->path = g_strdup(path);
	return TRUE;
}

/* every socket served, the main one first */
GStrv
tldrs_listener_get_paths(TldrsListener *self)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	g_return_val_if_fail(TLDRS_IS_LISTENER(self), NULL);
	for (guint i = 0; i < self->sockets->len; i++)
		g_strv_builder_add(
		        b, ((TldrsListenerSocket *)g_ptr_array_index(self->sockets, i))->path);
	return g_strv_builder_end(b);
}

/* the socket served, once listen() succeeded */
const char *
tldrs_listener_get_path(TldrsListener *self)
{
	g_return_val_if_fail(TLDRS_IS_LISTENER(self), NULL);
	return self->path;
}

/* the main socket, when this listener bound it (not passed by systemd); else NULL */
const char *
tldrs_listener_get_bound_path(TldrsListener *self)
{
	TldrsListenerSocket *ls;
	g_return_val_if_fail(TLDRS_IS_LISTENER(self), NULL);
	if (self->sockets->len == 0)
		return NULL;
	ls = g_ptr_array_index(self->sockets, 0);
	return ls->bound ? ls->path : NULL;
}

/* RLIMIT_NOFILE once started, 0 when there is none */
guint64
tldrs_listener_get_nofile(TldrsListener *self)
{
	g_return_val_if_fail(TLDRS_IS_LISTENER(self), 0);
	return self->nofile;
}

/* as many connections as the system lets us have */
static void
tldrs_listener_raise_fd_limit(TldrsListener *self)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			g_debug("cannot raise RLIMIT_NOFILE: %s", g_strerror(errno));
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	self->nofile = rl.rlim_cur == RLIM_INFINITY ? 0 : (guint64)rl.rlim_cur;
}

/* MaxClients by default: half the open files (the other half for the traces' files, a
 * quarter of them at most, and the rest), at least 64; 1000000 without a limit */
static guint
tldrs_listener_default_max_clients(guint64 nofile)
{
	if (nofile == 0)
		return TLDRS_MAX_CLIENTS_MAX;
	return (guint)CLAMP(nofile / 2, 64, TLDRS_MAX_CLIENTS_MAX);
}

/* after listen() and any fork: raise the open-files limit and accept */
void
tldrs_listener_start(TldrsListener *self)
{
	g_return_if_fail(TLDRS_IS_LISTENER(self));
	tldrs_listener_raise_fd_limit(self);
	if (self->max_clients == 0) {
		self->max_clients = tldrs_listener_default_max_clients(self->nofile);
		g_info("MaxClients=%u (half the limit of %" G_GUINT64_FORMAT " open files)",
		       self->max_clients,
		       self->nofile);
	}
	g_socket_service_start(self->service);
	self->accepting = TRUE;
}

/* shutdown: clients that connected but were not accepted yet have sent data too */
void
tldrs_listener_accept_backlog(TldrsListener *self)
{
	g_return_if_fail(TLDRS_IS_LISTENER(self));
	for (guint i = 0; i < self->sockets->len; i++) {
		GSocket *listening =
		        ((TldrsListenerSocket *)g_ptr_array_index(self->sockets, i))->socket;
		g_socket_set_blocking(listening, FALSE);
		for (;;) {
			g_autoptr(GError) error = NULL;
			g_autoptr(GSocket) socket = g_socket_accept(listening, NULL, &error);
			g_autoptr(GSocketConnection) connection = NULL;
			if (socket == NULL) {
				/* EAGAIN: none is left waiting, the usual end; anything else is
				 * news */
				if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
					g_warning("cannot accept a waiting connection: %s",
					          error->message);
				break;
			}
			g_debug("accepted a connection that was waiting at shutdown");
			connection = g_socket_connection_factory_create_connection(socket);
			tldrs_listener_add(self, connection);
		}
	}
}

/* stop accepting for good, close the sockets and remove those we bound */
void
tldrs_listener_stop(TldrsListener *self)
{
	g_return_if_fail(TLDRS_IS_LISTENER(self));
	self->accepting = FALSE;
	g_socket_service_stop(self->service);
	g_socket_listener_close(G_SOCKET_LISTENER(self->service));
	g_ptr_array_set_size(self->sockets, 0);
}

static void
tldrs_listener_dispose(GObject *object)
{
	TldrsListener *self = TLDRS_LISTENER(object);
	g_clear_handle_id(&self->fds_id, g_source_remove);
	if (self->service != NULL) {
		tldrs_listener_stop(self);
		g_clear_object(&self->service);
	}
	g_clear_pointer(&self->activated, g_ptr_array_unref);
	G_OBJECT_CLASS(tldrs_listener_parent_class)->dispose(object);
}

static void
tldrs_listener_finalize(GObject *object)
{
	TldrsListener *self = TLDRS_LISTENER(object);
	g_free(self->path);
	g_ptr_array_unref(self->sockets);
	G_OBJECT_CLASS(tldrs_listener_parent_class)->finalize(object);
}

static void
tldrs_listener_class_init(TldrsListenerClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	object_class->dispose = tldrs_listener_dispose;
	object_class->finalize = tldrs_listener_finalize;

	/**
	 * TldrsListener::connection:
	 * @connection: the accepted connection, of the daemon's own user
	 * @pid: the peer's process id
	 *
	 * Whoever handles it keeps a reference; the listener keeps none.
	 */
	tldrs_listener_signals[SIGNAL_CONNECTION] = g_signal_new("connection",
	                                                         G_TYPE_FROM_CLASS(klass),
	                                                         G_SIGNAL_RUN_LAST,
	                                                         0,
	                                                         NULL,
	                                                         NULL,
	                                                         NULL,
	                                                         G_TYPE_NONE,
	                                                         2,
	                                                         G_TYPE_SOCKET_CONNECTION,
	                                                         G_TYPE_INT);
}

static void
tldrs_listener_init(TldrsListener *self)
{
	self->uid = getuid();
	self->sockets = g_ptr_array_new_with_free_func((GDestroyNotify)tldrs_listener_socket_free);
	self->service = g_socket_service_new();
	g_socket_service_stop(self->service);
	g_signal_connect(self->service, "incoming", G_CALLBACK(tldrs_listener_incoming_cb), self);
}

/**
 * tldrs_listener_new:
 * @max_clients: MaxClients, 0: half the open-files limit (see tldrs_listener_start())
 * @log_limit: the daemon's limit on warnings about clients
 * @load: tells the connections and files open now
 */
TldrsListener *
tldrs_listener_new(guint max_clients,
                   TldrsLogLimit *log_limit,
                   TldrsListenerLoadFunc load,
                   gpointer load_data)
{
	TldrsListener *self;
	g_return_val_if_fail(log_limit != NULL, NULL);
	g_return_val_if_fail(load != NULL, NULL);
	self = g_object_new(TLDRS_TYPE_LISTENER, NULL);
	self->max_clients = max_clients;
	self->log_limit = log_limit;
	self->load = load;
	self->load_data = load_data;
	return self;
}

/* MaxClients changed (SIGHUP; 0: the default, from the open-files limit): connections beyond
 * it are refused from now; none is closed */
void
tldrs_listener_set_max_clients(TldrsListener *self, guint max_clients)
{
	g_return_if_fail(TLDRS_IS_LISTENER(self));
	self->max_clients =
	        max_clients != 0 ? max_clients : tldrs_listener_default_max_clients(self->nofile);
}

/* MaxClients in force */
guint
tldrs_listener_get_max_clients(TldrsListener *self)
{
	g_return_val_if_fail(TLDRS_IS_LISTENER(self), 0);
	return self->max_clients;
}
