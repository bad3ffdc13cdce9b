"""The pipeline end to end: source → parse → facts → roles → rules → suppress.

`run()` is what the CLI calls.  Per-file work (read, prefilter, parse, extract
facts) runs in worker processes; the tree-wide part (struct member types,
role inference, rules) runs in the parent on plain facts.  Every input file
ends up in exactly one of: analysed, skipped by the prefilter (it mentions
nothing the model knows), or a diagnostic with its reason.
"""

from __future__ import annotations

import hashlib
import os
import re
import traceback
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import facts as facts_mod
from .engine import Engine, Finding
from .infer import TypeEnv, analyse
from .model import RoleModel
from .rules import RuleSet
from .source import DEFAULT_MAX_FILE_SIZE, Skipped, compile_prefilter, discover, read_source

# `ignore` without a bracket is matched too, so that a missing ID list is reported, not ignored
IGNORE_RE = re.compile(rb"pagecheck:\s*ignore\b(?:\[([^\]\n]*)\])?")


@dataclass(frozen=True)
class Ignore:
    path: str
    line: int
    ids: tuple[str, ...]


@dataclass
class FileResult:
    path: str
    status: str  # analysed | prefiltered | skipped
    facts: facts_mod.FileFacts | None = None
    skipped: Skipped | None = None
    ignores: tuple[Ignore, ...] = ()


@dataclass
class Options:
    jobs: int = 0
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    exclude: tuple[str, ...] = ()
    root: str | None = None  # paths in the report are relative to this
    kernel_tree: str | None = None


@dataclass
class RunResult:
    findings: list[Finding]
    files: list[FileResult]
    diagnostics: list[Skipped]
    unused_ignores: list[tuple[Ignore, str]] = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    root: str = "."

    @property
    def counts(self) -> Counter:
        return Counter(f.status for f in self.files)


# --- worker side -------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(prefilter_words: list[str], max_size: int) -> None:
    _WORKER["prefilter"] = compile_prefilter(prefilter_words)
    _WORKER["max_size"] = max_size


def _scan_ignores(path: str, data: bytes) -> tuple[Ignore, ...]:
    if b"pagecheck:" not in data:
        return ()
    out = []
    for m in IGNORE_RE.finditer(data):
        line = data.count(b"\n", 0, m.start()) + 1
        ids = tuple(x.strip().decode("ascii", "replace").upper() for x in (m.group(1) or b"").split(b",")
                    if x.strip())
        out.append(Ignore(path, line, ids))
    return tuple(out)


def process_file(path: str) -> FileResult:
    """Read, prefilter, parse and extract one file.  Never raises."""
    try:
        src = read_source(path, _WORKER.get("max_size", DEFAULT_MAX_FILE_SIZE))
        if isinstance(src, Skipped):
            return FileResult(path, "skipped", skipped=src)
        ignores = _scan_ignores(path, src.data)
        prefilter = _WORKER.get("prefilter")
        if prefilter is not None and not prefilter.search(src.data):
            return FileResult(path, "prefiltered", ignores=ignores)
        ff = facts_mod.extract(src, prefilter)
        return FileResult(path, "analysed", facts=ff, ignores=ignores)
    except RecursionError:
        return FileResult(path, "skipped", skipped=Skipped(path, "parse-failed", "nesting too deep"))
    except MemoryError:
        return FileResult(path, "skipped", skipped=Skipped(path, "parse-failed", "out of memory"))
    except Exception as exc:  # one bad file never hides the others
        tb = traceback.format_exc(limit=3).strip().splitlines()[-1]
        return FileResult(path, "skipped", skipped=Skipped(path, "internal-error", f"{type(exc).__name__}: {tb}"))


def _map_files(paths: list[str], words: list[str], max_size: int, jobs: int):
    if jobs <= 1 or len(paths) < 8:
        _init_worker(words, max_size)
        for p in paths:
            yield process_file(p)
        return
    import multiprocessing as mp

    ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
    chunk = max(1, min(64, len(paths) // (jobs * 8)))
    with ctx.Pool(jobs, initializer=_init_worker, initargs=(words, max_size)) as pool:
        yield from pool.imap(process_file, paths, chunksize=chunk)


# --- parent side ---------------------------------------------------------------------

def find_tree_root(paths: list[str]) -> str | None:
    """The kernel tree containing the inputs: the nearest parent with include/linux/mm_types.h."""
    for p in paths:
        d = Path(p).resolve()
        if d.is_file():
            d = d.parent
        for cand in (d, *d.parents):
            if (cand / "include" / "linux" / "mm_types.h").is_file():
                return str(cand)
    return None


def fingerprint(f: Finding, rel: str, ordinal: int) -> str:
    """Stable across unrelated line shifts: rule, file, function, value, and which occurrence."""
    h = hashlib.sha256(f"{f.rule}|{rel}|{f.function}|{f.value}|{ordinal}".encode())
    return h.hexdigest()[:32]


def run(paths: list[str], model: RoleModel, rules: RuleSet, opts: Options, progress=None,
        known_ids: set[str] | None = None) -> RunResult:
    """known_ids: every rule ID that exists (deselected ones too), to judge inline ignores."""
    known = known_ids if known_ids is not None else set(rules.rules)
    files, diags = discover(paths, opts.exclude)
    jobs = opts.jobs or os.cpu_count() or 1
    words = sorted(model.words())
    results: list[FileResult] = []
    for res in _map_files(files, words, opts.max_file_size, jobs):
        results.append(res)
        if progress is not None:
            progress(res)

    root = opts.root or find_tree_root(paths) or os.getcwd()

    def rel(p: str) -> str:
        try:
            r = os.path.relpath(p, root)
        except ValueError:
            return Path(p).as_posix()
        return Path(p).as_posix() if r.startswith("..") else Path(r).as_posix()

    all_facts = [r.facts for r in results if r.facts is not None]
    env = TypeEnv.build(all_facts)
    engine = Engine(model, rules)
    raw: list[Finding] = []
    for ff in all_facts:
        try:
            raw.extend(engine.evaluate(analyse(model, env, ff), relpath=rel))
        except Exception as exc:  # keep the other files' findings
            diags.append(Skipped(ff.path, "internal-error", f"{type(exc).__name__}: {exc}"))

    # suppression by inline comments, then fingerprints
    ignores: dict[str, list[Ignore]] = {}
    for r in results:
        if r.ignores:
            ignores[r.path] = list(r.ignores)
    used: set[tuple[str, int, str]] = set()
    kept: list[Finding] = []
    for f in raw:
        hit = False
        for ig in ignores.get(f.path, ()):
            if ig.line in (f.line, f.line - 1) and f.rule in ig.ids:
                used.add((ig.path, ig.line, f.rule))
                hit = True
        if not hit:
            kept.append(f)
    unused: list[tuple[Ignore, str]] = []
    for path, igs in ignores.items():
        for ig in igs:
            if not ig.ids:
                unused.append((ig, "no rule IDs given"))
            for rid in ig.ids:
                if rid not in known:
                    unused.append((replace(ig, ids=(rid,)), "unknown rule ID"))
                elif (ig.path, ig.line, rid) not in used and rules.get(rid) is not None:
                    unused.append((replace(ig, ids=(rid,)), "suppresses nothing"))

    ordinals: Counter = Counter()
    final = []
    for f in kept:
        relp = rel(f.path)
        key = (f.rule, relp, f.function, f.value)
        fp = fingerprint(f, relp, ordinals[key])
        ordinals[key] += 1
        final.append(replace(f, fingerprint=fp))

    for r in results:
        if r.skipped is not None:
            diags.append(r.skipped)
    stats = {
        "files": len(files),
        "analysed": sum(1 for r in results if r.status == "analysed"),
        "prefiltered": sum(1 for r in results if r.status == "prefiltered"),
        "skipped": sum(1 for r in results if r.status == "skipped"),
        "functions": sum(f.n_functions for f in all_facts),
        "functions_analysed": sum(f.n_relevant for f in all_facts),
    }
    return RunResult(final, results, diags, unused, stats, root)
