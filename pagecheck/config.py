"""Configuration: `[tool.pagecheck]` in pyproject.toml, or a `.pagecheck.toml`.

One configuration file per run.  It is found by walking up from the current
directory, then (if nothing was found there) from the first checked path: so
`pagecheck check drivers/net/foo.c` run from anywhere inside a project picks
up the project's file.  In one directory `.pagecheck.toml` beats
`pyproject.toml`, and a pyproject.toml without a `[tool.pagecheck]` table is
not a configuration file at all (it is passed over, never parsed strictly).

Keys are kebab-case, as in the TOML files of ruff and friends:

    select = ["PG1", "PG301"]          # rule IDs or prefixes
    ignore = ["PG104"]
    exclude = ["drivers/staging/*"]    # globs, relative to the config's directory
    kernel-tree = "../linux"           # relative to the config's directory
    jobs = 4
    format = "text"                    # text | json | sarif | gitlab
    max-file-size = 4194304
    baseline = "pagecheck-baseline.json"
    [tool.pagecheck.per-path-ignores]  # ([per-path-ignores] in .pagecheck.toml)
    "drivers/staging/*" = ["PG104"]

Command-line flags win: a flag given on the command line replaces the value
from the file.  A mistake is a `DataError` naming the file and the key, which
the CLI prints as one line with exit 2.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Iterable

from .model import DataError, load_toml

CONFIG_NAMES = (".pagecheck.toml", "pyproject.toml")
FORMATS = ("text", "json", "sarif", "gitlab")  # kept in step with report.FORMATTERS by a test

# A rule selector: a full ID (PG301) or a prefix of one (PG3, PG30, PG).
SELECTOR_RE = re.compile(r"^PG[0-9]{0,3}$", re.I)


@dataclass(frozen=True)
class Config:
    path: str | None = None  # the file the values came from; None: built-in defaults
    base: str = "."  # directory that relative paths and globs in the file are anchored at
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_path_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = ()
    kernel_tree: str | None = None
    jobs: int | None = None
    format: str | None = None
    max_file_size: int | None = None
    baseline: str | None = None


# --- finding the file ------------------------------------------------------------

def _has_pagecheck_table(pyproject: Path) -> bool:
    """Cheap byte test first, so an unrelated broken pyproject.toml never stops a run."""
    try:
        data = pyproject.read_bytes()
    except OSError:
        return False
    if b"tool.pagecheck" not in data and b"[tool]" not in data:
        return False
    return "pagecheck" in load_toml(pyproject).get("tool", {})


def find_config(starts: Iterable[str]) -> Path | None:
    """The nearest configuration file above any of `starts` (tried in order)."""
    for start in starts:
        d = Path(os.path.realpath(start))  # not resolve(): a symlink loop must not raise
        if not d.is_dir():
            d = d.parent
        for cand in (d, *d.parents):
            dedicated = cand / CONFIG_NAMES[0]
            if dedicated.is_file():
                return dedicated
            pyproject = cand / CONFIG_NAMES[1]
            if pyproject.is_file() and _has_pagecheck_table(pyproject):
                return pyproject
    return None


# --- reading and validating it ----------------------------------------------------

class _Table:
    """Typed access to one TOML table; errors name the file and the dotted key."""

    def __init__(self, path: Path, table: dict, prefix: str):
        self.path, self.table, self.prefix = path, table, prefix
        self.used: set[str] = set()

    def error(self, key: str, message: str) -> DataError:
        return DataError(self.path, f"{self.prefix}{key}", message)

    def take(self, key: str, typ: type):
        self.used.add(key)
        if key not in self.table:
            return None
        v = self.table[key]
        if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
            raise self.error(key, f"expected {_TYPE_NAMES[typ]}, got {type(v).__name__} {v!r}")
        return v

    def strings(self, key: str) -> tuple[str, ...] | None:
        v = self.take(key, list)
        if v is None:
            return None
        if not all(isinstance(x, str) for x in v):
            raise self.error(key, "expected a list of strings")
        return tuple(v)

    def selectors(self, key: str, value: list | None = None) -> tuple[str, ...] | None:
        v = self.strings(key) if value is None else value
        if v is None:
            return None
        for s in v:
            if not SELECTOR_RE.match(s):
                raise self.error(key, f"{s!r} is not a rule ID or prefix (like PG301 or PG3)")
        return tuple(s.upper() for s in v)

    def positive(self, key: str, minimum: int) -> int | None:
        v = self.take(key, int)
        if v is not None and v < minimum:
            raise self.error(key, f"expected an integer >= {minimum}, got {v}")
        return v

    def no_unknown(self, known: Iterable[str]) -> None:
        known = set(known)
        for k in self.table:
            if k not in self.used:
                hint = ""
                alt = k.replace("_", "-")
                if alt in known:
                    hint = f" (did you mean {alt!r}?)"
                raise self.error(k, f"unknown key{hint}; known keys: {', '.join(sorted(known))}")


_TYPE_NAMES = {list: "a list", int: "an integer", str: "a string", dict: "a table"}
KEYS = ("select", "ignore", "per-path-ignores", "exclude", "kernel-tree", "jobs", "format", "max-file-size",
        "baseline")


def load_config(path: str | os.PathLike) -> Config:
    path = Path(path)
    data = load_toml(path)
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        table = tool.get("pagecheck", {}) if isinstance(tool, dict) else {}
        prefix = "tool.pagecheck."
    else:
        table, prefix = data, ""
    if not isinstance(table, dict):
        raise DataError(path, prefix.rstrip("."), "expected a table")
    t = _Table(path, table, prefix)
    base = path.resolve().parent

    fmt = t.take("format", str)
    if fmt is not None and fmt not in FORMATS:
        raise t.error("format", f"expected one of {', '.join(FORMATS)}, got {fmt!r}")

    kernel_tree = t.take("kernel-tree", str)
    if kernel_tree is not None:
        kernel_tree = str((base / kernel_tree).resolve())
        if not os.path.isdir(kernel_tree):
            raise t.error("kernel-tree", f"no such directory: {kernel_tree}")

    baseline = t.take("baseline", str)
    if baseline is not None:
        baseline = str(base / baseline)

    per_path = []
    raw_pp = t.take("per-path-ignores", dict) or {}
    for glob, ids in raw_pp.items():
        key = f"per-path-ignores.{glob!r}" if not re.match(r"^[A-Za-z0-9_-]+$", glob) else f"per-path-ignores.{glob}"
        if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
            raise t.error(key, "expected a list of rule IDs or prefixes")
        if not ids:
            raise t.error(key, "empty list: name the rules to ignore under this path")
        per_path.append((glob, t.selectors(key, ids)))

    cfg = Config(
        path=str(path),
        base=str(base),
        select=t.selectors("select") or (),
        ignore=t.selectors("ignore") or (),
        per_path_ignores=tuple(per_path),
        exclude=t.strings("exclude") or (),
        kernel_tree=kernel_tree,
        jobs=t.positive("jobs", 0),
        format=fmt,
        max_file_size=t.positive("max-file-size", 1),
        baseline=baseline,
    )
    t.no_unknown(KEYS)
    return cfg


def resolve(explicit: str | None, isolated: bool, paths: Iterable[str]) -> Config:
    """The configuration for a run: --config FILE, nothing (--isolated), or the nearest file."""
    if isolated:
        return Config()
    if explicit is not None:
        if not os.path.isfile(explicit):
            raise DataError(explicit, "", "configuration file not found")
        return load_config(explicit)
    found = find_config([os.getcwd(), *list(paths)[:1]])
    return load_config(found) if found is not None else Config()


# --- using it ----------------------------------------------------------------------

def _rel_to(path: str, base: str) -> str | None:
    try:
        r = os.path.relpath(os.path.abspath(path), base)
    except ValueError:  # another drive on Windows
        return None
    return None if r.startswith("..") else Path(r).as_posix()


def _glob_hit(rel: str, glob: str) -> bool:
    """fnmatch's `*` crosses `/`, so a directory name or glob covers everything below it."""
    g = glob.rstrip("/")
    return fnmatch(rel, g) or fnmatch(rel, g + "/*")


def per_path_ignored(cfg: Config, path: str, rule_id: str) -> bool:
    """True when a per-path-ignores entry of `cfg` covers this rule in this file."""
    if not cfg.per_path_ignores:
        return False
    rel = _rel_to(path, cfg.base)
    if rel is None:
        return False
    return any(_glob_hit(rel, glob) and any(rule_id.startswith(s) for s in ids)
               for glob, ids in cfg.per_path_ignores)


def exclude_patterns(cfg: Config, cwd: str | None = None) -> tuple[str, ...]:
    """Exclude globs for source.discover(), which matches the path as walked (relative to
    the cwd when the user typed a relative path) or the base name.  A glob in the file is
    anchored at the file's directory, so it is also offered re-anchored at the cwd."""
    cwd = cwd or os.getcwd()
    out: list[str] = []
    for g in cfg.exclude:
        out.append(g)
        if "/" in g and not g.startswith(("*", "/")):
            anchored = os.path.join(cfg.base, g.rstrip("/"))
            out += [anchored, anchored + "/*"]
            rel = os.path.relpath(anchored, cwd)
            if not rel.startswith(".."):
                # "net/*", never a bare "net": discover() also matches base names, and a
                # bare name would exclude every directory called net
                out += [rel + "/*"] + ([rel] if "/" in rel else [])
    return tuple(dict.fromkeys(out))
