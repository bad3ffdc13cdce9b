"""--statistics, --quiet, NO_COLOR / FORCE_COLOR, --format gitlab."""

from __future__ import annotations

import json
import os

import pytest

from helpers_workflow import BAD, SLAB, check, run_process
from pagecheck.report.text import use_color

ESC = "\x1b["


@pytest.fixture
def tree(tmp_path, monkeypatch):
    (tmp_path / "rx.c").write_text(BAD)
    (tmp_path / "hdr.c").write_text(SLAB + "\n" + SLAB.split("\n", 1)[1].replace("pin_header", "pin_again"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_statistics_counts_per_rule_instead_of_findings(tree):
    r = check("--isolated", "--statistics", ".")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[:2] == ["     2  PG301  slab-page-refcount", "     1  PG401  page-pool-plain-refcount"]
    assert not any(line.startswith(("rx.c:", "hdr.c:")) for line in lines)
    assert lines[-1].startswith("3 findings in 2 files")


def test_quiet_prints_only_the_finding_lines(tree):
    r = check("--isolated", "--quiet", ".")
    assert r.exit_code == 1
    assert [line.split(" ", 2)[:2] for line in r.stdout.splitlines()] == [
        ["hdr.c:6:2:", "PG301"], ["hdr.c:13:2:", "PG301"], ["rx.c:5:2:", "PG401"]]


def test_quiet_with_a_machine_format_writes_nothing_extra(tree):
    r = check("--isolated", "--quiet", "--format", "json", "-o", "out.json", ".")
    assert r.exit_code == 1 and r.output == ""
    assert len(json.loads((tree / "out.json").read_text())["findings"]) == 3


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(kw)
    return env


@pytest.mark.parametrize("env, colored", [
    ({}, False),  # a pipe is not a terminal
    ({"FORCE_COLOR": "1"}, True),
    ({"FORCE_COLOR": "0"}, False),
    ({"NO_COLOR": "1"}, False),
    ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),  # NO_COLOR wins
])
def test_color_environment(tree, env, colored):
    p = run_process(["check", "--isolated", "--jobs", "1", "."], cwd=tree, env=_env(**env))
    assert p.returncode == 1
    assert (ESC in p.stdout) is colored
    assert "rx.c:5:2:" in p.stdout.replace(ESC + "1m", "").replace(ESC + "0m", "") or colored


def test_report_files_never_get_color(tree):
    p = run_process(["check", "--isolated", "--jobs", "1", "-o", "out.txt", "."], cwd=tree,
                    env=_env(FORCE_COLOR="1"))
    assert p.returncode == 1 and ESC not in (tree / "out.txt").read_text()


class _Tty:
    def isatty(self):
        return True


def test_a_terminal_gets_color_unless_no_color():
    assert use_color(_Tty(), {}) is True
    assert use_color(_Tty(), {"NO_COLOR": "x"}) is False
    assert use_color(_Tty(), {"NO_COLOR": ""}) is True  # empty means unset, per no-color.org


def test_gitlab_code_quality_format(tree):
    r = check("--isolated", "--format", "gitlab", ".")
    assert r.exit_code == 1
    issues = json.loads(r.stdout)
    assert sorted((i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"]) for i in issues) == [
        ("PG301", "hdr.c", 6), ("PG301", "hdr.c", 13), ("PG401", "rx.c", 5)]
    assert len({i["fingerprint"] for i in issues}) == 3
    assert {i["severity"] for i in issues} == {"critical"}
