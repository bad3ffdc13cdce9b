"""Baseline: accept today's findings, report only new ones.

`--write-baseline FILE` records every current finding; `--baseline FILE`
drops the findings the file already holds.  A finding is recognised by its
fingerprint (rule + file + function + value + occurrence, see
runner.fingerprint), which holds no line number, so editing code above a
finding or moving its function within the file changes nothing.  A finding
whose fingerprint is not in the baseline gets a second chance on the looser
key rule + function + value, against baseline entries nothing else matched:
that is what keeps a function moved to another file (or a renamed file) from
resurrecting its findings.  Each baseline entry accepts at most one finding,
so a second, new occurrence of the same problem is still reported.

The file is JSON with no line numbers or messages in it, sorted, so it only
changes when the set of findings does and diffs well in review.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from . import __version__
from .model import DataError
from .source import relpath

FORMAT_KEY = "pagecheck-baseline"
FORMAT_VERSION = 1
ENTRY_KEYS = ("fingerprint", "rule", "path", "function", "value")


def _loose(rule: str, function: str, value: str) -> tuple[str, str, str]:
    return (rule, function, value)


def dumps(findings, root: str) -> str:
    entries = sorted(
        ({"fingerprint": f.fingerprint, "rule": f.rule, "path": relpath(f.path, root), "function": f.function,
          "value": f.value} for f in findings),
        key=lambda e: (e["path"], e["rule"], e["function"], e["value"], e["fingerprint"]),
    )
    doc = {FORMAT_KEY: FORMAT_VERSION, "tool": f"pagecheck {__version__}", "findings": entries}
    return json.dumps(doc, indent=2) + "\n"


@dataclass(frozen=True)
class Baseline:
    path: str
    entries: tuple[dict, ...]

    def filter(self, findings, in_scope=lambda entry: True) -> tuple[list, int]:
        """(the findings that are new, how many baseline entries matched nothing any more).

        Only entries `in_scope` count as stale: a run over three changed files, or with a
        rule deselected, says nothing about the entries for the rest of the tree."""
        exact = Counter(e["fingerprint"] for e in self.entries)
        leftover = []
        for f in findings:
            if exact[f.fingerprint] > 0:
                exact[f.fingerprint] -= 1
            else:
                leftover.append(f)
        # entries no finding claimed by fingerprint: available to moved code
        loose = Counter()
        unclaimed = Counter(exact)
        for e in self.entries:
            if unclaimed[e["fingerprint"]] > 0:
                unclaimed[e["fingerprint"]] -= 1
                loose[_loose(e["rule"], e["function"], e["value"])] += 1
        new = []
        for f in leftover:
            k = _loose(f.rule, f.function, f.value)
            if loose[k] > 0:
                loose[k] -= 1
            else:
                new.append(f)
        stale = 0
        for e in self.entries:
            k = _loose(e["rule"], e["function"], e["value"])
            if loose[k] > 0:
                loose[k] -= 1
                stale += bool(in_scope(e))
        return new, stale


def load(path: str) -> Baseline:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise DataError(path, "", f"cannot read baseline: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, "", f"baseline is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get(FORMAT_KEY) != FORMAT_VERSION:
        raise DataError(path, FORMAT_KEY, f"not a pagecheck baseline (expected {FORMAT_KEY!r}: {FORMAT_VERSION}; "
                                          "write one with --write-baseline)")
    entries = doc.get("findings")
    if not isinstance(entries, list):
        raise DataError(path, "findings", "expected a list")
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in ENTRY_KEYS):
            raise DataError(path, f"findings[{i}]", f"expected an object with string keys {', '.join(ENTRY_KEYS)}")
    return Baseline(path, tuple(entries))
