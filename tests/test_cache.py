"""The facts cache and the whole-run cache: right answers, never trusted blindly, never fatal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pagecheck import cache as cache_mod
from pagecheck import codec, facts as facts_mod, runner
from pagecheck.cache import FactsCache, Store, run_with_cache
from pagecheck.runner import Options
from pagecheck.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"


def _demo_copy(tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "demo"
    shutil.copytree(DEMO, dst)
    for p in dst.rglob("*"):  # older than the racy window: the stat index may vouch for them
        os.utime(p, ns=(1_600_000_000 * 10**9, 1_600_000_000 * 10**9))
    return dst


def _key(res):
    return sorted((Path(f.path).name, f.rule, f.line, f.fingerprint) for f in res.findings)


def _run(paths, model, ruleset, cache_dir, calls=None, jobs=1):
    def counting_run(*a, **kw):
        if calls is not None:
            calls.append(1)
        return runner.run(*a, **kw)

    opts = Options(jobs=jobs, cache_dir=str(cache_dir))
    return run_with_cache([str(p) for p in paths], model, ruleset, opts, known_ids=set(ruleset.rules),
                          run=counting_run)


@pytest.fixture
def extracted(monkeypatch):
    """Paths whose facts were extracted (not taken from the cache) in this process."""
    seen: list[str] = []
    real = facts_mod.extract

    def spy(src, *a, **kw):
        seen.append(Path(src.path).name)
        return real(src, *a, **kw)

    monkeypatch.setattr(facts_mod, "extract", spy)
    return seen


def test_warm_run_is_the_cold_run_and_reads_no_facts(tmp_path, model, ruleset, extracted):
    tree = _demo_copy(tmp_path)
    cold = _run([tree], model, ruleset, tmp_path / "c")
    assert cold.findings and extracted
    extracted.clear()
    calls: list = []
    warm = _run([tree], model, ruleset, tmp_path / "c", calls)
    assert _key(warm) == _key(cold)
    assert warm.diagnostics == cold.diagnostics and warm.unused_ignores == cold.unused_ignores
    assert warm.findings == cold.findings  # evidence chains and all
    assert not extracted and calls == []  # the whole-run cache answered: no pipeline at all


def test_a_just_written_file_is_rehashed_not_trusted(tmp_path, model, ruleset, extracted):
    """Racy stat: a file changed within the mtime granularity of the index write."""
    tree = _demo_copy(tmp_path)
    target = next(p for p in sorted(tree.rglob("*.c")) if "ignore" not in p.read_text())
    os.utime(target)  # now: inside the racy window
    _run([tree], model, ruleset, tmp_path / "c")
    st = os.stat(target)
    target.write_bytes(target.read_bytes().replace(b" ", b"\t", 1))  # same size, same mtime below
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(target).st_size == st.st_size
    extracted.clear()
    _run([tree], model, ruleset, tmp_path / "c")
    assert target.name in extracted


def test_one_changed_file_redoes_only_that_file(tmp_path, model, ruleset, extracted):
    tree = _demo_copy(tmp_path)
    cold = _run([tree], model, ruleset, tmp_path / "c")
    files = sorted(tree.rglob("*.c"))
    target = next(p for p in files if "ignore" not in p.read_text())
    target.write_bytes(target.read_bytes() + b"\n/* a comment moves nothing */\n")
    extracted.clear()
    again = _run([tree], model, ruleset, tmp_path / "c")
    assert extracted == [target.name]
    assert _key(again) == _key(cold)


def test_corrupt_truncated_and_foreign_entries_are_ignored_and_rebuilt(tmp_path, model, ruleset, extracted):
    tree = _demo_copy(tmp_path)
    cdir = tmp_path / "c"
    cold = _run([tree], model, ruleset, cdir)
    entries = sorted((cdir / cache_mod.FORMAT / "facts").rglob("*.json"))
    runs = sorted((cdir / cache_mod.FORMAT / "runs").rglob("*.json"))
    assert entries and runs
    # damage every kind of file the cache holds, in different ways
    for i, p in enumerate(entries + runs):
        data = p.read_bytes()
        if i % 4 == 0:
            p.write_bytes(data[: len(data) // 2])  # truncated
        elif i % 4 == 1:
            p.write_bytes(b"\x00\xff garbage")  # not JSON
        elif i % 4 == 2:
            doc = json.loads(data)
            doc["key"] = "0" * 40  # someone else's entry
            p.write_text(json.dumps(doc))
        else:
            doc = json.loads(data)
            value = doc["value"]
            if isinstance(value, dict) and isinstance(value.get("facts"), list):
                value["facts"][1] = "not a tuple of functions"  # right key, wrong shape
            elif isinstance(value, dict) and "findings" in value:
                value["findings"] = [["PG101"]]
            p.write_text(json.dumps(doc))
    for p in (cdir / cache_mod.FORMAT / "stat").rglob("*.json"):
        p.write_text("[]")  # a stat index that is not one
    extracted.clear()
    again = _run([tree], model, ruleset, cdir)
    assert _key(again) == _key(cold) and again.diagnostics == cold.diagnostics
    assert extracted  # damaged entries were recomputed...
    extracted.clear()
    third = _run([tree], model, ruleset, cdir)
    assert _key(third) == _key(cold) and not extracted  # ...and written back whole


def test_unwritable_cache_dir_is_not_fatal(tmp_path, model, ruleset):
    tree = _demo_copy(tmp_path)
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    res = _run([tree], model, ruleset, blocker / "cache")
    assert _key(res) == _key(runner.run([str(tree)], model, ruleset, Options(jobs=1)))


def test_same_content_under_two_names_keeps_each_path(tmp_path, model, ruleset):
    tree = _demo_copy(tmp_path)
    src = next(p for p in sorted(tree.rglob("*.c")) if "ignore" not in p.read_text())
    twin = src.parent / ("twin_" + src.name)
    twin.write_bytes(src.read_bytes())
    res = _run([tree], model, ruleset, tmp_path / "c")
    names = {Path(f.path).name for f in res.findings}
    facts_paths = {Path(r.facts.path).name for r in res.files if r.facts is not None}
    assert twin.name in facts_paths and src.name in facts_paths
    assert (src.name in names) == (twin.name in names)


def test_concurrent_runs_share_one_cache(tmp_path):
    """Two CLI runs at once on one cache directory: both right, cache left whole."""
    tree = _demo_copy(tmp_path)
    cdir = tmp_path / "shared-cache"
    cmd = [sys.executable, "-m", "pagecheck.cli", "check", "--isolated", "-j2", "--format", "json",
           "--cache-dir", str(cdir), str(tree)]
    ref = subprocess.run(cmd[:-3] + ["--no-cache", str(tree)], capture_output=True, text=True)
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    want = [(f["rule"], f["path"], f["line"]) for f in json.loads(ref.stdout)["findings"]]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == ref.returncode, err
        assert [(f["rule"], f["path"], f["line"]) for f in json.loads(out)["findings"]] == want
    assert not list(cdir.rglob(".tmp-*"))  # no temp file left behind
    for p in cdir.rglob("*.json"):
        json.loads(p.read_bytes())  # every entry is whole
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert [(f["rule"], f["path"], f["line"]) for f in json.loads(again.stdout)["findings"]] == want


def test_no_cache_writes_nothing(tmp_path):
    tree = _demo_copy(tmp_path)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    subprocess.run([sys.executable, "-m", "pagecheck.cli", "check", "--isolated", "--no-cache", str(tree)],
                   capture_output=True, env=env)
    assert not (tmp_path / "xdg").exists()
    subprocess.run([sys.executable, "-m", "pagecheck.cli", "check", "--isolated", str(tree)],
                   capture_output=True, env=env)
    assert list((tmp_path / "xdg" / "pagecheck").rglob("*.json"))  # the default place


def test_store_never_loads_code(tmp_path):
    """Cache files are JSON: a pickle (or anything else) placed there is just ignored."""
    import pickle

    store = Store(str(tmp_path))
    fc = FactsCache(str(tmp_path), "salt")
    key = fc.key("abc")
    path = Path(store.path("facts", key))
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"format": cache_mod.FORMAT, "key": key, "value": {}}))
    assert fc.get("abc") is None
    assert fc.store.save("facts", key, {"status": "prefiltered", "facts": None, "ignores": []})
    assert fc.get("abc") == {"status": "prefiltered", "facts": None, "ignores": []}


def test_codec_round_trips_every_fixture_and_rejects_bad_shapes():
    files = sorted((ROOT / "fixtures").rglob("*.c"))
    assert files
    for p in files:
        ff = facts_mod.extract(SourceFile(str(p), p.read_bytes()))
        data = json.loads(json.dumps(codec.encode(ff, facts_mod.FileFacts)))
        assert codec.decode(data, facts_mod.FileFacts) == ff
    good = codec.encode(ff, facts_mod.FileFacts)
    for bad in ([], {"a": 1}, good[:-1], [1] + good[1:], [good[0], "x"] + good[2:]):
        with pytest.raises(codec.CodecError):
            codec.decode(bad, facts_mod.FileFacts)


@pytest.mark.parametrize("jobs", [1, 2], ids=["in-process", "workers"])
def test_clean_files_are_one_cache_entry_and_never_scanned_again(tmp_path, model, ruleset, monkeypatch, jobs):
    """Files with nothing page-related go into one "clean" entry (not a cache file
    each), and the next run takes them from it without scanning their bytes."""
    from pagecheck.prefilter import Prefilter

    monkeypatch.setattr(runner, "BULK_CACHE_MIN_FILES", 1)  # a small tree stands in for a kernel tree
    tree = _demo_copy(tmp_path)
    for i in range(5):
        (tree / f"plain{i}.c").write_text(f"int plain{i}(int x)\n{{\n\treturn x + {i};\n}}\n")
    (tree / "plain9.c").write_text("/* pagecheck: ignore[PG101] */\nint plain9;\n")
    for i in range(8):  # enough files with evidence that the second pass runs in worker processes too
        (tree / f"pages{i}.c").write_text(f"void drop{i}(struct page *p)\n{{\n\tput_page(p);\n}}\n")
    cache_dir = tmp_path / "cache"
    first = _run([tree], model, ruleset, cache_dir, jobs=jobs)
    facts_files = list((cache_dir / "v1" / "facts").rglob("*.json"))
    clean_files = list((cache_dir / "v1" / "clean").glob("*.json"))
    assert len(clean_files) == 1 and len(json.loads(clean_files[0].read_text())["value"]) == 6
    assert len(facts_files) == first.stats["analysed"]  # one per analysed file, none per clean one

    scanned: list[bytes] = []
    real_scan = Prefilter.scan

    def scan(self, data, header=False):
        scanned.append(data)
        return real_scan(self, data, header)

    monkeypatch.setattr(Prefilter, "scan", scan)
    (tree / "drivers" / "net" / "ethernet" / "acme" / "acme_rx.c").write_text(
        (tree / "drivers" / "net" / "ethernet" / "acme" / "acme_rx.c").read_text() + "\n")
    again = _run([tree], model, ruleset, cache_dir, jobs=jobs)
    assert _key(again) != [] and len(again.findings) == len(first.findings)
    # the first pass's scans of the files with evidence are one entry too (written by
    # the first pass's own process when there are workers)
    scans = list((cache_dir / "v1" / "scans").glob("*.json"))
    assert len(scans) == 1 and len(json.loads(scans[0].read_text())["value"]) == first.stats["analysed"] + 1
    if jobs == 1:  # (workers scan in their own processes: this spy sees only in-process scans)
        assert not any(b"plain" in d for d in scanned)  # the clean files were not read for evidence
        # nor the unchanged files with evidence: only the edited one was scanned again
        assert [d for d in scanned if b"acme" in d] == [(tree / "drivers" / "net" / "ethernet" / "acme" /
                                                         "acme_rx.c").read_bytes()]
    # the inline ignore of a clean file still counts (reported as suppressing nothing)
    assert [(os.path.basename(ig.path), why) for ig, why in again.unused_ignores] == \
        [(os.path.basename(ig.path), why) for ig, why in first.unused_ignores]
    assert any(os.path.basename(ig.path) == "plain9.c" for ig, _why in again.unused_ignores)
