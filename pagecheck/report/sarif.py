"""--format sarif: SARIF 2.1.0 as GitHub code scanning consumes it.

Validated against the OASIS schema in tests (tests/data/sarif-schema-2.1.0.json).

- tool.driver carries every selected rule with its full documentation (help
  text and markdown, from the rule file), plus the meta rule PG001 for inline
  ignores that name an unknown rule or suppress nothing: code scanning only
  shows results, so those are results too, not notifications nobody sees.
- Paths are relative to the analysed root with uriBaseId SRCROOT, which
  originalUriBaseIds maps to the absolute root; a file outside the root gets
  an absolute file: URI instead.
- Regions are 1-based line and column.  Columns count bytes from the start of
  the line (kernel source is ASCII in practice; SARIF has no byte column kind).
- The evidence chain becomes relatedLocations, and a codeFlow when it is a
  path (two or more places: where the role came from, through conversions and
  calls, to the misuse), so code scanning can walk it step by step.
- partialFingerprints["pagecheck/v1"] is runner.fingerprint(): rule + file +
  function + value + occurrence, no line number, so inserting lines above a
  finding keeps it; code scanning adds its own line-hash fingerprint.
- Every file that could not be read or parsed is a toolExecutionNotification
  on the invocation; executionSuccessful stays true because the run finished
  and the other files were analysed (the exit-code contract says the same).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from urllib.parse import quote

from .. import INFORMATION_URI, __version__
from ..runner import PARTIAL_REASONS

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
BASE_ID = "SRCROOT"
LEVEL = {"error": "error", "warning": "warning", "note": "note"}
# code scanning's own severity scale (shown as Error / Warning / Note)
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "note": "recommendation"}
FINGERPRINT_KEY = "pagecheck/v1"

UNUSED_IGNORE = {
    "id": "PG001",
    "name": "unused-ignore",
    "summary": "An inline pagecheck ignore names an unknown rule, names no rule, or suppresses nothing",
    "doc": (
        "## What it does\n"
        "Reports `/* pagecheck: ignore[...] */` comments that do not do their job: the bracket is\n"
        "empty, it names a rule ID that does not exist, or the named rule has no finding on the\n"
        "comment's line or the line after it.\n\n"
        "## Why is this bad?\n"
        "A stale ignore hides the next real finding on that line, and a misspelt one hides nothing\n"
        "while looking like it does.\n\n"
        "## Use instead\n"
        "Delete the comment, or correct the rule ID. `--ignore PG001` turns this report off.\n"
    ),
}


# --- paths ---------------------------------------------------------------------------

def _artifact(path: str, root: str) -> dict:
    """A relative URI against SRCROOT for files under the root, else an absolute file: URI."""
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    except ValueError:  # another drive
        rel = ".."
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        return {"uri": Path(os.path.realpath(path)).as_uri()}  # realpath: no error on a symlink loop
    return {"uri": quote(Path(rel).as_posix(), safe="/"), "uriBaseId": BASE_ID}


def _location(path: str, root: str, line: int | None = None, col: int | None = None,
              message: str | None = None, loc_id: int | None = None) -> dict:
    phys: dict = {"artifactLocation": _artifact(path, root)}
    if line is not None:
        phys["region"] = {"startLine": max(1, line), "startColumn": max(1, col or 1)}
    loc: dict = {"physicalLocation": phys}
    if loc_id is not None:
        loc["id"] = loc_id
    if message is not None:
        loc["message"] = {"text": message}
    return loc


# --- rules ---------------------------------------------------------------------------

def _section(doc: str, heading: str) -> str:
    m = re.search(rf"^##\s+{re.escape(heading)}\s*\n(.*?)(?=^##\s|\Z)", doc, re.M | re.S)
    return " ".join(m.group(1).split()) if m else ""


def _plain(doc: str) -> str:
    """The markdown doc as plain text: headings as 'Heading:' lines, no code fences."""
    out = []
    for line in doc.splitlines():
        if line.startswith("```"):
            continue
        m = re.match(r"^#+\s+(.*)$", line)
        if m:
            heading = m.group(1).strip()
            line = heading if heading.endswith(("?", ":")) else heading + ":"
        out.append(line)
    return "\n".join(out).strip() + "\n"


def _descriptor(rid: str, name: str, summary: str, doc: str, severity: str, confidence: str,
                tags, help_uri: str) -> dict:
    what = _section(doc, "What it does") or summary
    return {
        "id": rid,
        "name": "".join(p.capitalize() for p in name.split("-")),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": what},
        "help": {
            "text": f"{rid} {name}: {summary}\n\n{_plain(doc)}",
            "markdown": f"# {rid} `{name}`\n\n{summary}\n\n{doc.strip()}\n",
        },
        "helpUri": help_uri,
        "defaultConfiguration": {"level": LEVEL[severity]},
        "properties": {
            "tags": list(tags),
            "precision": confidence,
            "problem.severity": PROBLEM_SEVERITY[severity],
        },
    }


def rule_descriptor(r) -> dict:
    return _descriptor(r.id, r.name, r.summary, r.doc, r.severity, r.confidence, r.tags, r.help_uri)


def _unused_ignore_descriptor() -> dict:
    u = UNUSED_IGNORE
    return _descriptor(u["id"], u["name"], u["summary"], u["doc"], "warning", "high",
                       ("maintainability", "suppression"), f"{INFORMATION_URI}#baseline-and-suppressions")


# --- results -------------------------------------------------------------------------

def _is_path(steps) -> bool:
    return len({(s.path, s.line, s.col) for s in steps}) >= 2


def _finding_result(f, root: str, index: dict[str, int]) -> dict:
    res = {
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "level": LEVEL.get(f.severity, "warning"),
        "message": {"text": f.message},
        "locations": [_location(f.path, root, f.line, f.col)],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": {"roles": list(f.roles), "value": f.value, "function": f.function},
    }
    if f.evidence:
        res["relatedLocations"] = [_location(s.path, root, s.line, s.col, s.message, i + 1)
                                   for i, s in enumerate(f.evidence)]
    if _is_path(f.evidence):
        res["codeFlows"] = [{
            "message": {"text": f"how `{f.value}` gets its role and where it is misused"},
            "threadFlows": [{"locations": [
                {"location": _location(s.path, root, s.line, s.col, s.message), "executionOrder": i + 1}
                for i, s in enumerate(f.evidence)
            ]}],
        }]
    if not f.rule or f.rule not in index:
        res.pop("ruleIndex")
    return res


def _unused_ignore_result(ig, why: str, root: str, index: dict[str, int]) -> dict:
    ids = ",".join(ig.ids)
    return {
        "ruleId": UNUSED_IGNORE["id"],
        "ruleIndex": index[UNUSED_IGNORE["id"]],
        "level": "warning",
        "message": {"text": f"inline ignore[{ids}] {why}"},
        "locations": [_location(ig.path, root, ig.line, 1)],
        # an ignore comment is identified by where it is and what it names
        "partialFingerprints": {FINGERPRINT_KEY: hashlib.sha256(
            f"PG001|{_artifact(ig.path, root)['uri']}|{ids}|{why}".encode()).hexdigest()[:32]},
    }


_FILE_COUNTS = ("files", "analysed", "prefiltered", "skipped", "not_analysed", "partly_parsed")


def _notification(d, root: str) -> dict:
    detail = f": {d.detail}" if d.detail else ""
    partly = d.reason in PARTIAL_REASONS  # analysed, but only what parsed
    return {
        "level": "error" if d.reason == "internal-error" else "note" if partly else "warning",
        "message": {"text": f"{'partly analysed' if partly else 'not analysed'}: {d.reason}{detail}"},
        "locations": [_location(d.path, root)],
        "descriptor": {"id": f"pagecheck/{d.reason}"},
    }


def document(result, rules) -> dict:
    root = result.root
    descriptors = [rule_descriptor(r) for r in sorted(rules, key=lambda r: r.id)]
    descriptors.insert(0, _unused_ignore_descriptor())
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    results = [_finding_result(f, root, index) for f in result.findings]
    results += [_unused_ignore_result(ig, why, root, index) for ig, why in result.unused_ignores]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "pagecheck",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": descriptors,
            }},
            "originalUriBaseIds": {BASE_ID: {"uri": Path(root).resolve().as_uri() + "/"}},
            "invocations": [{
                "executionSuccessful": True,
                "toolExecutionNotifications": [_notification(d, root) for d in result.diagnostics],
                # the accounting: every input file is analysed, prefiltered or skipped (with a reason)
                "properties": {"files": {k: result.stats[k] for k in _FILE_COUNTS if k in result.stats}},
            }],
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }


def render(result, rules, **_kw) -> str:
    return json.dumps(document(result, rules), indent=2) + "\n"
