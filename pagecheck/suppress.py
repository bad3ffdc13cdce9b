"""Stage 6 — suppress, after the run: per-path ignores, baseline, changed lines.

Inline `/* pagecheck: ignore[...] */` comments are applied in runner.py,
where the fingerprints are computed; what is left is applied here, on plain
data, in an order that matters: the baseline sees every finding before the
diff filter drops any, so a baseline entry is claimed by the finding it was
written for and never re-used for a new finding elsewhere.
"""

from __future__ import annotations

from dataclasses import replace

import os

from .baseline import Baseline
from .config import Config, per_path_ignored
from .diffmode import ChangedLines
from .source import relpath


def apply(result, cfg: Config, baseline: Baseline | None = None, changed: ChangedLines | None = None,
          report_unused_ignores: bool = True, rule_ids: set[str] | None = None):
    """A copy of the RunResult with the filters applied; counts of what each removed go in stats.

    rule_ids: the selected rules, so that baseline entries of other rules are not called stale."""
    findings = [f for f in result.findings if not per_path_ignored(cfg, f.path, f.rule)]
    stats = dict(result.stats)
    if len(findings) != len(result.findings):
        stats["per_path_ignored"] = len(result.findings) - len(findings)
    if baseline is not None:
        before = len(findings)
        analysed = {relpath(r.path, result.root) for r in result.files if r.status == "analysed"}

        def in_scope(entry) -> bool:
            return (entry["path"] in analysed and (rule_ids is None or entry["rule"] in rule_ids)
                    and not per_path_ignored(cfg, os.path.join(result.root, entry["path"]), entry["rule"]))

        findings, stale = baseline.filter(findings, in_scope)
        stats["baselined"] = before - len(findings)
        stats["baseline_stale"] = stale
    unused = list(result.unused_ignores) if report_unused_ignores else []
    if changed is not None:
        before = len(findings)
        findings = [f for f in findings if changed.keeps(f)]
        unused = [(ig, why) for ig, why in unused if changed.touches(ig.path, ig.line)]
        stats["outside_diff"] = before - len(findings)
    return replace(result, findings=findings, unused_ignores=unused, stats=stats)
