"""Fan-out across machines: `--shard K/N` and `pagecheck merge`.

A file belongs to shard `1 + (sha1(path) mod N)`: deterministic, independent of
the file list's order, and a file added to the tree moves no other file.  The
path is the one the report shows (relative to the report root), so every CI
job of a matrix agrees whatever its checkout directory is called.

Whole-tree correctness: a shard still extracts facts for *every* file and runs
the tree-wide phase (struct types, interprocedural summaries, member values)
over all of them; the files of other shards are treated exactly like
`--kernel-tree` helper files — they inform, they are not reported.  So shard K
reports precisely the findings a single run reports for its files, and the
shards' reports merge into the single run's report.  The facts cache makes
the other shards' files cheap when a cache directory is shared (restored from
a previous pipeline, or filled by a first job).

`merge` reads the shards' JSON reports (they carry everything a report needs)
back into one RunResult and renders it with the ordinary reporters, so a
merged SARIF is the SARIF a single run writes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter

# stats that count the reported files: summed over shards.  Every other stat is
# tree-wide (each shard computes the same tree phase over all files, e.g.
# "functions", "summaries") and is taken from the first shard — except the tree
# phase's work counters and timings ("analysis_runs", "reanalysed_for_members",
# "*_seconds"), which count work done for the reported files and are not
# findings: they are the one part of a merged report that differs.
PER_FILE_STATS = ("files", "analysed", "prefiltered", "skipped", "parse_errors", "partly_parsed",
                  "functions_analysed")
PER_FILE_COUNTERS = ("not_analysed",)


class ShardError(ValueError):
    pass


def parse_shard(text: str) -> tuple[int, int]:
    """"2/5" -> (2, 5); shards count from 1."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ShardError(f"--shard wants K/N (like 2/5), got {text!r}") from None
    if n < 1 or not 1 <= k <= n:
        raise ShardError(f"--shard {text}: need 1 <= K <= N")
    return k, n


def shard_of(display_path: str, n: int) -> int:
    h = hashlib.sha1(display_path.replace(os.sep, "/").encode("utf-8", "surrogateescape")).digest()
    return 1 + int.from_bytes(h[:8], "big") % n


def mine(display_path: str, shard: tuple[int, int] | None) -> bool:
    return shard is None or shard_of(display_path, shard[1]) == shard[0]


def walk_order(path: str) -> tuple:
    """Sort key giving source.discover's order: a directory's files (sorted) before
    its subdirectories (sorted), top-down — what os.walk with sorted lists yields."""
    parts = os.path.normpath(path).replace(os.sep, "/").split("/")
    return tuple((1, p) for p in parts[:-1]) + ((0, parts[-1]),)


# --- merge ---------------------------------------------------------------------------------

def load_report(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            doc = json.loads(fh.read())
    except (OSError, ValueError) as exc:
        raise ShardError(f"{path}: not a pagecheck JSON report ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list) or "root" not in doc:
        raise ShardError(f"{path}: not a pagecheck JSON report (write shards with --format json)")
    shard = doc.get("files", {}).get("shard")
    if not shard:
        raise ShardError(f"{path}: not written by a --shard run")
    return doc


def merge_documents(docs: list[dict], names: list[str]):
    """One RunResult from the shards' JSON documents (each shard exactly once)."""
    from .engine import Finding
    from .infer import Step
    from .runner import Ignore, RunResult
    from .source import Skipped

    n = {tuple(d["files"]["shard"])[1] for d in docs}
    if len(n) != 1:
        raise ShardError("the reports come from different --shard N")
    (total,) = n
    seen = Counter(tuple(d["files"]["shard"])[0] for d in docs)
    missing = sorted(set(range(1, total + 1)) - set(seen))
    twice = sorted(k for k, c in seen.items() if c > 1)
    if missing or twice:
        raise ShardError(f"need each of shards 1..{total} once: missing {missing or 'none'}, repeated {twice or 'none'}")
    roots = {d["root"] for d in docs}
    if len(roots) != 1:
        raise ShardError(f"the reports have different roots: {sorted(roots)}")
    (root,) = roots

    def full(p: str) -> str:
        return p if os.path.isabs(p) else os.path.join(root, p)

    findings, diags, unused = [], [], []
    for d in docs:
        for f in d["findings"]:
            findings.append(Finding(f["rule"], full(f["path"]), f["line"], f["column"], f["message"], f["function"],
                                    f["value"], tuple(f["roles"]),
                                    tuple(Step(full(s["path"]), s["line"], s["column"], s["message"])
                                          for s in f["evidence"]),
                                    f["severity"], f["fingerprint"]))
        diags += [Skipped(full(x["path"]), x["reason"], x["detail"]) for x in d["diagnostics"]]
        unused += [(Ignore(full(x["path"]), x["line"], tuple(x["rules"])), x["reason"]) for x in d["unused_ignores"]]
    # a single run lists findings file by file in discovery order, and each file
    # lives in one shard: a stable sort on the discovery order restores it
    findings.sort(key=lambda f: walk_order(f.path))
    unused.sort(key=lambda u: walk_order(u[0].path))
    diags.sort(key=lambda x: x.path)
    stats = dict(docs[0]["files"])
    for key in PER_FILE_STATS:
        if all(isinstance(d["files"].get(key), int) for d in docs):
            stats[key] = sum(d["files"][key] for d in docs)
    for key in PER_FILE_COUNTERS:
        c: Counter = Counter()
        for d in docs:
            c.update(d["files"].get(key) or {})
        stats[key] = dict(sorted(c.items()))
    stats.pop("shard", None)
    return RunResult(findings, [], diags, unused, stats, root)
