"""Inline `/* pagecheck: ignore[ID] */`: same line or the line before, IDs required, misuse reported."""

from __future__ import annotations

import json

import pytest

from helpers_workflow import BAD, check

USE = "\tput_page(page);\n"  # line 5 of BAD


def run_json(tmp_path, src, *args):
    (tmp_path / "rx.c").write_text(src)
    r = check("--isolated", "--format", "json", *args, tmp_path / "rx.c")
    doc = json.loads(r.stdout)
    return r.exit_code, [(f["rule"], f["line"]) for f in doc["findings"]], \
        [(u["line"], u["rules"], u["reason"]) for u in doc["unused_ignores"]]


def test_line_before(tmp_path):
    src = BAD.replace(USE, "\t/* pagecheck: ignore[PG401] */\n" + USE)
    assert run_json(tmp_path, src) == (0, [], [])


def test_same_line_and_several_ids_and_lowercase(tmp_path):
    src = BAD.replace(USE, "\tput_page(page); /* pagecheck: ignore[pg301, PG401] */\n")
    code, found, unused = run_json(tmp_path, src)
    assert found == [] and unused == [(5, ["PG301"], "suppresses nothing")] and code == 1


def test_two_lines_before_does_not_count(tmp_path):
    src = BAD.replace(USE, "\t/* pagecheck: ignore[PG401] */\n\n" + USE)
    code, found, unused = run_json(tmp_path, src)
    assert found == [("PG401", 7)] and unused == [(5, ["PG401"], "suppresses nothing")] and code == 1


def test_other_rule_does_not_suppress(tmp_path):
    src = BAD.replace(USE, "\t/* pagecheck: ignore[PG301] */\n" + USE)
    code, found, unused = run_json(tmp_path, src)
    assert found == [("PG401", 6)] and unused == [(5, ["PG301"], "suppresses nothing")]


@pytest.mark.parametrize("comment, reason", [
    ("/* pagecheck: ignore[PG999] */", "unknown rule ID"),
    ("/* pagecheck: ignore[] */", "no rule IDs given"),
    ("/* pagecheck: ignore */", "no rule IDs given"),
    ("// pagecheck: ignore", "no rule IDs given"),
])
def test_malformed_ignores_are_reported_and_suppress_nothing(tmp_path, comment, reason):
    src = BAD.replace(USE, f"\t{comment}\n" + USE)
    code, found, unused = run_json(tmp_path, src)
    assert found == [("PG401", 6)] and [u[2] for u in unused] == [reason] and code == 1


def test_ignore_for_a_deselected_rule_is_not_called_unused(tmp_path):
    src = BAD.replace(USE, "\t/* pagecheck: ignore[PG401] */\n" + USE)
    assert run_json(tmp_path, src, "--select", "PG3") == (0, [], [])


def test_ignore_pg001_silences_the_report(tmp_path):
    src = BAD.replace(USE, "\t/* pagecheck: ignore[PG999] */\n\t/* pagecheck: ignore[PG401] */\n" + USE)
    assert run_json(tmp_path, src)[2] == [(5, ["PG999"], "unknown rule ID")]
    assert run_json(tmp_path, src, "--ignore", "PG001") == (0, [], [])


def test_text_report_names_the_unused_ignore(tmp_path):
    (tmp_path / "rx.c").write_text(BAD.replace(USE, "\t/* pagecheck: ignore[PG301] */\n" + USE))
    r = check("--isolated", tmp_path / "rx.c")
    assert "rx.c:5:1: PG001 inline ignore[PG301] suppresses nothing" in r.stdout
