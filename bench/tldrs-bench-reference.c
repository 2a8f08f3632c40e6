/* SPDX-License-Identifier: LGPL-2.1-or-later
 * Copyright 2026 the tldrs authors */

#define G_LOG_DOMAIN "tldrs-bench"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tldrs-bench.h"

/* The trivial reference server, `tldrs-bench --internal-reference SOCKET FILE`: the least a
 * collector has to do. It accepts connections, reads at most 256 KiB from a readable one,
 * appends the complete lines of what it has to FILE with one write(2), and keeps the
 * incomplete last line for the next read. No parsing, no checking, no batching across
 * reads, no OPEN: every line goes to the one file, so events of one connection keep their
 * order and lines never interleave. One thread, epoll, blocking I/O; SIGTERM ends it. */

#define BENCH_REF_READ (256 * 1024)

typedef struct {
	int fd;
	char *partial;
	size_t len;
} BenchRefConn;

static void
bench_ref_write(int out, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(out, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("reference server: write");
			exit(1);
		}
		data += n;
		len -= (size_t)n;
	}
}

int
bench_reference_main(const char *socket_path, const char *file_path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct epoll_event events[64];
	struct rlimit rl;
	size_t cap = BENCH_REF_READ + 4096;
	char *buf = malloc(cap);
	int out = open(file_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

	if (buf == NULL || out < 0 || lfd < 0 || ep < 0) {
		perror("reference server");
		return 1;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	g_strlcpy(addr.sun_path, socket_path, sizeof(addr.sun_path));
	unlink(socket_path);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(lfd, 4096) != 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0) {
		perror("reference server: listen");
		return 1;
	}
	for (;;) {
		int n = epoll_wait(ep, events, G_N_ELEMENTS(events), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("reference server: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			BenchRefConn *c = events[i].data.ptr;
			ssize_t r;
			size_t have;
			char *nl;

			if (c == NULL) {
				int cfd;
				while ((cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
					struct epoll_event cev = {.events = EPOLLIN};
					c = calloc(1, sizeof(*c));
					c->fd = cfd;
					cev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
				}
				continue;
			}
			if (c->len + BENCH_REF_READ > cap) {
				cap = c->len + BENCH_REF_READ;
				buf = realloc(buf, cap);
			}
			memcpy(buf, c->partial, c->len);
			r = read(c->fd, buf + c->len, BENCH_REF_READ);
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				/* an unfinished last line is dropped */
				close(c->fd);
				free(c->partial);
				free(c);
				continue;
			}
			have = c->len + (size_t)r;
			nl = memrchr(buf, '\n', have);
			if (nl != NULL) {
				size_t upto = (size_t)(nl - buf) + 1;
				bench_ref_write(out, buf, upto);
				c->len = have - upto;
				c->partial = realloc(c->partial, c->len + 1);
				memcpy(c->partial, buf + upto, c->len);
			} else {
				c->partial = realloc(c->partial, have + 1);
				memcpy(c->partial, buf, have);
				c->len = have;
			}
		}
	}
}

/* The least a get-tef that reads can do, `tldrs-bench --internal-copy SRC DST`: read 512 KiB
 * at a time (get-tef's buffer), copy it once in user space (where get-tef puts the commas)
 * and write it. It copies the bytes unchanged; only its time matters. */
#define BENCH_COPY_CHUNK (512 * 1024)

int
bench_copy_reference_main(const char *src, const char *dst)
{
	char *in = malloc(BENCH_COPY_CHUNK);
	char *out = malloc(BENCH_COPY_CHUNK);
	int ifd = open(src, O_RDONLY | O_CLOEXEC);
	int ofd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (in == NULL || out == NULL || ifd < 0 || ofd < 0) {
		perror("copy reference: open");
		return 1;
	}
	for (;;) {
		ssize_t n = read(ifd, in, BENCH_COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("copy reference: read");
			return 1;
		}
		if (n == 0)
			break;
		memcpy(out, in, (size_t)n);
		bench_ref_write(ofd, out, (size_t)n);
	}
	if (close(ofd) != 0) {
		perror("copy reference: close");
		return 1;
	}
	close(ifd);
	free(in);
	free(out);
	return 0;
}
