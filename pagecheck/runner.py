"""The pipeline end to end: source → parse → facts → roles → rules → suppress.

`run()` is what the CLI calls.  Per-file work (read, prefilter, parse, extract
facts) runs in worker processes; the tree-wide part (struct member types,
role inference, rules) runs in the parent on plain facts.  Every input file
ends up in exactly one of: analysed, skipped by the prefilter (it mentions
nothing the model knows), or a diagnostic with its reason.
"""

from __future__ import annotations

import gc
import hashlib
import os
import re
import traceback
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import facts as facts_mod
from . import kerneltree, layouts, workers
from .engine import Engine, Finding
from .infer import TypeEnv
from .model import RoleModel
from .summaries import TreeResult, analyse_tree, load_policy
from .rules import RuleSet
from . import codec, wire
from . import shard as shard_mod
from .cache import FactsCache, content_hash, facts_salt
from .prefilter import Prefilter, Scan, Terms, needed_weak, plan_for
from .source import DEFAULT_MAX_FILE_SIZE, Skipped, discover, read_source, relpath

# `ignore` without a bracket is matched too, so that a missing ID list is reported, not ignored
# An analysed file whose parse recovered less than this share of its bytes is
# reported as a "parse-errors" diagnostic (it is still analysed: findings in the
# parts that parsed are kept).  Tree-sitter recovers locally from most kernel
# macro tricks, so two thirds of kernel files have some ERROR node, nearly all
# covering under 1% of the file; below 90% a material part was lost.
PARSE_REPORT_BELOW = 0.9
PARTIAL_REASONS = frozenset({"parse-errors"})  # diagnostics about files that were still analysed
# Below this many files a run neither loads nor stores the cache's bulk entries
# (FactsCache.clean/scans, megabytes of JSON): scanning a few files is faster.
BULK_CACHE_MIN_FILES = 256

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
    # what the cache's stat index needs: content hash ("skip:<reason>" for a file
    # skipped for what it is) and [size, mtime_ns, inode, mode] seen before reading
    digest: str = ""
    stat: list | None = None


@dataclass
class Options:
    jobs: int = 0
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    exclude: tuple[str, ...] = ()
    root: str | None = None  # paths in the report are relative to this
    kernel_tree: str | None = None
    cache_dir: str | None = None  # per-file facts cache (cache.py); None: no cache
    shard: tuple[int, int] | None = None  # (K, N): report only shard K of N (whole-tree analysis)


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


def _init_pool_worker(terms: Terms, max_size: int, cache: FactsCache | None = None) -> None:
    """Pool workers leave interrupts to the parent.

    Ctrl-C reaches the whole process group: the parent gets KeyboardInterrupt
    and terminates the pool, so workers ignore SIGINT (no traceback per worker).
    SIGTERM gets its default action back (a forked worker inherits the CLI's
    handler), so Pool.terminate() stops a worker at once, even mid-parse.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # forked from a parent that paused the collector (gc_paused): what we inherit
    # is never collected here, what we make dies young
    gc.freeze()
    gc.enable()
    _init_worker(terms, max_size, cache)


def _init_worker(terms: Terms, max_size: int, cache: FactsCache | None = None) -> None:
    _WORKER["prefilter"] = Prefilter(terms)
    _WORKER["max_size"] = max_size
    _WORKER["cache"] = cache


def _scan_ignores(path: str, data: bytes) -> tuple[Ignore, ...]:
    if b"pagecheck:" not in data:
        return ()
    out = []
    line, last = 1, 0
    for m in IGNORE_RE.finditer(data):
        # count lines incrementally: a file of 100,000 ignores must stay linear
        line += data.count(b"\n", last, m.start())
        last = m.start()
        ids = tuple(x.strip().decode("ascii", "replace").upper() for x in (m.group(1) or b"").split(b",")
                    if x.strip())
        out.append(Ignore(path, line, ids))
    return tuple(out)


def process_file(path: str) -> FileResult:
    """Read, prefilter, parse and extract one file (or take it from the cache).  Never raises."""
    res, encoded = _process(path)
    if res.facts is None and encoded is not None:
        res = _with_facts(res, encoded, {})
    return res


# Skip reasons that follow from the file's bytes and type alone (the stat index
# can vouch for them); "unreadable" may change without the file changing.
_STABLE_SKIPS = ("too-large", "not-text", "not-a-file")


def _stat(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode]


def _scan(path: str) -> tuple[FileResult | None, Scan | None, str]:
    """First pass of a two-phase run: read and prefilter, parse nothing.

    A file that is skipped or holds no evidence gets its final result here;
    for the others the result is None and their `Scan` says which functions
    have strong evidence and what they call (runner._map_files), and the
    content hash says which bytes the scan's offsets are of."""
    try:
        stat = _stat(path)
        src = read_source(path, _WORKER.get("max_size", DEFAULT_MAX_FILE_SIZE))
        if isinstance(src, Skipped):
            digest = f"skip:{src.reason}" if src.reason in _STABLE_SKIPS else ""
            return FileResult(path, "skipped", skipped=src, digest=digest, stat=stat), None, digest
        digest = content_hash(src.data)
        cache: FactsCache | None = _WORKER.get("cache")
        if cache is not None:
            known = cache.clean_ignores(digest)
            if known is not None:
                ignores = _cached_ignores(path, {"status": "prefiltered", "ignores": known})
                if ignores is not None:
                    return FileResult(path, "prefiltered", ignores=ignores, digest=digest, stat=stat), None, digest
        header = path.endswith(".h")
        if cache is not None:
            sc = cache.scan_for(_scan_key(digest, header))
            if sc is not None:
                return None, sc, digest
        sc = _WORKER["prefilter"].scan(src.data, header=header)
        if sc is not None:
            return None, sc, digest
        ignores = _scan_ignores(path, src.data)  # the parent records the file as clean (FactsCache.add_clean)
        return FileResult(path, "prefiltered", ignores=ignores, digest=digest, stat=stat), None, digest
    except Exception:  # the second pass reports it with its reason
        return None, Scan((), (), ()), ""


def _process(path: str, keep_weak: tuple[str, ...] | None = None) -> tuple[FileResult, list | tuple | None]:
    """The per-file work.  Returns the result and its facts encoded: on a cache
    hit, the entry's JSON data (a list; the result's `facts` is None and the
    caller decodes them); when the facts were made here and encoded for the
    cache, the wire tuples (wire.encode, the same shape), which the caller
    can marshal without encoding again.
    `keep_weak`: the conditional functions of this file to analyse (None: all)."""
    try:
        stat = _stat(path)  # before reading: a later change moves the mtime past this
        src = read_source(path, _WORKER.get("max_size", DEFAULT_MAX_FILE_SIZE))
        if isinstance(src, Skipped):
            digest = f"skip:{src.reason}" if src.reason in _STABLE_SKIPS else ""
            return FileResult(path, "skipped", skipped=src, digest=digest, stat=stat), None
        digest = content_hash(src.data)
        # the facts depend on which weak-only functions are kept: part of the key
        ckey = digest if keep_weak is None else f"{digest}|weak:{','.join(keep_weak)}"
        cache: FactsCache | None = _WORKER.get("cache")
        if cache is not None:
            entry = cache.get(ckey)
            ignores = _cached_ignores(path, entry) if entry is not None else None
            if ignores is not None:
                return FileResult(path, entry["status"], ignores=ignores, digest=digest, stat=stat), entry.get("facts")
        ignores = _scan_ignores(path, src.data)
        prefilter = _WORKER.get("prefilter")
        planned = _WORKER["plans"].get(path) if keep_weak is not None and "plans" in _WORKER else None
        if planned is not None and planned[0] == digest:
            plan = planned[1]  # the first pass planned these very bytes: no second scan
        else:
            plan = (prefilter.plan(src.data, None if keep_weak is None else frozenset(keep_weak))
                    if prefilter is not None else None)
        ff = None if prefilter is not None and plan is None else facts_mod.extract(src, plan)
        res = FileResult(path, "prefiltered" if ff is None else "analysed", facts=ff, ignores=ignores,
                         digest=digest, stat=stat)
        encoded = None
        # a file the plan leaves nothing of costs nothing to plan again: not cached
        if cache is not None and ff is not None:
            encoded = wire.encode(ff, facts_mod.FileFacts)
            cache.put(ckey, {"status": res.status, "facts": encoded,
                             "ignores": [[ig.line, list(ig.ids)] for ig in ignores]})
        return res, encoded
    except RecursionError:
        return FileResult(path, "skipped", skipped=Skipped(path, "parse-failed", "nesting too deep")), None
    except MemoryError:
        return FileResult(path, "skipped", skipped=Skipped(path, "parse-failed", "out of memory")), None
    except Exception as exc:  # one bad file never hides the others
        tb = traceback.format_exc(limit=3).strip().splitlines()[-1]
        return FileResult(path, "skipped",
                          skipped=Skipped(path, "internal-error", f"{type(exc).__name__}: {tb}")), None


def _cached_ignores(path: str, entry: dict) -> tuple[Ignore, ...] | None:
    """The inline ignores of a cache entry, or None if the entry is not well formed."""
    raw = entry.get("ignores")
    if not isinstance(raw, list) or (entry["status"] == "analysed") != isinstance(entry.get("facts"), list):
        return None
    out = []
    for item in raw:
        if (not isinstance(item, list) or len(item) != 2 or type(item[0]) is not int
                or not isinstance(item[1], list) or not all(isinstance(x, str) for x in item[1])):
            return None
        out.append(Ignore(path, item[0], tuple(item[1])))
    return tuple(out)


def _with_facts(res: FileResult, encoded: list | bytes, memo: dict) -> FileResult:
    """Decode a result's facts: JSON data (a cache entry, codec.py) or a worker's
    wire payload (bytes, wire.py).  Facts that do not decode (a corrupt cache
    entry, a damaged payload) are recomputed here, without the cache."""
    try:
        if type(encoded) is bytes:
            ff = wire.loads(encoded, facts_mod.FileFacts)  # strings shared by marshal's interning
        else:
            ff = codec.decode(encoded, facts_mod.FileFacts, memo)
    except (codec.CodecError, wire.WireError):
        cache = _WORKER.pop("cache", None)
        try:
            res, _ = _process(res.path)
        finally:
            _WORKER["cache"] = cache
        return res
    if ff.path != res.path:  # the same content under another name shares the entry
        ff = replace(ff, path=res.path)
    res.facts = ff
    return res


def _process_for_parent(item) -> tuple[FileResult, bytes | None]:
    """Pool entry point: facts travel to the parent as a wire payload (wire.py:
    marshalled tuples, strings interned so the parent holds one copy of each
    name for the whole run).  Pickled dataclasses load slower and bring every
    file its own copies of the same names: on the 6.12 tree the run peaked at
    2.0 GB instead of 1.3 GB.  A cache hit is decoded (validated) here first:
    the parent trusts the wire and never sees data read from disk."""
    path, keep_weak = item if isinstance(item, tuple) else (item, None)
    res, encoded = _process(path, keep_weak=keep_weak)
    if res.facts is None and encoded is not None:
        res = _with_facts(res, encoded, {})
    if res.facts is None:
        return res, None
    try:
        payload = (wire.dumps_encoded(encoded) if type(encoded) is tuple
                   else wire.dumps(res.facts, facts_mod.FileFacts))
    except Exception:  # (cannot happen for facts extract() made) send the objects pickled
        return res, None
    res.facts = None
    return res, payload


def _process_local(item) -> tuple[FileResult, list | None]:
    """In-process: the facts stay objects (decoded only on a cache hit)."""
    path, keep_weak = item if isinstance(item, tuple) else (item, None)
    return _process(path, keep_weak=keep_weak)


def facts_cache(opts: Options, model: RoleModel, terms: Terms) -> FactsCache | None:
    """The per-file facts cache for this model and prefilter, if caching is on."""
    if not opts.cache_dir:
        return None
    return FactsCache(opts.cache_dir, facts_salt(model.digest, terms.digest))


def _map_files(paths: list[str], terms: Terms, max_size: int, jobs: int, cache: FactsCache | None = None,
               two_phase: bool = False):
    """Results for `paths`, in order.

    `two_phase`: functions whose only evidence is weak (`Terms.weak`: kmalloc
    family and kfree, two thirds of all facts in a tree) are analysed only when
    they call, or are called by, a function analysed for stronger evidence
    (`prefilter.needed_weak`, over every file's `Scan`).  A first pass reads
    and prefilters every file without parsing; the second parses the files
    with evidence.
    """
    memo: dict = {}  # one string/value table for the whole run: a tree's facts repeat their names
    _init_worker(terms, max_size, cache)  # the parent decodes (and may recompute) too
    if not two_phase or not terms.weak:
        for res, encoded in _run(_process_for_parent, paths, terms, max_size, jobs, cache):
            yield _with_facts(res, encoded, memo) if res.facts is None and encoded is not None else res
        return
    if cache is not None:
        cache.bulk = len(paths) >= BULK_CACHE_MIN_FILES
        cache.clean()  # loaded before the workers fork, so they share them
        cache.scans()
    first, writer = _phase_one(paths, terms, max_size, jobs, cache)
    if cache is not None:
        cache.add_clean({r.digest: [[ig.line, list(ig.ids)] for ig in r.ignores] for r, _k, _p in first
                         if r is not None and r.status == "prefiltered" and r.digest})
    items = [(p, keep) for p, (r, keep, _planned) in zip(paths, first) if r is None]
    # The first pass's plans reach the second pass's workers by fork (they are
    # forked after this); elsewhere a worker plans again from the bytes.
    _WORKER["plans"] = {p: planned for p, (r, _keep, planned) in zip(paths, first) if planned is not None}
    try:
        second = _run(_process_for_parent, items, terms, max_size, jobs, cache)
        for r, _keep, _planned in first:
            if r is not None:
                yield r
                continue
            res, encoded = next(second)
            yield _with_facts(res, encoded, memo) if res.facts is None and encoded is not None else res
        # run the pool to its end, so its workers are asked to leave: a pool left
        # suspended is killed when the generator is closed
        for _extra in second:
            raise RuntimeError("the second pass returned more results than files")
    finally:
        _WORKER.pop("plans", None)
        if writer is not None:
            _reap(writer, 60)


def _scan_key(digest: str, header: bool) -> str:
    """A scan depends on the bytes and on being a header (whose statics every includer sees)."""
    return f"{digest}:h" if header else digest


def _phase_one_here(paths: list[str], terms: Terms, max_size: int, jobs: int, cache: FactsCache | None):
    """Per file: its final result (skipped, prefiltered), or None, the conditional
    functions to keep in it, and (content hash, plan) for the second pass.  And
    the scans by cache key, for the cache to remember."""
    first = list(_run(_scan, paths, terms, max_size, jobs, cache))
    needed = needed_weak([sc for _r, sc, _d in first])
    out = []
    scans = {}  # the cache keeps those it does not know yet (FactsCache.add_scans)
    for path, (r, sc, digest), need in zip(paths, first, needed):
        if r is not None:
            out.append((r, (), None))
        else:
            planned = (digest, plan_for(sc.parts, sc.structs, need)) if digest and sc.parts else None
            out.append((None, tuple(sorted(need)), planned))
            if cache is not None and digest and sc.parts:
                scans[_scan_key(digest, path.endswith(".h"))] = sc
    return out, scans


def _phase_one_child(conn, paths, terms, max_size, jobs, cache) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides, and terminates us

    def stop(_sig, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        out, scans = _phase_one_here(paths, terms, max_size, jobs, cache)
        conn.send(out)
        conn.close()
        # after the answer: the parent goes on with the second pass meanwhile
        if cache is not None and scans:
            cache.add_scans(scans)
    except BaseException:  # interrupted: our workers are reaped by workers.imap; no traceback
        pass
    finally:
        conn.close()
    os._exit(0)


def _phase_one(paths: list[str], terms: Terms, max_size: int, jobs: int, cache: FactsCache | None):
    """The first pass runs in a child process: its call lists and the tree-wide
    name sets (about 160 MB on 6.12) are gone with it, so the second pass's
    workers fork from a small parent (every forked worker would count the
    parent's memory as its own) and the parent keeps only the answer."""
    if jobs <= 1 or len(paths) < 8 or not hasattr(os, "fork"):
        return _phase_one_in_parent(paths, terms, max_size, jobs, cache), None
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_phase_one_child, args=(send, paths, terms, max_size, jobs, cache))
    proc.start()
    send.close()
    got = None
    try:
        got = recv.recv()
    except EOFError:  # it died (OOM killer): do the pass here
        pass
    finally:
        recv.close()
        if got is None:
            _reap(proc, 0)
    if got is None:
        return _phase_one_in_parent(paths, terms, max_size, jobs, cache), None
    return got, proc  # still storing its scans: the caller reaps it (_reap) after the second pass


def _phase_one_in_parent(paths, terms, max_size, jobs, cache):
    out, scans = _phase_one_here(paths, terms, max_size, jobs, cache)
    if cache is not None and scans:
        cache.add_scans(scans)
    return out


def _reap(proc, grace: float) -> None:
    """Wait up to `grace` seconds for a child, then stop it."""
    proc.join(grace)
    if proc.is_alive():
        proc.terminate()
        proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()


def _run(fn, items: list, terms: Terms, max_size: int, jobs: int, cache: FactsCache | None):
    if jobs <= 1 or len(items) < 8:
        yield from map(_process_local if fn is _process_for_parent else fn, items)
        return
    # small chunks keep both workers busy to the end; results stream back in order.
    # Not multiprocessing.Pool: it waits forever for the file of a worker that died.
    chunk = max(1, min(16, len(items) // (jobs * 16)))
    yield from workers.imap(fn, items, jobs, chunk, _init_pool_worker, (terms, max_size, cache),
                            on_death=_scan_worker_died if fn is _scan else _worker_died)


def _scan_worker_died(item, why: str) -> tuple[FileResult, None, str]:
    """The first pass's shape of _worker_died."""
    res, _ = _worker_died(item, why)
    return res, None, ""


def _worker_died(item, why: str) -> tuple[FileResult, None]:
    """The worker process analysing `path` died (OOM killer, a crash in the parser)."""
    path = item[0] if isinstance(item, tuple) else item
    return FileResult(path, "skipped", skipped=Skipped(path, "internal-error", f"worker process died: {why}")), None


# --- parent side ---------------------------------------------------------------------

def find_tree_root(paths: list[str]) -> str | None:
    """The kernel tree containing the inputs: the nearest parent with include/linux/mm_types.h."""
    for p in paths:
        d = Path(os.path.realpath(p))  # not resolve(): a symlink loop must not raise
        if d.is_file():
            d = d.parent
        for cand in (d, *d.parents):
            if (cand / "include" / "linux" / "mm_types.h").is_file():
                return str(cand)
    return None


def global_phase(model: RoleModel, facts: list[facts_mod.FileFacts],
                 helpers: list[facts_mod.FileFacts] = ()) -> TreeResult:
    """The tree-wide part: struct types, summaries, member values, per-function roles.

    A pure function of the facts (and the layout already applied to `model`),
    so facts from a cache feed it unchanged.  `helpers` (kernel-tree files a
    module calls into) inform summaries and types but are not reported on.
    """
    every = list(facts) + list(helpers)
    env = TypeEnv.build(every)
    return analyse_tree(model, env, every, load_policy(model), report={ff.path for ff in facts})


def _layout_stats(layout) -> str:
    if layout is None:
        return "built-in tables (no include/linux/mm_types.h found)"
    arms = ", ".join(a.role or "-" for a in layout.arms)
    return f"{layout.tree}: struct page arms [{arms}]; descriptors [{', '.join(sorted(layout.descriptors))}]"


def fingerprint(f: Finding, rel: str, ordinal: int) -> str:
    """Stable across unrelated line shifts: rule, file, function, value, and which occurrence."""
    h = hashlib.sha256(f"{f.rule}|{rel}|{f.function}|{f.value}|{ordinal}".encode())
    return h.hexdigest()[:32]


@contextmanager
def gc_paused():
    """No cyclic garbage collection while a run builds its facts.

    A whole tree's facts are millions of small objects, all alive until the
    end and none in a reference cycle; each full collection walked all of
    them, about 18 of the parent's 36 CPU-seconds on Linux 6.12.  Afterwards
    they are frozen (never walked again) and collection resumes.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.freeze()
            gc.enable()


def run(paths: list[str], model: RoleModel, rules: RuleSet, opts: Options, progress=None,
        known_ids: set[str] | None = None) -> RunResult:
    """known_ids: every rule ID that exists (deselected ones too), to judge inline ignores."""
    with gc_paused():
        return _run_pipeline(paths, model, rules, opts, progress, known_ids)


def _run_pipeline(paths: list[str], model: RoleModel, rules: RuleSet, opts: Options, progress,
         known_ids: set[str] | None) -> RunResult:
    known = known_ids if known_ids is not None else set(rules.rules)
    # the tree's own struct page layout decides which role owns each field
    layout_tree = opts.kernel_tree or find_tree_root(paths)
    layout = layouts.read(layout_tree, model) if layout_tree else None
    model = layouts.apply(model, layout)
    files, diags = discover(paths, opts.exclude)
    n_discover_skips = len(diags)
    jobs = opts.jobs or os.cpu_count() or 1
    terms = Terms.from_model(model)  # after layouts.apply: the tree's own fields count
    fcache = facts_cache(opts, model, terms)
    results: list[FileResult] = []
    for res in _map_files(files, terms, opts.max_file_size, jobs, fcache, two_phase=True):
        results.append(res)
        if progress is not None:
            progress(res)

    root = opts.root or find_tree_root(paths) or os.getcwd()

    def rel(p: str) -> str:
        return relpath(p, root)

    shard_helpers: list[facts_mod.FileFacts] = []
    if opts.shard is not None:
        # whole-tree analysis, shard-local report (shard.py): the other shards'
        # files inform the tree-wide phase like --kernel-tree helpers do
        shard_helpers = [r.facts for r in results if r.facts is not None and not shard_mod.mine(rel(r.path), opts.shard)]
        results = [r for r in results if shard_mod.mine(rel(r.path), opts.shard)]
        files = [f for f in files if shard_mod.mine(rel(f), opts.shard)]
        diags = [d for d in diags if shard_mod.mine(rel(d.path), opts.shard)]
        n_discover_skips = len(diags)
    all_facts = [r.facts for r in results if r.facts is not None]
    helpers: list[facts_mod.FileFacts] = []
    helper_stats: dict = {}
    if opts.kernel_tree:
        def extract(ps: list[str]):
            return (res.facts for res in _map_files(ps, terms, opts.max_file_size, jobs, fcache))

        skip = set(model.source_role) | set(model.converters) | set(model.operations) | set(model.helper_roles)
        helpers, helper_stats = kerneltree.helper_facts(opts.kernel_tree, all_facts, skip, extract)
    tree = global_phase(model, all_facts, helpers + shard_helpers)
    engine = Engine(model, rules)
    raw: list[Finding] = []
    for r in results:
        if r.facts is None:
            continue
        try:
            raw.extend(engine.evaluate(tree.roles_of(r.facts), relpath=rel))
        except Exception as exc:  # keep the other files' findings; this one is not analysed
            r.status = "skipped"
            r.skipped = Skipped(r.path, "internal-error", f"{type(exc).__name__}: {exc}")
            continue
        share = r.facts.parsed_share
        if share < PARSE_REPORT_BELOW:
            diags.append(Skipped(r.path, "parse-errors",
                                 f"only {share:.0%} of the code parsed; analysed what did"))

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
    diags.sort(key=lambda d: d.path)
    # Every input is counted once: files + discovery-time diagnostics (an unreadable
    # path or directory, a directory named foo.c) = analysed + prefiltered + skipped.
    not_analysed = Counter(d.reason for d in diags if d.reason not in PARTIAL_REASONS)
    stats = {
        "files": len(files) + n_discover_skips,
        "analysed": sum(1 for r in results if r.status == "analysed"),
        "prefiltered": sum(1 for r in results if r.status == "prefiltered"),
        "skipped": sum(1 for r in results if r.status == "skipped") + n_discover_skips,
        "not_analysed": dict(sorted(not_analysed.items())),
        "parse_errors": sum(1 for f in all_facts if f.has_error),
        "partly_parsed": sum(1 for d in diags if d.reason in PARTIAL_REASONS),
        "functions": sum(f.n_functions for f in all_facts),
        "functions_analysed": sum(f.n_relevant for f in all_facts),
        "layout": _layout_stats(layout),
        **tree.stats,
        **helper_stats,
        **({"shard": list(opts.shard)} if opts.shard else {}),
    }
    return RunResult(final, results, diags, unused, stats, root)
