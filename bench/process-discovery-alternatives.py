#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# How many processes of an exec storm does polling /proc see? The experiment behind the
# choice of ptrace for `tldrs run` (docs/processes.md). It runs N short processes
# (`/bin/true` from a shell loop, the workload of the bench's run-overhead scenario) and,
# meanwhile, scans /proc as fast as it can (and at 100 Hz), counting the distinct pids
# seen whose parent is the loop's shell. ptrace sees every one of them by construction;
# the test suite checks that for a real `make -j`.
#   python3 bench/process-discovery-alternatives.py [N]
import os
import subprocess
import sys
import time


def children_of(ppid):
    seen = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()
        if int(fields[1]) == ppid:
            seen.add(int(name))
    return seen


def run(n, interval):
    loop = f"i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done"
    sh = subprocess.Popen(["sh", "-c", loop])
    seen = set()
    scans = 0
    t0 = time.monotonic()
    while sh.poll() is None:
        seen |= children_of(sh.pid)
        scans += 1
        if interval:
            time.sleep(interval)
    return len(seen), scans, time.monotonic() - t0


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for label, interval in (("as fast as possible", 0), ("every 10 ms", 0.01)):
        seen, scans, secs = run(n, interval)
        print(f"/proc scanned {label}: {scans} scans in {secs:.2f} s saw {seen} of {n} "
              f"processes ({100.0 * seen / n:.1f} %)")


if __name__ == "__main__":
    main()
