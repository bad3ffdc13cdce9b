"""Read the inline expectations of a fixture file (the semgrep / ruff way).

    /* ruleid: PG101 */        the next code line must report PG101
    /* ok: PG101 */            the next code line must not report PG101
    /* todoruleid: PG101 */    should report, does not yet (strict: fails once it does)
    /* todook: PG101 */        should not report, still does (strict)
    /* role: page=page_pool */ the value `page` on the next code line has that role

The annotated line is the next line that is not blank and not a comment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ANNOT_RE = re.compile(r"/\*\s*(ruleid|ok|todoruleid|todook):\s*([A-Za-z0-9_, ]+?)\s*\*/")
ROLE_RE = re.compile(r"/\*\s*role:\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([a-z_]+)\s*\*/")
COMMENT_ONLY = re.compile(r"^\s*(/\*.*\*/|//.*)?\s*$")


@dataclass(frozen=True)
class Expectation:
    kind: str  # ruleid | ok | todoruleid | todook
    rule: str
    line: int  # the code line it applies to
    annot_line: int


@dataclass(frozen=True)
class RolePin:
    value: str
    role: str
    line: int
    annot_line: int


def _target(lines: list[str], i: int) -> int:
    for j in range(i + 1, len(lines)):
        if not COMMENT_ONLY.match(lines[j]):
            return j + 1
    return len(lines)


def read(path: Path) -> tuple[list[Expectation], list[RolePin]]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    exps, pins = [], []
    for i, text in enumerate(lines):
        for m in ANNOT_RE.finditer(text):
            tgt = _target(lines, i)
            for rid in m.group(2).split(","):
                if rid.strip():
                    exps.append(Expectation(m.group(1), rid.strip().upper(), tgt, i + 1))
        for m in ROLE_RE.finditer(text):
            pins.append(RolePin(m.group(1), m.group(2), _target(lines, i), i + 1))
    return exps, pins
