"""Which files of a kernel tree define the helpers a module calls.

An out-of-tree module (checked with `--kernel-tree DIR`) can only reach two
kinds of kernel code: inline functions in the tree's headers and functions the
tree exports with EXPORT_SYMBOL*.  So the definition index is exactly that —
function-shaped names at the start of a line in include/**/*.h, and the names
in EXPORT_SYMBOL*(name) lines of .c files — built with byte searches, no
parsing.  Facts are then extracted (through the normal per-file pipeline, so
a facts cache applies) only for the files that define what the module calls,
and, a few levels deep, what those helpers call in turn.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

from .facts import FileFacts
from .source import discover

# `static inline struct page *foo(` at the start of a line: a function a header
# defines is static inline; a bare or extern line is a prototype, and the
# definition it names is found through EXPORT_SYMBOL instead.
_HEADER_DEF = re.compile(rb"^static\b[^\n;(){}=#]*?\b([A-Za-z_]\w*)\s*\(", re.M)
_EXPORT = re.compile(rb"^\s*EXPORT_SYMBOL\w*\(\s*(\w+)\s*\)", re.M)

MAX_LEVELS = 3  # helpers of helpers of ...: deeper chains add files, not findings
MAX_FILES = 600  # a bound on what one module can pull in (a whole-tree run is the other tool)


def definition_index(tree: str) -> dict[str, list[str]]:
    """name -> files that define it (header inlines and exported functions)."""
    index: dict[str, list[str]] = {}

    def add(name: bytes, path: str) -> None:
        files = index.setdefault(name.decode("ascii", "replace"), [])
        if path not in files:
            files.append(path)

    headers, _ = discover([os.path.join(tree, "include")])
    for p in headers:
        if not p.endswith(".h"):
            continue
        data = _read(p)
        for m in _HEADER_DEF.finditer(data):
            add(m.group(1), p)
    # arch/ exports the same generic names once per architecture (memcpy ...);
    # tools/ and samples/ are not kernel code a module links against
    sources, _ = discover([tree], exclude=[os.path.join(tree, d) for d in ("arch", "tools", "samples")])
    for p in sources:
        if not p.endswith(".c"):
            continue
        data = _read(p)
        if b"EXPORT_SYMBOL" not in data:
            continue
        for m in _EXPORT.finditer(data):
            add(m.group(1), p)
    return index


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def helper_facts(tree: str, module: list[FileFacts], skip_names: set[str],
                 extract: Callable[[list[str]], Iterable[FileFacts | None]],
                 index: dict[str, list[str]] | None = None) -> tuple[list[FileFacts], dict]:
    """Facts of the tree files defining what `module` calls, transitively (bounded).

    `skip_names`: callees the role model already knows (no need to read them).
    `extract`: runs the per-file pipeline over paths (workers, cache).
    """
    index = definition_index(tree) if index is None else index
    have = {os.path.realpath(ff.path) for ff in module}
    defined = {fn.name for ff in module for fn in ff.functions}
    wanted = {c.callee for ff in module for fn in ff.functions for c in fn.calls} - defined - skip_names
    asked = set(wanted)
    loaded: list[FileFacts] = []
    seen_files: set[str] = set()
    levels = 0
    while wanted and levels < MAX_LEVELS and len(seen_files) < MAX_FILES:
        levels += 1
        files = []
        for name in sorted(wanted):
            for f in index.get(name, ()):
                rf = os.path.realpath(f)
                if rf not in have and rf not in seen_files:
                    seen_files.add(rf)
                    files.append(f)
        files = files[:max(0, MAX_FILES - len(loaded))]
        if not files:
            break
        new = [ff for ff in extract(files) if ff is not None]
        loaded.extend(new)
        # next level: what the wanted helpers call, through the file-local functions they use
        nxt: set[str] = set()
        for ff in new:
            statics = {fn.name: fn for fn in ff.functions if fn.static}
            todo = [fn for fn in ff.functions if fn.name in wanted]
            reached = {fn.name for fn in todo}
            while todo:
                fn = todo.pop()
                for c in fn.calls:
                    local = statics.get(c.callee)
                    if local is not None:
                        if c.callee not in reached:
                            reached.add(c.callee)
                            todo.append(local)
                    else:
                        nxt.add(c.callee)
        wanted = nxt - asked - skip_names
        asked |= wanted
    stats = {"helper_files": len(loaded), "helper_levels": levels, "index_names": len(index)}
    return loaded, stats
