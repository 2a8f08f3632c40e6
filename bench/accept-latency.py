#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Accept latency of `tldrs serve` with many idle connections (docs/performance.md):
#   bench/accept-latency.py build/src/tldrs 10000 200
# holds N idle connections (each sent OPEN), then SAMPLES times: connect, send OPEN and
# AWAIT_TEF, and time until the daemon's answer AWAITING arrives (accept, read, answer).
import atexit, os, resource, shutil, socket, statistics, subprocess, sys, tempfile, time

tldrs, n_idle, samples = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
tmp = tempfile.mkdtemp(prefix="tldrs-accept-")
atexit.register(shutil.rmtree, tmp, True)
sock = os.path.join(tmp, "tldrs.socket")
conf = os.path.join(tmp, "tldrs.conf")
with open(conf, "w") as f:
    f.write("[Daemon]\nMaxClients=1000000\nDBus=none\n")
env = dict(os.environ, XDG_DATA_HOME=tmp, XDG_CONFIG_HOME=tmp, XDG_CONFIG_DIRS=tmp, TMPDIR=tmp)
daemon = subprocess.Popen(
    [tldrs, "serve", "--config", conf, "--socket", sock, "-d", os.path.join(tmp, "data")],
    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
atexit.register(daemon.kill)
while not os.path.exists(sock):
    time.sleep(0.01)


def connect():
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sock)
            return s
        except (BlockingIOError, FileNotFoundError, ConnectionRefusedError):
            s.close()
            time.sleep(0.001)


idle = []
for i in range(n_idle):
    s = connect()
    s.sendall(b"OPEN tr-idle\n")
    idle.append(s)
while len(os.listdir(f"/proc/{daemon.pid}/fd")) < n_idle:
    time.sleep(0.05)
time.sleep(0.5)
lat = []
for i in range(samples):
    t0 = time.perf_counter()
    s = connect()
    s.sendall(f"OPEN tr-lat-{i}\nAWAIT_TEF {tmp}/lat-{i}.json\n".encode())
    buf = b""
    while not buf.endswith(b"\n"):
        buf += s.recv(100)
    lat.append((time.perf_counter() - t0) * 1000)
    assert buf.startswith(b"AWAITING"), buf
    s.close()
    time.sleep(0.02)
lat.sort()
print(f"{n_idle} idle connections, {samples} samples: median {statistics.median(lat):.2f} ms, "
      f"p90 {lat[len(lat) * 9 // 10]:.2f} ms, max {lat[-1]:.2f} ms")
