"""Benchmark pagecheck on a real kernel tree, with `grep -r` over the same files as the yardstick.

    python bench/bench.py /path/to/linux [--jobs 2] [--repeat 3] [--file mm/slub.c]

Runs, each as a fresh process (interpreter start included):

  grep    grep -r over the tree's .c/.h files (reads every byte once)
  cold    pagecheck check TREE with an empty cache directory
  warm    the same again: nothing changed, the cache answers
  one     pagecheck check TREE/FILE with an empty cache: one changed file, as pre-commit runs it

and prints wall time, CPU time (user+sys of the whole process tree), the peak of
the *sum* of resident memory over all processes of the run (parent and
workers, sampled every 20 ms from /proc), files/s, MB/s and the ratio to grep.
With --repeat N every run is repeated N times and the median is shown.

Needs Linux (/proc).  Benchmarks live here, never in the timed test suite.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PAGECHECK = [sys.executable, "-m", "pagecheck.cli"]


def tree_files(root: str) -> tuple[int, int]:
    """Number and total size of the .c/.h files pagecheck would walk."""
    n = size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            if f.endswith((".c", ".h")):
                try:
                    size += os.lstat(os.path.join(dirpath, f)).st_size
                    n += 1
                except OSError:
                    pass
    return n, size


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _tree_rss(pid: int) -> int:
    """Resident bytes of pid and all its descendants, now."""
    kids = _children()
    total, todo = 0, [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * page
        except OSError:
            pass
        todo.extend(kids.get(p, ()))
    return total


def measure(cmd: list[str], cwd: str | None = None) -> dict:
    """Wall, CPU (user+sys of the process and its children) and peak summed RSS of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            stop.wait(0.02)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode(errors='replace')[-2000:]}")
    return {"wall": wall, "cpu": cpu, "peak": peak}


def median_of(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree", help="kernel source tree (or any directory of C)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="repeat each run and show the median")
    ap.add_argument("--file", default=None, help="the one changed file, relative to the tree [default: mm/slub.c "
                                                  "or the first .c file]")
    ap.add_argument("--subdir", action="append", default=[],
                    help="check only these subdirectories of the tree (repeatable), e.g. mm --subdir net")
    args = ap.parse_args()

    tree = os.path.abspath(args.tree)
    targets = [os.path.join(tree, s) for s in args.subdir] or [tree]
    n, size = 0, 0
    for t in targets:
        a, b = tree_files(t)
        n, size = n + a, size + b
    one = args.file or ("mm/slub.c" if os.path.isfile(os.path.join(tree, "mm/slub.c")) else None)
    if one is None:
        one = next(os.path.relpath(os.path.join(d, f), tree) for d, _, fs in os.walk(tree) for f in sorted(fs)
                   if f.endswith(".c"))
    mb = size / 1e6
    print(f"tree: {tree}  targets: {' '.join(os.path.relpath(t, tree) for t in targets) or '.'}")
    print(f"files: {n} .c/.h, {mb:.0f} MB; cores: {os.cpu_count()}; jobs: {args.jobs}; "
          f"load average: {os.getloadavg()[0]:.2f}")

    grep_cmd = ["grep", "-r", "-c", "--include=*.c", "--include=*.h", "-F", "struct page", *targets]
    check = [*PAGECHECK, "check", "--isolated", "--jobs", str(args.jobs), "--format", "json"]
    rows: dict[str, list[dict]] = {"grep": [], "cold": [], "warm": [], "one": []}
    for _ in range(args.repeat):
        rows["grep"].append(measure(grep_cmd))
        cache = tempfile.mkdtemp(prefix="pagecheck-bench-")
        try:
            rows["cold"].append(measure([*check, "--cache-dir", cache, *targets]))
            rows["warm"].append(measure([*check, "--cache-dir", cache, *targets]))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        cache = tempfile.mkdtemp(prefix="pagecheck-bench-")
        try:
            rows["one"].append(measure([*PAGECHECK, "check", "--isolated", "--cache-dir", cache,
                                        os.path.join(tree, one)]))
        finally:
            shutil.rmtree(cache, ignore_errors=True)

    grep = median_of(rows["grep"])
    print(f"\n{'run':6s} {'wall s':>8s} {'CPU s':>8s} {'peak MB':>8s} {'files/s':>9s} {'MB/s':>7s} {'x grep':>7s}")
    for name, runs in rows.items():
        m = median_of(runs)
        files = 1 if name == "one" else n
        size_mb = (os.path.getsize(os.path.join(tree, one)) / 1e6) if name == "one" else mb
        ratio = m["wall"] / grep["wall"] if grep["wall"] else float("nan")
        print(f"{name:6s} {m['wall']:8.2f} {m['cpu']:8.2f} {m['peak'] / 1e6:8.0f} {files / m['wall']:9.0f} "
              f"{size_mb / m['wall']:7.1f} {ratio:7.1f}")
    if args.repeat > 1:
        print(f"(medians of {args.repeat} runs)")
    print(f"one = {one}")


if __name__ == "__main__":
    main()
