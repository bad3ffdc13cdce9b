"""On-disk caches: per-file facts by content hash, and whole-run results.

Layout under the cache directory (`$XDG_CACHE_HOME/pagecheck`, default
`~/.cache/pagecheck`, or `--cache-dir DIR`)::

    v1/facts/ab/<key>.json     one file's facts (or "prefiltered"), key = hash(salt, content hash)
    v1/clean/<key>.json        content hashes of files with nothing page-related, key = hash(salt)
    v1/scans/<key>.json        first-pass scans of the files with evidence, key = hash(salt)
    v1/stat/<key>.json         path -> (size, mtime_ns, inode, mode, content hash) for one input set
    v1/runs/<key>.json         a whole run's findings, key = hash(salt, rules, options, every input's hash)

Rules of the house:

* **Data only.**  Everything is JSON (see codec.py); loading a cache file can
  never run code.
* **Never trusted, never fatal.**  A file that is truncated, corrupt, from
  another version or simply foreign is ignored (and rewritten on the next
  store).  Every entry repeats its own key, so a file renamed or copied into
  the wrong place is ignored too.  Any OSError while reading or writing just
  means "no cache".
* **Concurrent runs are safe.**  Writes go to a temp file in the same
  directory and are renamed into place (atomic on POSIX), so a reader sees
  the old file or the new one, never half of one.  Two runs writing the same
  key write the same content.
* **The key says everything the value depends on.**  Facts: the code that
  makes them (a digest of FACTS_CODE, so an edited checkout never reads stale
  facts), tree-sitter's version, the role model's digest and the prefilter's
  words.  Whole runs: all of the package's code and every file under rules/.  The stat index is only a
  shortcut to content hashes: an entry whose mtime is too close to when it
  was recorded is re-hashed (the "racy git" problem).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

FORMAT = "v1"
# A file modified within this window of the stat index being written may have
# changed again without its mtime moving: its stat entry is not trusted.
RACY_NS = 2_000_000_000


def default_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pagecheck")


def content_hash(data: bytes) -> str:
    """The identity of a file's content (not a security boundary: a cache key)."""
    return hashlib.sha1(data).hexdigest()


# The modules facts are made by: an edit to any of them (or to a query) makes
# new facts; an edit elsewhere (inference, rules, reports) does not.
FACTS_CODE = ("facts.py", "parse.py", "prefilter.py", "source.py", "codec.py", "cache.py", "queries/")


@lru_cache(maxsize=2)
def code_digest(only: tuple[str, ...] | None = None) -> str:
    """Digest of the pagecheck code (or of the files under `only`) and the parser."""
    from . import __version__

    h = hashlib.sha256(__version__.encode())
    pkg = Path(__file__).resolve().parent
    for p in sorted(pkg.rglob("*")):
        rel = p.relative_to(pkg).as_posix()
        if only is not None and not rel.startswith(only):
            continue
        if p.suffix in (".py", ".scm") and "__pycache__" not in p.parts:
            h.update(rel.encode() + b"\0" + p.read_bytes())
    h.update(_parser_identity().encode())
    return h.hexdigest()[:20]


def _parser_identity() -> str:
    """Which tree-sitter and grammar are installed: their files' paths, sizes and
    mtimes (a reinstall or upgrade changes them).  No import and no package
    metadata scan: this runs on every start, and pre-commit starts often."""
    from importlib.util import find_spec

    parts = []
    for name in ("tree_sitter", "tree_sitter_c"):
        try:
            spec = find_spec(name)
            d = os.path.dirname(spec.origin) if spec and spec.origin else None
            for f in sorted(os.listdir(d)) if d else ():
                if not f.endswith((".py", ".so", ".pyd", ".dylib")):
                    continue
                st = os.stat(os.path.join(d, f))
                parts.append(f"{name}/{f}:{st.st_size}:{st.st_mtime_ns}")
        except (OSError, ImportError, ValueError):
            parts.append(f"{name}:?")
    return "|".join(parts)


def digest_of(*parts: Any) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str).encode())
    return h.hexdigest()[:32]


class Store:
    """Atomic, validated JSON files under one directory."""

    def __init__(self, root: str):
        self.root = os.path.join(root, FORMAT)

    def path(self, kind: str, key: str) -> str:
        if kind == "facts":
            return os.path.join(self.root, kind, key[:2], key + ".json")
        return os.path.join(self.root, kind, key + ".json")

    def load(self, kind: str, key: str) -> Any | None:
        """The value stored under key, or None for anything missing or not exactly ours."""
        try:
            with open(self.path(kind, key), "rb") as fh:
                doc = json.loads(fh.read())
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(doc, dict) or doc.get("key") != key or doc.get("format") != FORMAT:
            return None
        return doc.get("value")

    def save(self, kind: str, key: str, value: Any) -> bool:
        path = self.path(kind, key)
        try:
            text = json.dumps({"format": FORMAT, "key": key, "value": value}, separators=(",", ":"))
        except (TypeError, ValueError):
            return False  # not JSON data: do not cache it
        d = os.path.dirname(path)
        try:
            os.makedirs(d, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=d)
        except OSError:
            return False
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
            return True
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return False


class FactsCache:
    """Per-file entries keyed by content hash (plus everything else facts depend on)."""

    def __init__(self, root: str, salt: str):
        self.store = Store(root)
        self.salt = salt
        self._bulk: dict[str, dict] = {}  # "clean" / "scans" -> that entry, once loaded
        # the bulk entries (clean, scans) pay off on many files; a run of a few
        # files (pre-commit) scans them faster than it could load the entries
        self.bulk = True

    def key(self, digest: str) -> str:
        return hashlib.sha256(f"{self.salt}:{digest}".encode()).hexdigest()[:40]

    def get(self, digest: str) -> dict | None:
        entry = self.store.load("facts", self.key(digest))
        if not isinstance(entry, dict) or entry.get("status") not in ("analysed", "prefiltered"):
            return None
        return entry

    def put(self, digest: str, entry: dict) -> None:
        self.store.save("facts", self.key(digest), entry)

    # Bulk entries: one JSON file per kind for a whole tree's worth of small
    # values.  Files with nothing page-related (four in five of a tree) used to be
    # a file each: a cold whole-tree run wrote 42,000 of them, 5 of its 37 seconds.
    # The first pass's scans of the files with evidence are another (14 MB of
    # JSON on 6.12): after one file changes, the others are not scanned again.

    def _bulk_entry(self, kind: str) -> dict:
        """The bulk entry `kind`, loaded once (first call before forking workers:
        they inherit it); empty when this run does not use bulk entries."""
        got = self._bulk.get(kind)
        if got is None:
            doc = self.store.load(kind, self.key(kind)) if self.bulk else None
            got = self._bulk[kind] = doc if isinstance(doc, dict) else {}
        return got

    def _add_bulk(self, kind: str, found: dict) -> None:
        """Store the entries of `found` not known yet, merged with what another run
        may have stored meanwhile."""
        if not self.bulk:
            return
        known = self._bulk_entry(kind)
        new = {k: v for k, v in found.items() if k not in known}
        if not new:
            return
        on_disk = self.store.load(kind, self.key(kind))
        merged = {**(on_disk if isinstance(on_disk, dict) else {}), **known, **new}
        if self.store.save(kind, self.key(kind), merged):
            self._bulk[kind] = merged

    def clean(self) -> dict:
        """content hash -> inline ignores, for files the prefilter found nothing in."""
        return self._bulk_entry("clean")

    def clean_ignores(self, digest: str) -> list | None:
        """The inline ignores of a known-clean file, or None if it is not known clean."""
        got = self.clean().get(digest)
        return got if isinstance(got, list) else None

    def add_clean(self, found: dict[str, list]) -> None:
        self._add_bulk("clean", found)

    def scans(self) -> dict:
        """scan key (content hash, ":h" for a header) -> Scan as JSON data."""
        return self._bulk_entry("scans")

    def scan_for(self, key: str):
        """The stored first-pass Scan under `key` (validated), or None."""
        from .codec import CodecError, decode
        from .prefilter import Scan

        raw = self.scans().get(key)
        if raw is None:
            return None
        try:
            return decode(raw, Scan)
        except CodecError:
            return None

    def add_scans(self, found: dict) -> None:
        """Record more first-pass scans (key -> Scan)."""
        import dataclasses

        from .prefilter import Scan

        if not self.bulk:
            return
        # A Scan holds only tuples, strings, ints and bools: the list of its field
        # values dumps to codec.encode's JSON (scan_for() decodes it with codec,
        # validating), at a tenth of the cost
        names = [f.name for f in dataclasses.fields(Scan)]
        known = self.scans()
        self._add_bulk("scans", {k: [getattr(v, n) for n in names] for k, v in found.items() if k not in known})


def facts_salt(model_digest: str, terms_digest: str) -> str:
    return digest_of("facts", code_digest(FACTS_CODE), model_digest, terms_digest)


class StatIndex:
    """path -> (stat..., content hash), so a warm run reads no file.

    The stat part is whatever `runner._stat` records (size, mtime_ns, inode, mode).
    """

    def __init__(self, store: Store, key: str):
        self.store = store
        self.key = key
        self.entries: dict[str, list] = {}
        self.written_ns = 0
        doc = store.load("stat", key)
        if isinstance(doc, dict) and isinstance(doc.get("entries"), dict) and isinstance(doc.get("written_ns"), int):
            self.entries = doc["entries"]
            self.written_ns = doc["written_ns"]

    def digest(self, path: str, stat: list | None) -> str | None:
        """The recorded content hash of path, if its stat still matches and is not racy."""
        e = self.entries.get(path)
        if (stat is None or not isinstance(e, list) or e[:-1] != stat or not isinstance(e[-1], str)
                or stat[1] >= self.written_ns - RACY_NS):
            return None
        return e[-1]

    def record(self, path: str, stat: list | None, digest: str) -> None:
        if stat is not None and digest:
            self.entries[path] = [*stat, digest]

    def save(self) -> None:
        self.store.save("stat", self.key, {"written_ns": time.time_ns(), "entries": self.entries})


# --- whole-run results ------------------------------------------------------------------

def _rules_digest() -> str:
    """Every file under rules/ (roles, operations, layouts, rule files)."""
    from .model import rules_dir

    h = hashlib.sha256()
    base = rules_dir()
    for p in sorted(base.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(base)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:20]


def _layout_digest(tree: str | None, model) -> str:
    """The tree headers the struct page layout is read from (layouts.py): they change results too."""
    if not tree:
        return ""
    from . import layouts

    try:
        spec = layouts.load_spec(model)
    except Exception:  # a broken layouts.toml fails the run itself, with its own message
        return "no-spec"
    h = hashlib.sha256()
    for rel in sorted({spec.page_file, *(f for _name, files, _role in spec.descriptors for f in files)}):
        try:
            with open(os.path.join(tree, rel), "rb") as fh:
                h.update(rel.encode() + content_hash(fh.read()).encode())
        except OSError:
            h.update(rel.encode() + b"-")
    return h.hexdigest()[:20]


def run_with_cache(paths: list[str], model, rules, opts, progress_for=None, known_ids: set[str] | None = None,
                   run=None):
    """`runner.run`, answered from the cache when nothing it depends on changed.

    Warm path: discover the files, stat them, and when every one still has the
    (size, mtime, inode, mode) recorded with its content hash, the run key is
    known without reading a byte; a stored result for that key is the answer.
    Otherwise the normal run happens, with the per-file facts cache in the
    workers, and its result is stored for next time.  --kernel-tree runs are
    not stored whole (their helper files are chosen during the run).
    `progress_for(total)` may return a per-file callback (with close()) for the run;
    `run` is the pipeline to call on a miss (default `runner.run`).
    """
    from . import runner
    from .source import discover

    cache_dir = opts.cache_dir or default_dir()
    opts.cache_dir = cache_dir
    store = Store(cache_dir)
    files, _ = discover(paths, opts.exclude)
    abs_files = [os.path.abspath(f) for f in files]
    index = StatIndex(store, digest_of("stat", sorted(os.path.abspath(p) for p in paths), opts.exclude))
    tree_root = opts.kernel_tree or runner.find_tree_root(paths)
    base_key = (code_digest(), _rules_digest(), model.digest, sorted(rules.rules), sorted(known_ids or ()),
                opts.max_file_size, list(opts.exclude), opts.root, os.getcwd(), opts.shard,
                sorted(os.path.abspath(p) for p in paths), _layout_digest(tree_root, model))

    whole = not opts.kernel_tree
    if whole:
        digests = []
        for f in abs_files:
            d = index.digest(f, runner._stat(f))
            if d is None:
                break
            digests.append(d)
        else:
            key = digest_of("run", base_key, list(zip(files, digests)))
            hit = _load_result(store, key)
            if hit is not None:
                return hit

    bar = progress_for(len(files)) if progress_for is not None else None
    try:
        result = (run or runner.run)(paths, model, rules, opts, progress=bar, known_ids=known_ids)
    finally:
        if bar is not None:
            bar.close()
    by_path = {r.path: r for r in result.files}
    digests = []
    for f, a in zip(files, abs_files):
        r = by_path.get(f)
        if r is not None and r.digest:
            index.record(a, r.stat, r.digest)
        digests.append(r.digest if r is not None else "")
    index.save()
    if whole and all(digests) and len(result.files) == len(files):
        _save_result(store, digest_of("run", base_key, list(zip(files, digests))), result)
    return result


def _result_types():
    from .engine import Finding
    from .runner import Ignore
    from .source import Skipped

    return list[Finding], list[Skipped], list[tuple[Ignore, str]]


def _save_result(store: Store, key: str, result) -> None:
    from .codec import CodecError, encode

    tf, td, tu = _result_types()
    try:
        value = {"findings": encode(result.findings, tf), "diagnostics": encode(result.diagnostics, td),
                 "unused": encode(result.unused_ignores, tu), "stats": result.stats, "root": result.root,
                 "files": [[r.path, r.status] for r in result.files]}
    except CodecError:
        return
    store.save("runs", key, value)


def _load_result(store: Store, key: str):
    from .codec import CodecError, decode
    from .runner import FileResult, RunResult

    value = store.load("runs", key)
    if not isinstance(value, dict):
        return None
    tf, td, tu = _result_types()
    try:
        memo: dict = {}
        findings = decode(value["findings"], tf, memo)
        diags = decode(value["diagnostics"], td, memo)
        unused = decode(value["unused"], tu, memo)
        files = [FileResult(p, s) for p, s in decode(value["files"], list[tuple[str, str]], memo)]
        stats, root = value["stats"], value["root"]
    except (CodecError, KeyError, TypeError):
        return None
    if not isinstance(stats, dict) or not isinstance(root, str):
        return None
    return RunResult(findings, files, diags, unused, stats, root)
