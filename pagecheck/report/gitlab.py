"""--format gitlab: GitLab Code Quality JSON (a subset of the Code Climate format).

GitLab shows these in the merge request widget and the diff when a job
publishes the file as `artifacts: reports: codequality`.  GitLab compares the
fingerprints of the merge request's report with the target branch's, so
they must not move with line numbers: they are runner.fingerprint(), the
same as SARIF's partialFingerprints.
"""

from __future__ import annotations

import hashlib
import json

from .json_report import _rel

# Code Quality severities: info, minor, major, critical, blocker
SEVERITY = {"error": "critical", "warning": "major", "note": "info"}


def document(result, rules) -> list[dict]:
    root = result.root
    out = [
        {
            "description": f"{f.rule} {f.message}",
            "check_name": f.rule,
            "fingerprint": f.fingerprint,
            "severity": SEVERITY.get(f.severity, "major"),
            "location": {"path": _rel(f.path, root), "lines": {"begin": f.line}},
        }
        for f in result.findings
    ]
    for ig, why in result.unused_ignores:
        ids = ",".join(ig.ids)
        path = _rel(ig.path, root)
        out.append({
            "description": f"PG001 inline ignore[{ids}] {why}",
            "check_name": "PG001",
            "fingerprint": hashlib.sha256(f"PG001|{path}|{ids}|{why}".encode()).hexdigest()[:32],
            "severity": "minor",
            "location": {"path": path, "lines": {"begin": ig.line}},
        })
    return out


def render(result, rules, **_kw) -> str:
    return json.dumps(document(result, rules), indent=2) + "\n"
