"""--diff REV: report only findings on lines added or changed since a git revision.

The analysis itself is unchanged — it still reads whole files, so roles are
inferred from all the code, not from the patch — and the findings are
filtered afterwards.  A finding is kept when its own line, or a line of its
evidence chain, was added or changed: adding `kmalloc()` above an old
`get_page()` is the change that made the old line wrong.

The changed lines come from `git diff -U0 REV` run at the top of the work
tree (working tree against REV, so staged and unstaged edits both count;
REV may be anything git diff accepts, `origin/main...HEAD` included), plus
every untracked, not ignored file as wholly new.  A pure deletion marks the
line after it: deleting a guard changes what the next line means.  In a
repository with no commits yet, HEAD means the empty tree, so a pre-commit
hook using `--diff HEAD` works on the very first commit.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field

HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class DiffError(Exception):
    """git could not answer (not a repository, unknown revision, git missing)."""


def _git(args: list[str], cwd: str) -> str:
    try:
        p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise DiffError("git is not installed (needed for --diff)") from None
    if p.returncode != 0:
        msg = p.stderr.decode("utf-8", "replace").strip().splitlines()
        shown = [a for i, a in enumerate(args) if a != "-c" and (i == 0 or args[i - 1] != "-c")
                 and not a.startswith("-")]  # `git diff REV`, without the plumbing options
        raise DiffError(f"git {' '.join(shown[:2])}: {msg[-1] if msg else f'exit {p.returncode}'}")
    return p.stdout.decode("utf-8", "surrogateescape")


def _unquote(path: str) -> str:
    """git quotes paths with unusual bytes as C strings: "a\\tb", "\\303\\251"."""
    if not (path.startswith('"') and path.endswith('"')):
        return path
    raw = path[1:-1].encode("utf-8", "surrogateescape").decode("unicode_escape").encode("latin-1")
    return raw.decode("utf-8", "surrogateescape")


def parse_diff(text: str) -> dict[str, set[int]]:
    """Map each new-side path in a `git diff -U0` to its added/changed line numbers."""
    out: dict[str, set[int]] = {}
    current: set[int] | None = None
    old_left = new_left = 0  # lines still to come in the current hunk
    for line in text.split("\n"):
        if old_left > 0 or new_left > 0:  # hunk body: never mistake "+++ x" content for a header
            if line.startswith("+"):
                new_left -= 1
            elif line.startswith("-"):
                old_left -= 1
            elif line.startswith(" "):
                old_left -= 1
                new_left -= 1
            continue
        if line.startswith("+++ "):
            target = line[4:].rstrip("\t")
            if target == "/dev/null":
                current = None
            else:
                target = _unquote(target)
                current = out.setdefault(target[2:] if target.startswith("b/") else target, set())
        elif line.startswith("@@ "):
            m = HUNK_RE.match(line)
            if not m:
                continue
            old_n = int(m.group(2)) if m.group(2) is not None else 1
            start = int(m.group(3))
            new_n = int(m.group(4)) if m.group(4) is not None else 1
            old_left, new_left = old_n, new_n
            if current is None:
                continue
            if new_n:
                current.update(range(start, start + new_n))
            else:  # pure deletion after line `start`
                current.add(start + 1)
    return out


EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree (SHA-1 repos)


@dataclass
class ChangedLines:
    rev: str
    top: str
    lines: dict[str, set[int]]  # real path → changed lines
    whole: set[str]  # real paths that are new in full (untracked)
    _real: dict[str, str] = field(default_factory=dict, repr=False)

    def _key(self, path: str) -> str:
        k = self._real.get(path)
        if k is None:
            k = self._real[path] = os.path.realpath(path)
        return k

    def touches(self, path: str, line: int) -> bool:
        k = self._key(path)
        return k in self.whole or line in self.lines.get(k, ())

    def keeps(self, finding) -> bool:
        if self.touches(finding.path, finding.line):
            return True
        return any(self.touches(s.path, s.line) for s in finding.evidence)


def _empty_tree(top: str) -> str:
    try:
        return _git(["hash-object", "-t", "tree", os.devnull], top).strip()
    except DiffError:
        return EMPTY_TREE


def changed_lines(rev: str, cwd: str | None = None) -> ChangedLines:
    cwd = cwd or os.getcwd()
    top = _git(["rev-parse", "--show-toplevel"], cwd).strip()
    if rev == "HEAD":
        probe = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=top,
                               capture_output=True, check=False)
        if probe.returncode != 0:  # no commits yet: everything is new
            rev = _empty_tree(top)
    text = _git(["-c", "core.quotePath=false", "diff", "--no-color", "--no-ext-diff", "--no-textconv",
                 "-U0", "-M", "--src-prefix=a/", "--dst-prefix=b/", rev, "--"], top)
    lines = {os.path.realpath(os.path.join(top, p)): s for p, s in parse_diff(text).items()}
    untracked = _git(["ls-files", "-z", "--others", "--exclude-standard"], top)
    whole = {os.path.realpath(os.path.join(top, p)) for p in untracked.split("\0") if p}
    return ChangedLines(rev, top, lines, whole)
