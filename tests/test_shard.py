"""--shard K/N and `pagecheck merge`: the merged shards are the single run's report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pagecheck.shard import ShardError, parse_shard, shard_of, walk_order

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"


def _cli(args, cwd):
    p = subprocess.run([sys.executable, "-m", "pagecheck.cli", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def tree(tmp_path):
    """The demo tree plus the fixtures: files enough for every shard to get some."""
    t = tmp_path / "tree"
    shutil.copytree(DEMO, t)
    shutil.copytree(ROOT / "fixtures", t / "more", ignore=shutil.ignore_patterns("demo"))
    return t


@pytest.mark.parametrize("fmt", ["json", "sarif", "text"])
def test_merged_shards_equal_the_single_run(tree, tmp_path, fmt):
    n = 3
    code, single, err = _cli(["check", "--isolated", "--no-cache", "--format", fmt, tree], cwd=tmp_path)
    assert code == 1, err
    shards = []
    for k in range(1, n + 1):
        out = tmp_path / f"shard{k}.json"
        c, _, err = _cli(["check", "--isolated", "--no-cache", "--shard", f"{k}/{n}", "--format", "json", "-o", out,
                          tree], cwd=tmp_path)
        assert c in (0, 1), err
        shards.append(out)
    # every shard reported something different, and together everything
    per_shard = [json.loads(s.read_text())["findings"] for s in shards]
    assert sum(1 for f in per_shard if f) >= 2
    code_m, merged, err = _cli(["merge", "--format", fmt, *reversed(shards)], cwd=tmp_path)
    assert code_m == code, err
    if fmt == "text":
        assert merged == single
    else:
        a, b = json.loads(single), json.loads(merged)
        if fmt == "json":
            # the tree phase's work counters and timings are not part of the report's content
            for k in ("fixpoint_seconds", "members_seconds", "analysis_runs", "reanalysed_for_members"):
                a["files"].pop(k, None), b["files"].pop(k, None)
        assert a == b


def test_merge_wants_every_shard_once(tree, tmp_path):
    outs = []
    for k in (1, 2):
        out = tmp_path / f"s{k}.json"
        _cli(["check", "--isolated", "--no-cache", "--shard", f"{k}/3", "--format", "json", "-o", out, tree],
             cwd=tmp_path)
        outs.append(out)
    code, _, err = _cli(["merge", *outs], cwd=tmp_path)
    assert code == 2 and "missing [3]" in err
    code, _, err = _cli(["merge", outs[0], outs[0], outs[1]], cwd=tmp_path)
    assert code == 2 and "repeated [1]" in err
    plain = tmp_path / "plain.json"
    _cli(["check", "--isolated", "--no-cache", "--format", "json", "-o", plain, tree], cwd=tmp_path)
    code, _, err = _cli(["merge", plain], cwd=tmp_path)
    assert code == 2 and "--shard" in err


def test_shard_spec_and_assignment():
    assert parse_shard("2/5") == (2, 5)
    for bad in ("0/3", "4/3", "x/2", "1", "1/0"):
        with pytest.raises(ShardError):
            parse_shard(bad)
    paths = [f"drivers/net/f{i}.c" for i in range(3000)]
    counts = [sum(1 for p in paths if shard_of(p, 4) == k) for k in (1, 2, 3, 4)]
    assert sum(counts) == 3000 and min(counts) > 600  # balanced
    assert [shard_of(p, 4) for p in paths] == [shard_of(p, 4) for p in paths]  # deterministic
    code, _, err = _cli(["check", "--shard", "3/2", "x.c"], cwd=ROOT)
    assert code == 2 and "K <= N" in err


def test_walk_order_is_discovery_order(tree):
    from pagecheck.source import discover

    files, _ = discover([str(tree)])
    assert sorted(files, key=walk_order) == files
