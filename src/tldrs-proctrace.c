/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gi18n.h>

#include "tldrs-proctrace.h"
#include "tldrs-tef.h"

/* The process tree of `tldrs run`'s command, recorded with ptrace and nothing else: the
 * command's first process is seized (PTRACE_SEIZE) before it execs, with options that stop
 * a process only when it forks, clones or execs; the kernel then attaches every descendant
 * the same way. No system call is stopped otherwise, static binaries are seen like any
 * other, and no privilege is needed (a parent may trace its child under every Yama mode but
 * the last).
 *
 * Each image a process runs becomes one TEF "X" span on the track of its pid, from its fork
 * (or exec) to its exec or exit, with argv, working directory, executable, parent pid and
 * how it ended; a flow event links the parent's span at the fork to the child's. Time stamps
 * are CLOCK_MONOTONIC microseconds, the clock that the clients stamp their own events with.
 *
 * The traced programs must behave as without us: every signal is delivered as it came
 * (signal-delivery-stops are restarted with their signal), group-stops are left with
 * PTRACE_LISTEN so that SIGCONT still resumes them, and a process that wants to ptrace
 * (gdb, strace) is let go: a seccomp filter makes ptrace(TRACEME/ATTACH/SEIZE) stop for us,
 * and we detach from the process it is about to trace. */

/* the seccomp return data that marks our own filter's stops */
#define TLDRS_PROCTRACE_SECCOMP_MARK 0x7d1d

/* argv bytes kept per image */
#define TLDRS_PROCTRACE_ARGV_MAX (64 * 1024)

/* pending event bytes handed to the emit callback at once */
#define TLDRS_PROCTRACE_BATCH (64 * 1024)

#if defined(__x86_64__)
#define TLDRS_PROCTRACE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TLDRS_PROCTRACE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

typedef struct {
	pid_t pid;
	pid_t ppid;
} TldrsProcLink;

typedef struct {
	pid_t pid;
	pid_t ppid;
	gint64 start;       /* of the current image's span */
	gboolean linked;    /* its parent's image and the flow from the parent are done */
	gboolean fork_seen; /* its creator's fork event came (the top: always) */
	char *name;         /* JSON string */
	char *args;         /* JSON members: "argv":[…],"cwd":…,"exe":… */
	gboolean has_image;
} TldrsProc;

struct _TldrsProcTrace {
	gboolean follow;
	gboolean detaching; /* the command exited: let everything go */
	TldrsProcTraceEmit emit;
	gpointer emit_data;
	pid_t top;
	gboolean top_exited;
	int top_status;
	GHashTable *procs;   /* pid -> TldrsProc */
	GHashTable *threads; /* tid -> tgid, threads other than a leader */
	GHashTable *others;  /* pid -> wait status + 1 (0: running), children we did not trace */
	GHashTable *detach;  /* tid -> pid of a process waiting for it to be let go, or itself */
	GHashTable *gone;    /* processes that ended before their creator's fork event came */
	GString *out;
	guint64 next_flow;
	GArray *tree; /* TldrsProcLink of every process seen, in the order they appeared */
	gboolean warned_ptrace;
};

static volatile sig_atomic_t tldrs_proctrace_forward_pid = 0;
static volatile sig_atomic_t tldrs_proctrace_continued = 0;

/* what the terminal sends reaches the whole process group, the command included; what
 * someone sent to us alone is passed on */
static void
tldrs_proctrace_forward(int sig, siginfo_t *info, void *context)
{
	(void)context;
	if (tldrs_proctrace_forward_pid > 0 && info != NULL && info->si_code <= 0)
		kill((pid_t)tldrs_proctrace_forward_pid, sig);
}

static void
tldrs_proctrace_cont(int sig)
{
	(void)sig;
	tldrs_proctrace_continued = 1;
}

static const int tldrs_proctrace_forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

static void
tldrs_proctrace_proc_free(TldrsProc *proc)
{
	g_free(proc->name);
	g_free(proc->args);
	g_free(proc);
}

TldrsProcTrace *
tldrs_proctrace_new(gboolean follow, TldrsProcTraceEmit emit, gpointer user_data)
{
	TldrsProcTrace *self = g_new0(TldrsProcTrace, 1);
	self->follow = follow;
	self->emit = emit;
	self->emit_data = user_data;
	self->procs = g_hash_table_new_full(
	        g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)tldrs_proctrace_proc_free);
	self->threads = g_hash_table_new(g_direct_hash, g_direct_equal);
	self->others = g_hash_table_new(g_direct_hash, g_direct_equal);
	self->detach = g_hash_table_new(g_direct_hash, g_direct_equal);
	self->gone = g_hash_table_new(g_direct_hash, g_direct_equal);
	self->out = g_string_new(NULL);
	self->tree = g_array_new(FALSE, FALSE, sizeof(TldrsProcLink));
	self->next_flow = 1;
	return self;
}

void
tldrs_proctrace_free(TldrsProcTrace *self)
{
	if (self == NULL)
		return;
	g_hash_table_unref(self->procs);
	g_hash_table_unref(self->threads);
	g_hash_table_unref(self->others);
	g_hash_table_unref(self->detach);
	g_hash_table_unref(self->gone);
	g_string_free(self->out, TRUE);
	g_array_unref(self->tree);
	g_free(self);
}

pid_t
tldrs_proctrace_get_pid(TldrsProcTrace *self)
{
	return self->top;
}

gboolean
tldrs_proctrace_is_following(TldrsProcTrace *self)
{
	return self->follow;
}

/* a child of ours that is not traced (the private daemon): its exit is kept for the caller
 * when the tracer's wait takes it */
void
tldrs_proctrace_add_other_child(TldrsProcTrace *self, pid_t pid)
{
	g_hash_table_insert(self->others, GINT_TO_POINTER(pid), GINT_TO_POINTER(0));
}

gboolean
tldrs_proctrace_other_child_exited(TldrsProcTrace *self, pid_t pid, int *status)
{
	gpointer v;
	if (!g_hash_table_lookup_extended(self->others, GINT_TO_POINTER(pid), NULL, &v) ||
	    GPOINTER_TO_INT(v) == 0) {
		if (waitpid(pid, status, WNOHANG) != pid)
			return FALSE;
		g_hash_table_insert(
		        self->others, GINT_TO_POINTER(pid), GINT_TO_POINTER(*status + 1));
		return TRUE;
	}
	*status = GPOINTER_TO_INT(v) - 1;
	return TRUE;
}

static void
tldrs_proctrace_flush_out(TldrsProcTrace *self, gboolean all)
{
	if (self->out->len == 0 || (!all && self->out->len < TLDRS_PROCTRACE_BATCH))
		return;
	self->emit(self->out->str, self->out->len, self->emit_data);
	g_string_truncate(self->out, 0);
}

static void
tldrs_proctrace_append_json(GString *out, const char *s, gssize len)
{
	g_autofree char *valid = g_utf8_make_valid(s, len);
	tldrs_tef_append_json_string(out, valid);
}

static char *
tldrs_proctrace_read_link(pid_t pid, const char *what)
{
	char path[64];
	g_snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
	return g_file_read_link(path, NULL);
}

/* the image a process runs now: its name, and argv, cwd and exe as JSON members */
static void
tldrs_proctrace_read_image(TldrsProc *proc)
{
	char path[64];
	g_autofree char *cmdline = NULL;
	g_autofree char *comm = NULL;
	g_autofree char *exe = tldrs_proctrace_read_link(proc->pid, "exe");
	g_autofree char *cwd = tldrs_proctrace_read_link(proc->pid, "cwd");
	g_autofree char *argv0 = NULL;
	const char *name = NULL;
	GString *args = g_string_new("\"argv\":[");
	GString *js = g_string_new(NULL);
	gsize len = 0;

	g_snprintf(path, sizeof path, "/proc/%d/cmdline", (int)proc->pid);
	if (g_file_get_contents(path, &cmdline, &len, NULL)) {
		gsize n = MIN(len, TLDRS_PROCTRACE_ARGV_MAX);
		for (gsize i = 0; i < n;) {
			gsize l = strnlen(cmdline + i, n - i);
			if (i > 0)
				g_string_append_c(args, ',');
			tldrs_proctrace_append_json(args, cmdline + i, (gssize)l);
			if (i == 0)
				argv0 = g_path_get_basename(cmdline);
			i += l + 1;
		}
		g_string_append_c(args, ']');
		if (n < len)
			g_string_append(args, ",\"argv_truncated\":true");
	} else {
		g_string_append_c(args, ']');
	}
	if (cwd != NULL) {
		g_string_append(args, ",\"cwd\":");
		tldrs_proctrace_append_json(args, cwd, -1);
	}
	if (exe != NULL) {
		g_string_append(args, ",\"exe\":");
		tldrs_proctrace_append_json(args, exe, -1);
	}

	/* the kernel names a process after the file it exec'd (a script, not its interpreter),
	 * cut to 15 bytes; argv[0] or the executable give the whole name when they agree */
	g_snprintf(path, sizeof path, "/proc/%d/comm", (int)proc->pid);
	if (g_file_get_contents(path, &comm, NULL, NULL))
		g_strchomp(comm);
	if (comm != NULL && comm[0] != '\0') {
		g_autofree char *exe_base = exe != NULL ? g_path_get_basename(exe) : NULL;
		name = comm;
		if (argv0 != NULL && g_str_has_prefix(argv0, comm))
			name = argv0;
		else if (exe_base != NULL && g_str_has_prefix(exe_base, comm))
			name = argv0 != NULL && g_strcmp0(argv0, exe_base) == 0 ? argv0 : comm;
	} else if (argv0 != NULL) {
		name = argv0;
	} else {
		name = "?";
	}
	tldrs_proctrace_append_json(js, name, -1);
	g_free(proc->name);
	g_free(proc->args);
	proc->name = g_string_free(js, FALSE);
	proc->args = g_string_free(args, FALSE);
	proc->has_image = TRUE;
}

/* the span of @proc's current image, ended now; @how: JSON members saying how it ended */
static void
tldrs_proctrace_end_span(TldrsProcTrace *self, TldrsProc *proc, gint64 now, const char *how)
{
	if (!proc->has_image)
		return;
	g_string_append_printf(
	        self->out,
	        "{\"ph\":\"X\",\"name\":%s,\"cat\":\"process\",\"ts\":%" G_GINT64_FORMAT
	        ",\"dur\":%" G_GINT64_FORMAT
	        ",\"pid\":%d,\"tid\":%d,\"args\":{%s,\"ppid\":%d,%s}}\n",
	        proc->name,
	        proc->start,
	        MAX(now - proc->start, 0),
	        (int)proc->pid,
	        (int)proc->pid,
	        proc->args,
	        (int)proc->ppid,
	        how);
}

/* a process is gone or let go: its last span and its names */
static void
tldrs_proctrace_end_proc(TldrsProcTrace *self, TldrsProc *proc, const char *how)
{
	/* a traced child's exit reaches its parent's wait() only once the tracer has taken it:
	 * a child whose parent waits for it ends before its parent */
	tldrs_proctrace_end_span(self, proc, g_get_monotonic_time(), how);
	if (proc->has_image) {
		for (guint i = 0; i < 2; i++)
			g_string_append_printf(
			        self->out,
			        "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%d,\"tid\":%d,"
			        "\"args\":{\"name\":%s}}\n",
			        i == 0 ? "process_name" : "thread_name",
			        (int)proc->pid,
			        (int)proc->pid,
			        proc->name);
	}
	if (proc->has_image) {
		TldrsProcLink link = {proc->pid, proc->ppid};
		g_array_append_val(self->tree, link);
	}
	if (!proc->fork_seen)
		g_hash_table_add(self->gone, GINT_TO_POINTER(proc->pid));
	g_hash_table_remove(self->procs, GINT_TO_POINTER(proc->pid));
	tldrs_proctrace_flush_out(self, FALSE);
}

static gint
tldrs_proctrace_cmp_pid(gconstpointer a, gconstpointer b)
{
	pid_t x = *(const pid_t *)a;
	pid_t y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

static void
tldrs_proctrace_sort_visit(TldrsProcTrace *self,
                           GHashTable *children,
                           GHashTable *visited,
                           pid_t pid,
                           guint *index)
{
	GArray *kids = g_hash_table_lookup(children, GINT_TO_POINTER(pid));
	/* a pid used twice can make a cycle */
	if (!g_hash_table_add(visited, GINT_TO_POINTER(pid)))
		return;
	if (kids != NULL)
		g_array_sort(kids, tldrs_proctrace_cmp_pid);
	g_string_append_printf(self->out,
	                       "{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":%d,"
	                       "\"tid\":%d,\"args\":{\"sort_index\":%u}}\n",
	                       (int)pid,
	                       (int)pid,
	                       (*index)++);
	for (guint i = 0; kids != NULL && i < kids->len; i++)
		tldrs_proctrace_sort_visit(
		        self, children, visited, g_array_index(kids, pid_t, i), index);
}

/* tracks in the order of the tree (chrome://tracing and Perfetto read process_sort_index):
 * each process right after its parent, its children by pid, which is the order they started
 * in until the kernel's pids wrap */
static void
tldrs_proctrace_sort_tracks(TldrsProcTrace *self)
{
	g_autoptr(GHashTable) children = g_hash_table_new_full(
	        g_direct_hash, g_direct_equal, NULL, (GDestroyNotify)g_array_unref);
	g_autoptr(GHashTable) known = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_autoptr(GHashTable) visited = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_autoptr(GArray) roots = g_array_new(FALSE, FALSE, sizeof(pid_t));
	guint index = 1;

	for (guint i = 0; i < self->tree->len; i++)
		g_hash_table_add(known,
		                 GINT_TO_POINTER(g_array_index(self->tree, TldrsProcLink, i).pid));
	for (guint i = 0; i < self->tree->len; i++) {
		TldrsProcLink *link = &g_array_index(self->tree, TldrsProcLink, i);
		GArray *kids;
		if (!g_hash_table_contains(known, GINT_TO_POINTER(link->ppid)) ||
		    link->ppid == link->pid) {
			g_array_append_val(roots, link->pid);
			continue;
		}
		kids = g_hash_table_lookup(children, GINT_TO_POINTER(link->ppid));
		if (kids == NULL) {
			kids = g_array_new(FALSE, FALSE, sizeof(pid_t));
			g_hash_table_insert(children, GINT_TO_POINTER(link->ppid), kids);
		}
		g_array_append_val(kids, link->pid);
	}
	g_array_sort(roots, tldrs_proctrace_cmp_pid);
	for (guint i = 0; i < roots->len; i++)
		tldrs_proctrace_sort_visit(
		        self, children, visited, g_array_index(roots, pid_t, i), &index);
}

static char *
tldrs_proctrace_describe_status(int status)
{
	if (WIFEXITED(status))
		return g_strdup_printf("\"exit_status\":%d", WEXITSTATUS(status));
	if (WIFSIGNALED(status)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(status));
		return g_strdup_printf("\"signal\":\"%s%s\",\"signal_number\":%d,"
		                       "\"core_dumped\":%s",
		                       abbrev != NULL ? "SIG" : "",
		                       abbrev != NULL ? abbrev : "?",
		                       WTERMSIG(status),
		                       WCOREDUMP(status) ? "true" : "false");
	}
	return g_strdup("\"exit_status\":null");
}

static pid_t
tldrs_proctrace_tgid(TldrsProcTrace *self, pid_t tid)
{
	gpointer v = g_hash_table_lookup(self->threads, GINT_TO_POINTER(tid));
	return v != NULL ? GPOINTER_TO_INT(v) : tid;
}

static TldrsProc *
tldrs_proctrace_add_proc(TldrsProcTrace *self, pid_t pid, pid_t ppid)
{
	TldrsProc *proc = g_new0(TldrsProc, 1);
	proc->pid = pid;
	proc->ppid = ppid;
	proc->start = g_get_monotonic_time();
	g_hash_table_insert(self->procs, GINT_TO_POINTER(pid), proc);
	return proc;
}

static gboolean
tldrs_proctrace_is_thread_of(pid_t tid, pid_t tgid)
{
	char path[64];
	if (tid == tgid)
		return FALSE;
	g_snprintf(path, sizeof path, "/proc/%d/task/%d", (int)tgid, (int)tid);
	return access(path, F_OK) == 0;
}

/* @proc's parent is known: the child runs its parent's image until it execs, and a flow
 * leads from the parent's span at the fork to the child's first span */
static void
tldrs_proctrace_link(TldrsProcTrace *self, TldrsProc *proc, pid_t ppid)
{
	TldrsProc *pproc = g_hash_table_lookup(self->procs, GINT_TO_POINTER(ppid));
	guint64 flow;

	proc->ppid = ppid;
	if (pproc == NULL || !pproc->has_image)
		return;
	proc->linked = TRUE;
	if (!proc->has_image) {
		proc->name = g_strdup(pproc->name);
		proc->args = g_strdup(pproc->args);
		proc->has_image = TRUE;
	}
	flow = self->next_flow++;
	g_string_append_printf(
	        self->out,
	        "{\"ph\":\"s\",\"name\":\"fork\",\"cat\":\"process\",\"id\":%" G_GUINT64_FORMAT
	        ",\"ts\":%" G_GINT64_FORMAT ",\"pid\":%d,\"tid\":%d}\n"
	        "{\"ph\":\"f\",\"bp\":\"e\",\"name\":\"fork\",\"cat\":\"process\","
	        "\"id\":%" G_GUINT64_FORMAT ",\"ts\":%" G_GINT64_FORMAT ",\"pid\":%d,\"tid\":%d}\n",
	        flow,
	        proc->start,
	        (int)ppid,
	        (int)ppid,
	        flow,
	        proc->start,
	        (int)proc->pid,
	        (int)proc->pid);
}

/* a task that stopped before its creator's fork event told us of it */
static void
tldrs_proctrace_learn(TldrsProcTrace *self, pid_t tid)
{
	char path[64];
	g_autofree char *status = NULL;
	const char *p;
	pid_t tgid = tid;
	pid_t ppid = 0;

	if (g_hash_table_contains(self->procs, GINT_TO_POINTER(tid)) ||
	    g_hash_table_contains(self->threads, GINT_TO_POINTER(tid)))
		return;
	g_snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	if (g_file_get_contents(path, &status, NULL, NULL)) {
		if ((p = strstr(status, "\nTgid:")) != NULL)
			tgid = (pid_t)g_ascii_strtoll(p + 6, NULL, 10);
		if ((p = strstr(status, "\nPPid:")) != NULL)
			ppid = (pid_t)g_ascii_strtoll(p + 6, NULL, 10);
	}
	if (tgid != tid && tgid > 0) {
		g_hash_table_insert(self->threads, GINT_TO_POINTER(tid), GINT_TO_POINTER(tgid));
	} else {
		TldrsProc *proc = tldrs_proctrace_add_proc(self, tid, 0);
		tldrs_proctrace_link(self, proc, ppid);
	}
	if (self->detaching)
		g_hash_table_insert(self->detach, GINT_TO_POINTER(tid), GINT_TO_POINTER(tid));
}

/* @parent forked, vforked or cloned @child */
static void
tldrs_proctrace_new_task(TldrsProcTrace *self, pid_t parent, pid_t child, int event)
{
	pid_t ptgid = tldrs_proctrace_tgid(self, parent);
	TldrsProc *proc;

	if (event == PTRACE_EVENT_CLONE && tldrs_proctrace_is_thread_of(child, ptgid)) {
		/* it may have stopped first and been taken for a process */
		g_hash_table_remove(self->procs, GINT_TO_POINTER(child));
		g_hash_table_insert(self->threads, GINT_TO_POINTER(child), GINT_TO_POINTER(ptgid));
		return;
	}
	proc = g_hash_table_lookup(self->procs, GINT_TO_POINTER(child));
	if (proc == NULL) {
		/* it stopped, ran and ended before this event came */
		if (g_hash_table_remove(self->gone, GINT_TO_POINTER(child)))
			return;
		proc = tldrs_proctrace_add_proc(self, child, ptgid);
		if (self->detaching)
			g_hash_table_insert(
			        self->detach, GINT_TO_POINTER(child), GINT_TO_POINTER(child));
	}
	proc->fork_seen = TRUE;
	if (!proc->linked)
		tldrs_proctrace_link(self, proc, ptgid);
}

static void
tldrs_proctrace_exec(TldrsProcTrace *self, pid_t pid)
{
	unsigned long former = 0;
	TldrsProc *proc;
	gint64 now = g_get_monotonic_time();

	/* a thread that execs takes over its leader's pid */
	if (ptrace(PTRACE_GETEVENTMSG, pid, NULL, &former) == 0 && (pid_t)former != pid)
		g_hash_table_remove(self->threads, GINT_TO_POINTER((pid_t)former));
	proc = g_hash_table_lookup(self->procs, GINT_TO_POINTER(pid));
	if (proc == NULL)
		proc = tldrs_proctrace_add_proc(self, pid, 0);
	tldrs_proctrace_end_span(self, proc, now, "\"ended_by\":\"exec\"");
	proc->start = now;
	tldrs_proctrace_read_image(proc);
}

static void
tldrs_proctrace_warn_ptrace(TldrsProcTrace *self, pid_t pid)
{
	g_autofree char *comm = NULL;
	char path[64];
	if (self->warned_ptrace)
		return;
	self->warned_ptrace = TRUE;
	g_snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	if (g_file_get_contents(path, &comm, NULL, NULL))
		g_strchomp(comm);
	g_printerr(_("tldrs: run: %s (pid %d) uses ptrace itself: the processes it traces are "
	             "not recorded\n"),
	           comm != NULL ? comm : "?",
	           (int)pid);
}

/* let @tid go (from a ptrace-stop), delivering @sig; a process leader's span ends */
static void
tldrs_proctrace_detach(TldrsProcTrace *self, pid_t tid, int sig, const char *how)
{
	gpointer waiter = NULL;
	TldrsProc *proc = g_hash_table_lookup(self->procs, GINT_TO_POINTER(tid));

	if (proc != NULL)
		tldrs_proctrace_end_proc(self, proc, how);
	g_hash_table_remove(self->threads, GINT_TO_POINTER(tid));
	ptrace(PTRACE_DETACH, tid, NULL, GINT_TO_POINTER(sig));
	if (g_hash_table_steal_extended(self->detach, GINT_TO_POINTER(tid), NULL, &waiter) &&
	    GPOINTER_TO_INT(waiter) != tid)
		ptrace(PTRACE_CONT, GPOINTER_TO_INT(waiter), NULL, NULL);
}

/* our filter stopped a process in ptrace(TRACEME, ATTACH or SEIZE): let its target go */
static void
tldrs_proctrace_seccomp(TldrsProcTrace *self, pid_t pid)
{
	struct __ptrace_syscall_info info;
	unsigned long mark = 0;
	long request;
	pid_t target;

	memset(&info, 0, sizeof info);
	if (ptrace(PTRACE_GETEVENTMSG, pid, NULL, &mark) != 0 ||
	    mark != TLDRS_PROCTRACE_SECCOMP_MARK ||
	    ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info) <= 0 ||
	    info.op != PTRACE_SYSCALL_INFO_SECCOMP) {
		ptrace(PTRACE_CONT, pid, NULL, NULL);
		return;
	}
	request = (long)info.seccomp.args[0];
	target = (pid_t)info.seccomp.args[1];
	if (request == PTRACE_TRACEME) {
		tldrs_proctrace_warn_ptrace(self, pid);
		tldrs_proctrace_detach(self, pid, 0, "\"detached\":\"traced by its parent\"");
		return;
	}
	if (target > 0 && target != pid &&
	    (g_hash_table_contains(self->procs, GINT_TO_POINTER(target)) ||
	     g_hash_table_contains(self->threads, GINT_TO_POINTER(target)))) {
		tldrs_proctrace_warn_ptrace(self, pid);
		/* the caller waits in its stop until the target is let go */
		g_hash_table_insert(self->detach, GINT_TO_POINTER(target), GINT_TO_POINTER(pid));
		if (ptrace(PTRACE_INTERRUPT, target, NULL, NULL) == 0)
			return;
		g_hash_table_remove(self->detach, GINT_TO_POINTER(target));
	}
	ptrace(PTRACE_CONT, pid, NULL, NULL);
}

static gboolean
tldrs_proctrace_is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* one report of waitpid(); @suppress_stops: SIGCONT came since these stops were dequeued,
 * and the kernel would have discarded them */
static void
tldrs_proctrace_handle(TldrsProcTrace *self, pid_t pid, int status, gboolean suppress_stops)
{
	int event = status >> 16;
	int sig;

	if (g_hash_table_contains(self->others, GINT_TO_POINTER(pid))) {
		if (WIFEXITED(status) || WIFSIGNALED(status))
			g_hash_table_insert(
			        self->others, GINT_TO_POINTER(pid), GINT_TO_POINTER(status + 1));
		return;
	}
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		TldrsProc *proc = g_hash_table_lookup(self->procs, GINT_TO_POINTER(pid));
		gpointer waiter = NULL;
		if (pid == self->top) {
			self->top_exited = TRUE;
			self->top_status = status;
		}
		if (proc != NULL) {
			g_autofree char *how = tldrs_proctrace_describe_status(status);
			tldrs_proctrace_end_proc(self, proc, how);
		}
		g_hash_table_remove(self->threads, GINT_TO_POINTER(pid));
		if (g_hash_table_steal_extended(
		            self->detach, GINT_TO_POINTER(pid), NULL, &waiter) &&
		    GPOINTER_TO_INT(waiter) != pid)
			ptrace(PTRACE_CONT, GPOINTER_TO_INT(waiter), NULL, NULL);
		return;
	}
	if (!WIFSTOPPED(status) || !self->follow)
		return;
	sig = WSTOPSIG(status);
	tldrs_proctrace_learn(self, pid);

	if (event == 0 || event == PTRACE_EVENT_STOP) {
		/* a signal-delivery-stop (event 0) or a group-stop or an attach stop */
		gboolean group_stop =
		        event == PTRACE_EVENT_STOP && tldrs_proctrace_is_stop_signal(sig);
		int deliver = event == 0 ? sig : 0;
		if (g_hash_table_contains(self->detach, GINT_TO_POINTER(pid))) {
			tldrs_proctrace_detach(self,
			                       pid,
			                       deliver,
			                       self->detaching ? "\"still_running\":true"
			                                       : "\"detached\":\"traced by another "
			                                         "process\"");
			return;
		}
		if (suppress_stops && tldrs_proctrace_is_stop_signal(sig)) {
			ptrace(PTRACE_CONT, pid, NULL, NULL);
			return;
		}
		if (group_stop)
			ptrace(PTRACE_LISTEN, pid, NULL, NULL);
		else
			ptrace(PTRACE_CONT, pid, NULL, GINT_TO_POINTER(deliver));
		return;
	}
	switch (event) {
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
	case PTRACE_EVENT_CLONE: {
		unsigned long child = 0;
		if (ptrace(PTRACE_GETEVENTMSG, pid, NULL, &child) == 0 && child > 0)
			tldrs_proctrace_new_task(self, pid, (pid_t)child, event);
		break;
	}
	case PTRACE_EVENT_EXEC:
		tldrs_proctrace_exec(self, pid);
		break;
	case PTRACE_EVENT_SECCOMP:
		tldrs_proctrace_seccomp(self, pid);
		return;
	default:
		break;
	}
	if (g_hash_table_contains(self->detach, GINT_TO_POINTER(pid)))
		tldrs_proctrace_detach(self, pid, 0, "\"still_running\":true");
	else
		ptrace(PTRACE_CONT, pid, NULL, NULL);
}

/* everything already reported, without waiting */
static void
tldrs_proctrace_drain(TldrsProcTrace *self, gboolean suppress_stops)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG | __WALL)) > 0)
		tldrs_proctrace_handle(self, pid, status, suppress_stops);
}

/* the command exited: every process it left running goes on untraced, its span ended now */
static void
tldrs_proctrace_let_go(TldrsProcTrace *self)
{
	GHashTableIter iter;
	gpointer key;
	gint64 deadline = g_get_monotonic_time() + G_USEC_PER_SEC;
	g_autoptr(GArray) tids = g_array_new(FALSE, FALSE, sizeof(pid_t));

	self->detaching = TRUE;
	for (guint t = 0; t < 2; t++) {
		g_hash_table_iter_init(&iter, t == 0 ? self->procs : self->threads);
		while (g_hash_table_iter_next(&iter, &key, NULL)) {
			pid_t tid = GPOINTER_TO_INT(key);
			g_array_append_val(tids, tid);
		}
	}
	for (guint i = 0; i < tids->len; i++) {
		pid_t tid = g_array_index(tids, pid_t, i);
		g_hash_table_insert(self->detach, GINT_TO_POINTER(tid), GINT_TO_POINTER(tid));
		ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
	}
	while (g_hash_table_size(self->detach) > 0 && g_get_monotonic_time() < deadline) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG | __WALL);
		if (pid > 0)
			tldrs_proctrace_handle(self, pid, status, FALSE);
		else if (pid < 0 && errno == ECHILD)
			break;
		else
			g_usleep(1000);
	}
	/* what did not stop in time is let go by the kernel when we exit */
	g_array_set_size(tids, 0);
	g_hash_table_iter_init(&iter, self->procs);
	while (g_hash_table_iter_next(&iter, &key, NULL)) {
		pid_t pid = GPOINTER_TO_INT(key);
		g_array_append_val(tids, pid);
	}
	for (guint i = 0; i < tids->len; i++)
		tldrs_proctrace_end_proc(
		        self,
		        g_hash_table_lookup(self->procs,
		                            GINT_TO_POINTER(g_array_index(tids, pid_t, i))),
		        "\"still_running\":true");
}

/* runs in the child between fork and exec: async-signal-safe calls only */
static void
tldrs_proctrace_child_report(int fd, char kind, int err)
{
	char msg[1 + sizeof(int)];
	msg[0] = kind;
	memcpy(msg + 1, &err, sizeof err);
	if (write(fd, msg, sizeof msg) < 0)
		return;
}

static gboolean
tldrs_proctrace_child_seccomp(void)
{
#ifdef TLDRS_PROCTRACE_AUDIT_ARCH
	struct sock_filter filter[] = {
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TLDRS_PROCTRACE_AUDIT_ARCH, 1, 0),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ptrace, 1, 0),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PTRACE_TRACEME, 3, 0),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PTRACE_ATTACH, 2, 0),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PTRACE_SEIZE, 1, 0),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | TLDRS_PROCTRACE_SECCOMP_MARK),
	};
	struct sock_fprog prog = {G_N_ELEMENTS(filter), filter};
	/* without privileges a filter needs no_new_privs; a traced process gains none on exec
	 * anyway (set-user-ID bits are ignored under ptrace) */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return FALSE;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0;
#else
	return FALSE;
#endif
}

static void
tldrs_proctrace_install_handlers(pid_t child)
{
	struct sigaction sa;
	tldrs_proctrace_forward_pid = child;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: a signal ends the wait, so SIGCONT is seen at once */
	sa.sa_flags = SA_SIGINFO;
	sa.sa_sigaction = tldrs_proctrace_forward;
	for (guint i = 0; i < G_N_ELEMENTS(tldrs_proctrace_forwarded); i++)
		sigaction(tldrs_proctrace_forwarded[i], &sa, NULL);
	sa.sa_flags = 0;
	sa.sa_handler = tldrs_proctrace_cont;
	sigaction(SIGCONT, &sa, NULL);
}

static void
tldrs_proctrace_restore_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	for (guint i = 0; i < G_N_ELEMENTS(tldrs_proctrace_forwarded); i++)
		sigaction(tldrs_proctrace_forwarded[i], &sa, NULL);
	sigaction(SIGCONT, &sa, NULL);
	tldrs_proctrace_forward_pid = 0;
}

gboolean
tldrs_proctrace_spawn(TldrsProcTrace *self,
                      const char *file,
                      char **argv,
                      char **envp,
                      GError **error)
{
	int go[2], report[2];
	struct sigaction pipe_action;
	sigset_t all, old;
	char msg[1 + sizeof(int)];
	gsize got = 0;
	pid_t pid;
	int err = 0;

	g_return_val_if_fail(self->top == 0, FALSE);
	if (!g_unix_open_pipe(go, FD_CLOEXEC, error) ||
	    !g_unix_open_pipe(report, FD_CLOEXEC, error))
		return FALSE;
	/* GSocket ignores SIGPIPE in this process; the command gets it as we got it */
	sigaction(SIGPIPE, NULL, &pipe_action);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		struct sigaction dfl;
		char c = 'n';
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP && s != SIGPIPE)
				sigaction(s, &dfl, NULL);
		if (pipe_action.sa_handler == SIG_IGN)
			signal(SIGPIPE, SIG_IGN);
		else
			signal(SIGPIPE, SIG_DFL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		close(go[1]);
		close(report[0]);
		while (read(go[0], &c, 1) < 0 && errno == EINTR)
			;
		if (c == 's' && !tldrs_proctrace_child_seccomp())
			tldrs_proctrace_child_report(report[1], 's', errno);
		execve(file, argv, envp);
		tldrs_proctrace_child_report(report[1], 'e', errno);
		_exit(127);
	}
	if (pid < 0)
		err = errno;
	else
		tldrs_proctrace_install_handlers(pid);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(go[0]);
	close(report[1]);
	if (pid < 0) {
		close(go[1]);
		close(report[0]);
		g_set_error(error,
		            G_IO_ERROR,
		            g_io_error_from_errno(err),
		            _("cannot start a process: %s"),
		            g_strerror(err));
		return FALSE;
	}
	self->top = pid;
	if (self->follow) {
		long opts = PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
		            PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP;
		if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)opts) != 0) {
			g_printerr(_("tldrs: run: cannot follow the processes of %s (%s): only the "
			             "command itself is recorded\n"),
			           argv[0],
			           g_strerror(errno));
			self->follow = FALSE;
		} else {
			TldrsProc *proc = tldrs_proctrace_add_proc(self, pid, getpid());
			proc->fork_seen = TRUE;
			proc->linked = TRUE;
		}
	}
	if (write(go[1], self->follow ? "s" : "n", 1) < 0)
		g_debug("cannot release the child: %s", g_strerror(errno));
	close(go[1]);
	/* the report pipe closes on a successful exec */
	while (got < sizeof msg) {
		gssize n = read(report[0], msg + got, sizeof msg - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (gsize)n;
		if (got == sizeof msg && msg[0] == 's') {
			/* seccomp refused: the command still runs, gdb and strace in it do not */
			g_debug("no seccomp filter for ptrace calls");
			got = 0;
		}
	}
	close(report[0]);
	if (got == sizeof msg && msg[0] == 'e') {
		int status;
		memcpy(&err, msg + 1, sizeof err);
		while (waitpid(pid, &status, __WALL) == pid && !WIFEXITED(status) &&
		       !WIFSIGNALED(status))
			if (WIFSTOPPED(status))
				ptrace(PTRACE_CONT, pid, NULL, NULL);
		tldrs_proctrace_restore_handlers();
		g_hash_table_remove_all(self->procs);
		self->top = 0;
		g_set_error_literal(error, G_IO_ERROR, g_io_error_from_errno(err), g_strerror(err));
		return FALSE;
	}
	return TRUE;
}

/* until the command exits; returns its wait status */
int
tldrs_proctrace_run(TldrsProcTrace *self)
{
	g_return_val_if_fail(self->top > 0, -1);
	while (!self->top_exited) {
		int status;
		pid_t pid;
		if (tldrs_proctrace_continued) {
			tldrs_proctrace_continued = 0;
			if (self->follow)
				tldrs_proctrace_drain(self, TRUE);
			continue;
		}
		pid = waitpid(self->follow ? -1 : self->top, &status, __WALL);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			/* ECHILD: nothing left to wait for */
			g_warning("waitpid: %s", g_strerror(errno));
			self->top_exited = TRUE;
			self->top_status = 1 << 8;
			break;
		}
		if (!self->follow && pid == self->top) {
			if (WIFEXITED(status) || WIFSIGNALED(status)) {
				self->top_exited = TRUE;
				self->top_status = status;
			}
			continue;
		}
		tldrs_proctrace_handle(self, pid, status, FALSE);
	}
	tldrs_proctrace_restore_handlers();
	if (self->follow) {
		tldrs_proctrace_let_go(self);
		tldrs_proctrace_sort_tracks(self);
	}
	tldrs_proctrace_flush_out(self, TRUE);
	return self->top_status;
}
