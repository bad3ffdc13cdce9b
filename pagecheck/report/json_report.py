"""--format json: one document with findings, diagnostics and counts."""

from __future__ import annotations

import json
from collections import Counter

from .. import __version__
from ..source import relpath as _rel  # also used by the text and SARIF reporters


def document(result, rules) -> dict:
    root = result.root
    return {
        "tool": {"name": "pagecheck", "version": __version__},
        "root": root,
        "findings": [
            {
                "rule": f.rule,
                "name": rules.get(f.rule).name if rules.get(f.rule) else "",
                "severity": f.severity,
                "path": _rel(f.path, root),
                "line": f.line,
                "column": f.col,
                "function": f.function,
                "value": f.value,
                "roles": list(f.roles),
                "message": f.message,
                "fingerprint": f.fingerprint,
                "evidence": [
                    {"path": _rel(s.path, root), "line": s.line, "column": s.col, "message": s.message}
                    for s in f.evidence
                ],
            }
            for f in result.findings
        ],
        "diagnostics": [
            {"path": _rel(d.path, root), "reason": d.reason, "detail": d.detail} for d in result.diagnostics
        ],
        "unused_ignores": [
            {"path": _rel(ig.path, root), "line": ig.line, "rules": list(ig.ids), "reason": why}
            for ig, why in result.unused_ignores
        ],
        "statistics": dict(sorted(Counter(f.rule for f in result.findings).items())),
        "files": result.stats,
    }


def render(result, rules, **_kw) -> str:
    return json.dumps(document(result, rules), indent=2) + "\n"
