"""Measure the tree-wide phase (layouts, summaries, member values) on a real kernel tree.

    python bench/tree_phase.py ~/linux mm net drivers/net fs [--kernel-tree] [--jobs N] [--json OUT]

Prints the layout read from the tree, findings per rule, how many summaries the
fixpoint produced and what it cost (time, and peak memory of the whole run),
and the helpers learned from code: functions the role model does not list
whose summary gives a parameter a page role or gives the return value a role.
With --json, also writes every finding and learned helper for triage.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pagecheck import runner, summaries  # noqa: E402
from pagecheck.model import load_model  # noqa: E402
from pagecheck.rules import load_rules  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("tree")
    ap.add_argument("subdirs", nargs="*", help="directories of the tree to check (default: all)")
    ap.add_argument("--kernel-tree", action="store_true", help="also pull helpers from the rest of the tree")
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args()

    model = load_model()
    rules = load_rules(model)
    paths = [os.path.join(args.tree, d) for d in args.subdirs] or [args.tree]
    captured = {}
    real = runner.analyse_tree

    def keep(*a, **k):
        captured["tree"] = tree = real(*a, **k)
        return tree

    runner.analyse_tree = keep
    t0 = time.perf_counter()
    res = runner.run(paths, model, rules, runner.Options(jobs=args.jobs,
                                                         kernel_tree=args.tree if args.kernel_tree else None))
    elapsed = time.perf_counter() - t0
    tree: summaries.TreeResult = captured["tree"]

    known = (set(model.source_role) | set(model.helper_roles) | set(model.converters) | set(model.operations)
             | set(model.predicate_role))
    page_roles = {r.id for r in model.roles.values() if r.kind == "page"}
    learned = {}
    for s in tree.summaries.values():
        if s.name in known:
            continue
        param_roles = sorted({u.role for ps in s.params for u in ps if u.role in page_roles})
        ret = [r.role for r in s.returns]
        if param_roles or ret:
            learned[s.name] = {"params": param_roles, "returns": ret,
                               "why": [u.render("") for ps in s.params for u in ps if u.role][:3]
                               + [r.render("") for r in s.returns]}
    st = res.stats
    print(f"layout: {st.get('layout')}")
    print(f"files {st['files']}, functions {st.get('functions')}, elapsed {elapsed:.1f}s, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    for k in ("summaries", "summaries_params", "summaries_returns", "recursive_components", "analysis_runs",
              "fixpoint_seconds", "member_values", "reanalysed_for_members", "members_seconds",
              "helper_files"):
        if k in st:
            print(f"  {k}: {st[k]}")
    by_param = Counter(r for v in learned.values() for r in v["params"])
    by_ret = Counter(r for v in learned.values() for r in v["returns"])
    print(f"helpers learned from code: {len(learned)} (parameter roles {dict(by_param)}; return roles {dict(by_ret)})")
    print("findings:", dict(sorted(Counter(f.rule for f in res.findings).items())))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"stats": st, "learned": learned, "members": {k: v.role for k, v in tree.members.items()},
                       "findings": [{"rule": f.rule, "path": f.path, "line": f.line, "function": f.function,
                                     "message": f.message, "evidence": [(s.path, s.line, s.message)
                                                                         for s in f.evidence]}
                                    for f in res.findings]}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
