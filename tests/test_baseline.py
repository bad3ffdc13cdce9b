"""--write-baseline / --baseline: only new findings, and moved code stays baselined."""

from __future__ import annotations

import json

import pytest

from helpers_workflow import BAD, SLAB, check, findings


@pytest.fixture
def tree(tmp_path, monkeypatch):
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "rx.c").write_text(BAD + "\n" + SLAB)
    monkeypatch.chdir(tmp_path)
    r = check("--isolated", "--write-baseline", "baseline.json", "net")
    assert r.exit_code == 0, r.output
    return tmp_path


def new_findings(*paths):
    return findings("--isolated", "--baseline", "baseline.json", *paths)


def test_write_baseline_records_every_finding_without_lines(tree):
    doc = json.loads((tree / "baseline.json").read_text())
    assert doc["pagecheck-baseline"] == 1
    assert sorted(e["rule"] for e in doc["findings"]) == ["PG301", "PG401"]
    assert all(set(e) == {"fingerprint", "rule", "path", "function", "value"} for e in doc["findings"])
    assert findings("--isolated", "net") != [] and new_findings("net") == []


def test_baseline_exit_code_and_summary(tree):
    r = check("--isolated", "--baseline", "baseline.json", "net")
    assert r.exit_code == 0
    assert "not shown: 2 in the baseline" in r.stdout


def test_new_finding_is_reported(tree):
    src = (tree / "net" / "rx.c").read_text()
    (tree / "net" / "rx.c").write_text(src + "\n" + BAD.replace("rx_drop", "rx_drop_again").split("\n", 1)[1])
    assert new_findings("net") == [("rx.c", 19, "PG401")]


def test_second_occurrence_in_the_same_function_is_new(tree):
    src = (tree / "net" / "rx.c").read_text()
    (tree / "net" / "rx.c").write_text(src.replace("\tput_page(page);\n", "\tput_page(page);\n\tput_page(page);\n", 1))
    assert [f[2] for f in new_findings("net")] == ["PG401"]


def test_inserted_lines_and_reordered_functions_stay_baselined(tree):
    bad_fn = BAD.split("\n", 1)[1]
    slab_fn = SLAB.split("\n", 1)[1]
    moved = ("#include <linux/mm.h>\n#include <linux/slab.h>\n/* a long new comment\n *\n *\n */\n"
             "static int unrelated(void)\n{\n\treturn 0;\n}\n\n" + slab_fn + "\n\n\n" + bad_fn)
    (tree / "net" / "rx.c").write_text(moved)
    assert sorted(f[2] for f in findings("--isolated", "net")) == ["PG301", "PG401"]  # still there
    assert new_findings("net") == []


def test_function_moved_to_another_file_stays_baselined(tree):
    (tree / "net" / "rx.c").write_text(BAD)
    (tree / "net" / "hdr.c").write_text(SLAB)
    assert new_findings("net") == []


def test_fixed_findings_are_counted_as_stale(tree):
    (tree / "net" / "rx.c").write_text(BAD)
    r = check("--isolated", "--baseline", "baseline.json", "net")
    assert r.exit_code == 0 and "1 baselined findings no longer occur" in r.stdout


def test_baseline_from_config(tree):
    (tree / ".pagecheck.toml").write_text('baseline = "baseline.json"\n')
    assert findings("net") == []


@pytest.mark.parametrize("content", ["not json", "[]", '{"pagecheck-baseline": 2, "findings": []}',
                                     '{"pagecheck-baseline": 1, "findings": [{"rule": "PG401"}]}'])
def test_broken_baseline_is_exit_2(tree, content):
    (tree / "baseline.json").write_text(content)
    r = check("--isolated", "--baseline", "baseline.json", "net")
    assert r.exit_code == 2 and "baseline.json" in r.output


def test_missing_baseline_is_exit_2(tree):
    r = check("--isolated", "--baseline", "nope.json", "net")
    assert r.exit_code == 2 and "nope.json" in r.output


def test_write_baseline_cannot_combine_with_diff(tree):
    assert check("--isolated", "--write-baseline", "b2.json", "--diff", "HEAD", "net").exit_code == 2


def test_stale_count_only_covers_what_this_run_checked(tree):
    (tree / "net" / "other.c").write_text(BAD.replace("rx_drop", "other_drop"))
    assert check("--isolated", "--write-baseline", "baseline.json", "net").exit_code == 0
    # pre-commit style: one file checked, or one rule selected: the rest is not stale
    r = check("--isolated", "--baseline", "baseline.json", "net/other.c")
    assert r.exit_code == 0 and "no longer occur" not in r.stdout
    r = check("--isolated", "--baseline", "baseline.json", "--select", "PG4", "net")
    assert r.exit_code == 0 and "no longer occur" not in r.stdout
    (tree / "net" / "other.c").write_text(BAD.replace("rx_drop", "other_drop").replace("put_page", "__free_page"))
    r = check("--isolated", "--baseline", "baseline.json", "net/other.c")
    assert "1 baselined findings no longer occur" in r.stdout


def test_write_baseline_over_the_configured_one(tree):
    (tree / ".pagecheck.toml").write_text('baseline = "baseline.json"\n')
    (tree / "baseline.json").unlink()
    r = check("--write-baseline", "baseline.json", "--baseline", "baseline.json", "net")
    assert r.exit_code == 0 and "2 findings recorded" in r.output
    assert findings("net") == []
