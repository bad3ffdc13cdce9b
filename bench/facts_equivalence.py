"""Show that facts extraction (and the worker → parent wire) give exactly the same facts as before a change.

    # 1. with the old code, e.g. an export of the commit before the change:
    mkdir /tmp/old && git archive HEAD~1 | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python bench/facts_equivalence.py /path/to/linux --subdir mm --save /tmp/facts-old.json.gz
    # 2. with the new code:
    python bench/facts_equivalence.py /path/to/linux --subdir mm --compare /tmp/facts-old.json.gz

Every .c/.h file under the subdirectories (all of the tree without --subdir;
--limit N: the first N) that the prefilter keeps is extracted twice: the whole
file with every function analysed (no plan), and as a run parses it (the
prefilter's plan, every weak-only function kept).  `--save` writes those facts
as codec JSON; `--compare` extracts again and compares each FileFacts with
`==` (every field, recursively), and checks that the wire format
(pagecheck/wire.py, when present) gives back equal facts.  Prints the first
differences and exits 1 if there are any.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time

from pagecheck import codec, layouts, model as model_mod, source
from pagecheck import facts as facts_mod
from pagecheck.prefilter import Prefilter, Terms


def _first_difference(a, b, where: str = "") -> str:
    """Where two encoded values first differ (a readable pointer into the facts)."""
    if type(a) is not type(b):
        return f"{where}: {a!r:.80} != {b!r:.80}"
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{where}[{i}]")
    return f"{where}: {a!r:.80} != {b!r:.80}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree")
    ap.add_argument("--subdir", action="append", default=[])
    ap.add_argument("--limit", type=int, default=0)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", metavar="FILE")
    g.add_argument("--compare", metavar="FILE")
    a = ap.parse_args()
    sys.setrecursionlimit(10000)

    model = model_mod.load_model()
    model = layouts.apply(model, layouts.read(a.tree, model))
    prefilter = Prefilter(Terms.from_model(model))
    files, _ = source.discover([os.path.join(a.tree, s) for s in a.subdir] or [a.tree])
    if a.limit:
        files = files[:a.limit]

    got: dict[str, list] = {}
    t0 = time.perf_counter()
    n = 0
    for path in files:
        src = source.read_source(path)
        if isinstance(src, source.Skipped):
            continue
        plan = prefilter.plan(src.data, None)
        if plan is None:
            continue
        n += 1
        whole = facts_mod.extract(source.SourceFile(src.path, src.data))
        planned = facts_mod.extract(source.SourceFile(src.path, src.data), plan)
        got[path] = [whole, planned]
    took = time.perf_counter() - t0
    n_functions = sum(len(ff.functions) for pair in got.values() for ff in pair)
    print(f"{n} files extracted twice ({n_functions} functions) in {took:.1f}s", file=sys.stderr)

    if a.save:
        data = {p: [codec.encode(ff, facts_mod.FileFacts) for ff in pair] for p, pair in got.items()}
        with gzip.open(a.save, "wt") as fh:
            json.dump(data, fh)
        print(f"saved {a.save}", file=sys.stderr)
        return 0

    with gzip.open(a.compare, "rt") as fh:
        old = json.load(fh)
    try:
        from pagecheck import wire
    except ImportError:
        wire = None
    problems = []
    if set(old) != set(got):
        problems.append(f"different files: only old {sorted(set(old) - set(got))[:5]}, "
                        f"only new {sorted(set(got) - set(old))[:5]}")
    for path in sorted(set(old) & set(got)):
        for kind, enc, ff in zip(("whole file", "planned"), old[path], got[path]):
            if codec.decode(enc, facts_mod.FileFacts) != ff:
                new = json.loads(json.dumps(codec.encode(ff, facts_mod.FileFacts)))
                problems.append(f"{path} ({kind}) {_first_difference(enc, new)}")
            if wire is not None and wire.loads(wire.dumps(ff, facts_mod.FileFacts), facts_mod.FileFacts) != ff:
                problems.append(f"{path} ({kind}): wire round trip differs")
    for p in problems[:20]:
        print(p)
    print(f"{len(set(old) & set(got))} files compared ({n_functions} functions): "
          f"{len(problems)} differences" + ("" if wire is None else ", wire round trips checked"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
