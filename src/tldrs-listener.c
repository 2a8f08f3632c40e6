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

#include "tldrs-error.h"
#include "tldrs-listener.h"

/* The listener: the daemon's unix socket (bound here, or passed by systemd) and a
 * GSocketService accepting on it. It lets in only the daemon's own user and at most
 * MaxClients connections, and stops accepting for a moment when the daemon is close to its
 * open-files limit. Every accepted connection is announced with the "connection" signal. */

struct _TldrsListener {
	GObject parent_instance;
	GSocketService *service;
	GSocket *socket;           /* the listening socket */
	GSocket *activated_socket; /* from systemd, until listen() */
	char *path;                /* the socket served */
	char *bound_path;          /* the socket we bound and remove at exit, or NULL */
	dev_t bound_dev;
	ino_t bound_ino;
	uid_t uid;
	guint max_clients;
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

/**
 * tldrs_listener_adopt:
 * @socket: (transfer full): a listening socket passed by systemd
 *
 * listen() serves @socket instead of binding one.
 */
void
tldrs_listener_adopt(TldrsListener *self, GSocket *socket)
{
	g_return_if_fail(TLDRS_IS_LISTENER(self));
	g_clear_object(&self->activated_socket);
	self->activated_socket = socket;
}

static gboolean
tldrs_listener_socket_is_live(const char *path)
{
	g_autoptr(GSocket) probe = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	if (probe == NULL)
		return FALSE;
	return g_socket_connect(probe, addr, NULL, NULL);
}

/* the socket systemd passed: serve it, bind nothing */
static gboolean
tldrs_listener_listen_activated(TldrsListener *self, GError **error)
{
	g_autoptr(GSocket) socket = g_steal_pointer(&self->activated_socket);
	g_autoptr(GSocketAddress) local = g_socket_get_local_address(socket, NULL);

	if (local != NULL && G_IS_UNIX_SOCKET_ADDRESS(local)) {
		g_free(self->path);
		self->path = g_strdup(g_unix_socket_address_get_path(G_UNIX_SOCKET_ADDRESS(local)));
	}
	self->socket = g_object_ref(socket);
	if (!g_socket_listener_add_socket(G_SOCKET_LISTENER(self->service), socket, NULL, error))
		return FALSE;
	g_info("using the socket passed by systemd: %s", self->path);
	return TRUE;
}

/**
 * tldrs_listener_listen:
 * @path: the socket to bind
 * @replace: the daemon that listens on @path is shutting down: wait for it
 *
 * Binds @path (or serves the socket systemd passed, see tldrs_listener_adopt()). A stale
 * socket left by a dead daemon is replaced, a live one is not. Accepting starts with
 * tldrs_listener_start().
 */
gboolean
tldrs_listener_listen(TldrsListener *self, const char *path, gboolean replace, GError **error)
{
	g_autoptr(GSocket) socket = NULL;
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree char *dir = NULL;
	GStatBuf sb;
	mode_t old_umask;
	gboolean ok;

	g_return_val_if_fail(TLDRS_IS_LISTENER(self), FALSE);
	g_return_val_if_fail(path != NULL, FALSE);

	g_free(self->path);
	self->path = g_strdup(path);
	if (self->activated_socket != NULL)
		return tldrs_listener_listen_activated(self, error);
	if (strlen(path) >= 108) {
		g_set_error(error,
		            TLDRS_ERROR,
		            TLDRS_ERROR_INVALID_ARGUMENT,
		            _("socket path too long (at most 107 bytes): %s"),
		            path);
		return FALSE;
	}
	if (g_lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_BUSY,
			            _("%s exists and is not a socket"),
			            path);
			return FALSE;
		}
		/* --replace: the daemon we took the bus name from is shutting down */
		for (guint i = 0; replace && i < 500 && g_lstat(path, &sb) == 0 &&
		                  tldrs_listener_socket_is_live(path);
		     i++)
			g_usleep(10000);
		if (g_lstat(path, &sb) == 0 && tldrs_listener_socket_is_live(path)) {
			g_set_error(error,
			            TLDRS_ERROR,
			            TLDRS_ERROR_BUSY,
			            _("another daemon is already listening on %s"),
			            path);
			return FALSE;
		}
		g_info("replacing stale socket %s", path);
		g_unlink(path);
	}
	dir = g_path_get_dirname(path);
	g_mkdir_with_parents(dir, 0700);

	socket = g_socket_new(
	        G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
	if (socket == NULL)
		return FALSE;
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
		return FALSE;
	}
	if (g_lstat(path, &sb) == 0) {
		self->bound_dev = sb.st_dev;
		self->bound_ino = sb.st_ino;
	}
	self->bound_path = g_strdup(path);
	self->socket = g_object_ref(socket);
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
		return FALSE;
	}
	return TRUE;
}

/* the socket served, once listen() succeeded */
const char *
tldrs_listener_get_path(TldrsListener *self)
{
	g_return_val_if_fail(TLDRS_IS_LISTENER(self), NULL);
	return self->path;
}

/* the socket this listener bound (not one passed by systemd), or NULL */
const char *
tldrs_listener_get_bound_path(TldrsListener *self)
{
	g_return_val_if_fail(TLDRS_IS_LISTENER(self), NULL);
	return self->bound_path;
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

/* after listen() and any fork: raise the open-files limit and accept */
void
tldrs_listener_start(TldrsListener *self)
{
	g_return_if_fail(TLDRS_IS_LISTENER(self));
	tldrs_listener_raise_fd_limit(self);
	g_socket_service_start(self->service);
	self->accepting = TRUE;
}

/* shutdown: clients that connected but were not accepted yet have sent data too */
void
tldrs_listener_accept_backlog(TldrsListener *self)
{
	g_return_if_fail(TLDRS_IS_LISTENER(self));
	if (self->socket == NULL)
		return;
	g_socket_set_blocking(self->socket, FALSE);
	for (;;) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GSocket) socket = g_socket_accept(self->socket, NULL, &error);
		g_autoptr(GSocketConnection) connection = NULL;
		if (socket == NULL) {
			/* EAGAIN: none is left waiting, the usual end; anything else is news */
			if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
				g_warning("cannot accept a waiting connection: %s", error->message);
			break;
		}
		g_debug("accepted a connection that was waiting at shutdown");
		connection = g_socket_connection_factory_create_connection(socket);
		tldrs_listener_add(self, connection);
	}
}

static void
tldrs_listener_remove_socket(TldrsListener *self)
{
	GStatBuf sb;
	if (self->bound_path == NULL)
		return;
	/* only our own socket: a newer daemon may have replaced it */
	if (g_lstat(self->bound_path, &sb) == 0 && sb.st_dev == self->bound_dev &&
	    sb.st_ino == self->bound_ino)
		g_unlink(self->bound_path);
	g_clear_pointer(&self->bound_path, g_free);
}

/* stop accepting for good, close the socket and remove it */
void
tldrs_listener_stop(TldrsListener *self)
{
	g_return_if_fail(TLDRS_IS_LISTENER(self));
	self->accepting = FALSE;
	g_socket_service_stop(self->service);
	g_socket_listener_close(G_SOCKET_LISTENER(self->service));
	tldrs_listener_remove_socket(self);
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
	g_clear_object(&self->socket);
	g_clear_object(&self->activated_socket);
	G_OBJECT_CLASS(tldrs_listener_parent_class)->dispose(object);
}

static void
tldrs_listener_finalize(GObject *object)
{
	TldrsListener *self = TLDRS_LISTENER(object);
	g_free(self->path);
	g_free(self->bound_path);
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
	self->service = g_socket_service_new();
	g_socket_service_stop(self->service);
	g_signal_connect(self->service, "incoming", G_CALLBACK(tldrs_listener_incoming_cb), self);
}

/**
 * tldrs_listener_new:
 * @max_clients: MaxClients
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

/* MaxClients changed (SIGHUP): connections beyond it are refused from now; none is closed */
void
tldrs_listener_set_max_clients(TldrsListener *self, guint max_clients)
{
	g_return_if_fail(TLDRS_IS_LISTENER(self));
	self->max_clients = max_clients;
}
