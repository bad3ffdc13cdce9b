"""Show that `--shard K/N` runs merged with `pagecheck merge` equal a single run, on a real tree.

    python bench/shard_equivalence.py /path/to/linux --shards 3 --subdir mm --subdir net

Runs `pagecheck check --format json` once over the targets, then N shard runs
sharing one cache directory (as a CI matrix restoring a shared cache would),
merges them, and compares findings, diagnostics, unused ignores and the
per-file counts; then renders both as SARIF and compares those whole.  Prints
the differences, if any, and exits 1 when there are some.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

PAGECHECK = [sys.executable, "-m", "pagecheck.cli"]
WORK_COUNTERS = ("fixpoint_seconds", "members_seconds", "analysis_runs", "reanalysed_for_members")


def run(args: list[str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run([*PAGECHECK, *args], capture_output=True, text=True)
    if p.returncode not in (0, 1):
        sys.exit(f"pagecheck {' '.join(args)} failed:\n{p.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tree")
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--subdir", action="append", default=[])
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    targets = [os.path.join(a.tree, s) for s in a.subdir] or [a.tree]
    with tempfile.TemporaryDirectory(prefix="pagecheck-shards-") as tmp:
        common = ["check", "--isolated", "--jobs", str(a.jobs), "--format", "json"]
        single = os.path.join(tmp, "single.json")
        t = run([*common, "--no-cache", "-o", single, *targets])
        print(f"single run: {t:.1f} s")
        cache = os.path.join(tmp, "cache")
        shards = []
        for k in range(1, a.shards + 1):
            out = os.path.join(tmp, f"shard{k}.json")
            t = run([*common, "--cache-dir", cache, "--shard", f"{k}/{a.shards}", "-o", out, *targets])
            n = len(json.load(open(out))["findings"])
            print(f"shard {k}/{a.shards}: {t:.1f} s, {n} findings")
            shards.append(out)
        merged = os.path.join(tmp, "merged.json")
        run(["merge", "-o", merged, *shards])
        s, m = json.load(open(single)), json.load(open(merged))
        for doc in (s, m):
            for k in WORK_COUNTERS:
                doc["files"].pop(k, None)
        diffs = [k for k in s if s[k] != m[k]]
        print(f"findings: single {len(s['findings'])}, merged {len(m['findings'])}; "
              f"diagnostics {len(s['diagnostics'])} / {len(m['diagnostics'])}")
        for k in diffs:
            print(f"DIFFERENT: {k}")
        sarif_single, sarif_merged = os.path.join(tmp, "s.sarif"), os.path.join(tmp, "m.sarif")
        run([*common[:-1], "sarif", "--no-cache", "-o", sarif_single, *targets])
        run(["merge", "--format", "sarif", "-o", sarif_merged, *shards])
        ss, ms = json.load(open(sarif_single)), json.load(open(sarif_merged))
        same_sarif = ss == ms
        print("SARIF identical" if same_sarif else "SARIF DIFFERENT")
        print("merged shards == single run" if not diffs and same_sarif else "MISMATCH")
        sys.exit(0 if not diffs and same_sarif else 1)


if __name__ == "__main__":
    main()
