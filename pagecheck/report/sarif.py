"""--format sarif: SARIF 2.1.0 as GitHub code scanning consumes it.

Paths are relative to the analysed root with uriBaseId SRCROOT; the evidence
chain becomes relatedLocations (and a codeFlow when it crosses functions or
files); partialFingerprints come from rule + file + function + value, so they
survive unrelated line shifts.  Files that could not be analysed become
toolExecutionNotifications on the invocation.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from .. import INFORMATION_URI, __version__
from .json_report import _rel

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"error": "error", "warning": "warning", "note": "note"}
PRECISION = {"high": "high", "medium": "medium", "low": "low"}


def _uri(rel: str) -> str:
    return quote(rel.replace("\\", "/"), safe="/")


def _location(path: str, root: str, line: int, col: int, message: str | None = None, idx: int | None = None):
    loc = {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(_rel(path, root)), "uriBaseId": "SRCROOT"},
            "region": {"startLine": max(1, line), "startColumn": max(1, col)},
        }
    }
    if message is not None:
        loc["message"] = {"text": message}
    if idx is not None:
        loc["id"] = idx
    return loc


def rule_descriptor(r) -> dict:
    return {
        "id": r.id,
        "name": "".join(p.capitalize() for p in r.name.split("-")),
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": r.summary},
        "help": {"text": r.doc, "markdown": r.doc},
        "helpUri": r.help_uri,
        "defaultConfiguration": {"level": LEVEL[r.severity]},
        "properties": {
            "tags": list(r.tags),
            "precision": PRECISION[r.confidence],
            "problem.severity": {"error": "error", "warning": "warning", "note": "recommendation"}[r.severity],
        },
    }


def document(result, rules) -> dict:
    root = result.root
    rule_list = sorted(rules, key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(rule_list)}
    results = []
    for f in result.findings:
        rule = rules.get(f.rule)
        res = {
            "ruleId": f.rule,
            "ruleIndex": index.get(f.rule, 0),
            "level": LEVEL.get(f.severity, "warning"),
            "message": {"text": f.message},
            "locations": [_location(f.path, root, f.line, f.col)],
            "partialFingerprints": {"pagecheck/v1": f.fingerprint},
            "properties": {"roles": list(f.roles), "value": f.value, "function": f.function},
        }
        if f.evidence:
            res["relatedLocations"] = [
                _location(s.path, root, s.line, s.col, s.message, i + 1) for i, s in enumerate(f.evidence)
            ]
            files = {s.path for s in f.evidence}
            if len(f.evidence) > 2 or len(files) > 1:
                res["codeFlows"] = [{
                    "threadFlows": [{
                        "locations": [
                            {"location": _location(s.path, root, s.line, s.col, s.message)} for s in f.evidence
                        ]
                    }]
                }]
        if rule is None:
            res.pop("ruleIndex")
        results.append(res)
    notifications = [
        {
            "level": "warning" if d.reason not in ("internal-error",) else "error",
            "message": {"text": f"not analysed: {d.reason}{(': ' + d.detail) if d.detail else ''}"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(_rel(d.path, root)),
                                                                     "uriBaseId": "SRCROOT"}}}],
            "descriptor": {"id": f"pagecheck/{d.reason}"},
        }
        for d in result.diagnostics
    ]
    for ig, why in result.unused_ignores:
        notifications.append({
            "level": "warning",
            "message": {"text": f"inline ignore[{','.join(ig.ids)}] {why}"},
            "locations": [_location(ig.path, root, ig.line, 1)],
            "descriptor": {"id": "pagecheck/unused-ignore"},
        })
    root_uri = Path(root).resolve().as_uri() + "/"
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "pagecheck",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [rule_descriptor(r) for r in rule_list],
            }},
            "originalUriBaseIds": {"SRCROOT": {"uri": root_uri}},
            "invocations": [{
                "executionSuccessful": True,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }


def render(result, rules, **_kw) -> str:
    return json.dumps(document(result, rules), indent=2) + "\n"
