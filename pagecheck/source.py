"""Stage 1 — source: find input files, read them as bytes, map offsets to lines.

Kernel trees are not all UTF-8 and hold generated files of many megabytes, so
everything here works on bytes.  A file is either returned as a `SourceFile`
or reported as a `Skipped` with the reason; nothing is dropped silently.
"""

from __future__ import annotations

import bisect
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

C_SUFFIXES = (".c", ".h")

# Default limit for one input file.  Generated register headers in the kernel
# reach ~20 MB (amdgpu asic_reg); none of them touch struct page, and parsing
# them costs seconds each.  Configurable with --max-file-size.
DEFAULT_MAX_FILE_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Skipped:
    """A file that was not analysed, and why (a diagnostic, never a crash)."""

    path: str
    reason: str  # short machine-readable reason: unreadable, too-large, not-text, ...
    detail: str = ""


@dataclass
class SourceFile:
    path: str  # as given / discovered (used for display)
    data: bytes
    _line_starts: list[int] | None = field(default=None, repr=False)

    @property
    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            starts = [0]
            find = self.data.find
            pos = find(b"\n")
            while pos != -1:
                starts.append(pos + 1)
                pos = find(b"\n", pos + 1)
            self._line_starts = starts
        return self._line_starts

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a byte offset."""
        starts = self.line_starts
        i = bisect.bisect_right(starts, offset) - 1
        return i + 1, offset - starts[i] + 1

    def line_text(self, line: int) -> str:
        starts = self.line_starts
        if line < 1 or line > len(starts):
            return ""
        end = starts[line] - 1 if line < len(starts) else len(self.data)
        return self.data[starts[line - 1]:end].decode("utf-8", "replace").rstrip("\r")


def discover(paths: Iterable[str], exclude: Iterable[str] = ()) -> tuple[list[str], list[Skipped]]:
    """Expand the command-line paths into .c/.h files, sorted, de-duplicated.

    Directories are walked without following symlinks to directories (no loops);
    a path named on the command line is always taken, whatever its suffix.
    """
    from fnmatch import fnmatch

    excludes = list(exclude)
    found: list[str] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()

    def excluded(p: str) -> bool:
        return any(fnmatch(p, pat) or fnmatch(os.path.basename(p), pat) for pat in excludes)

    def add(p: str) -> None:
        norm = os.path.normpath(p)
        if norm not in seen and not excluded(norm):
            seen.add(norm)
            found.append(norm)

    for root in paths:
        try:
            st = os.stat(root)
        except OSError as exc:
            skipped.append(Skipped(root, "unreadable", exc.strerror or str(exc)))
            continue
        if not stat.S_ISDIR(st.st_mode):
            add(root)
            continue
        def walk_error(exc: OSError) -> None:
            # a directory we cannot list: its files are unknown, say so
            skipped.append(Skipped(exc.filename or root, "unreadable", f"cannot list directory: {exc.strerror or exc}"))

        for dirpath, dirnames, filenames in os.walk(root, onerror=walk_error, followlinks=False):
            dirnames.sort()
            # Hidden directories (.git, quilt's .pc backups, editor caches) are not
            # walked: they hold no sources of the tree, or stale copies that would
            # double the findings.  Naming one on the command line walks it.
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and not excluded(os.path.join(dirpath, d))]
            for d in dirnames:
                # a directory named foo.c is walked, and accounted for as "not a file"
                if d.endswith(C_SUFFIXES):
                    p = os.path.normpath(os.path.join(dirpath, d))
                    what = "symbolic link to a directory" if os.path.islink(p) else "is a directory"
                    skipped.append(Skipped(p, "not-a-file", what))
            for name in sorted(filenames):
                if name.endswith(C_SUFFIXES):
                    add(os.path.join(dirpath, name))
    return found, skipped


def _stat_error(path: str, exc: OSError) -> str:
    """Why stat() failed, telling a dangling symlink from a file that vanished."""
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        return "broken symbolic link"
    return exc.strerror or str(exc)


def read_source(path: str, max_size: int = DEFAULT_MAX_FILE_SIZE) -> SourceFile | Skipped:
    """Read one file as bytes, or say why not (unreadable, not-a-file, too-large, not-text).

    The file may change or vanish between discovery and here, or while being
    read: whatever happens, the answer is a SourceFile or a Skipped.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        return Skipped(path, "unreadable", _stat_error(path, exc))
    if stat.S_ISDIR(st.st_mode):
        return Skipped(path, "not-a-file", "is a directory")
    if not stat.S_ISREG(st.st_mode):
        return Skipped(path, "not-a-file", "not a regular file")
    if st.st_size > max_size:
        return Skipped(path, "too-large", f"{st.st_size} bytes > limit {max_size}, see --max-file-size")
    try:
        # O_NONBLOCK: if a FIFO took the file's place since stat(), open() must not wait for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return Skipped(path, "not-a-file", "replaced by a non-file during the run")
            data = fh.read(max_size + 1)
    except OSError as exc:
        return Skipped(path, "unreadable", exc.strerror or str(exc))
    if len(data) > max_size:
        return Skipped(path, "too-large", f"grew past limit {max_size} while reading")
    if b"\0" in data[:65536]:
        return Skipped(path, "not-text", "contains NUL bytes")
    return SourceFile(path, data)


def relpath(path: str, root: str | None) -> str:
    """`path` relative to `root` in posix form; a path outside `root` stays as given."""
    if root is None:
        return Path(path).as_posix()
    try:
        r = os.path.relpath(path, root)
    except ValueError:  # another drive
        return Path(path).as_posix()
    return Path(path).as_posix() if r.startswith("..") else Path(r).as_posix()
