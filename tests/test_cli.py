"""CLI contract: exit codes, formats, rule listing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from pagecheck.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "fixtures" / "demo"

BAD = """\
#include <linux/mm.h>
static void f(struct page_pool *pool)
{
	struct page *page = page_pool_dev_alloc_pages(pool);
	put_page(page);
}
"""

CLEAN = """\
#include <linux/mm.h>
static void f(struct page_pool *pool)
{
	struct page *page = page_pool_dev_alloc_pages(pool);
	page_pool_put_full_page(pool, page, false);
}
"""


def _run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_exit_1_on_findings(tmp_path):
    (tmp_path / "bad.c").write_text(BAD)
    r = _run("check", "--jobs", "1", str(tmp_path))
    assert r.exit_code == 1
    assert "PG401" in r.output and "bad.c:5:" in r.output


def test_exit_0_when_clean(tmp_path):
    (tmp_path / "ok.c").write_text(CLEAN)
    r = _run("check", "--jobs", "1", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "0 findings" in r.output


def test_exit_2_on_usage_error(tmp_path):
    r = CliRunner().invoke(main, ["check", "--format", "xml", str(tmp_path)])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["check"])
    assert r.exit_code == 2


def test_unknown_rule_is_exit_2():
    r = CliRunner().invoke(main, ["rule", "PG999"])
    assert r.exit_code == 2


def test_json_format(tmp_path):
    (tmp_path / "bad.c").write_text(BAD)
    r = _run("check", "--jobs", "1", "--format", "json", str(tmp_path))
    doc = json.loads(r.output)
    [f] = doc["findings"]
    assert f["rule"] == "PG401" and f["line"] == 5 and f["roles"] == ["page_pool"]
    assert [e["line"] for e in f["evidence"]] == [4, 5]
    assert doc["statistics"] == {"PG401": 1}


def test_select_and_ignore(tmp_path):
    (tmp_path / "bad.c").write_text(BAD)
    assert _run("check", "--jobs", "1", "--ignore", "PG4", str(tmp_path)).exit_code == 0
    assert _run("check", "--jobs", "1", "--select", "PG3", str(tmp_path)).exit_code == 0
    assert _run("check", "--jobs", "1", "--select", "PG401", str(tmp_path)).exit_code == 1


def test_output_file(tmp_path):
    (tmp_path / "bad.c").write_text(BAD)
    out = tmp_path / "report.json"
    r = _run("check", "--jobs", "1", "--format", "json", "-o", str(out), str(tmp_path / "bad.c"))
    assert r.exit_code == 1
    assert json.loads(out.read_text())["findings"][0]["rule"] == "PG401"


def test_rules_and_rule_commands(ruleset):
    r = _run("rules")
    for rule in ruleset:
        assert rule.id in r.output
    r = _run("rule", "pg301")
    assert r.exit_code == 0 and "## Why is this bad?" in r.output


def test_demo_tree_findings():
    """The README quick start shows real findings on the demo tree."""
    r = _run("check", "--jobs", "1", "--format", "json", str(DEMO))
    assert r.exit_code == 1
    got = sorted((Path(f["path"]).name, f["line"], f["rule"]) for f in json.loads(r.output)["findings"])
    assert ("acme_rx.c", 56, "PG401") in got
    assert ("acme_tx.c", 17, "PG302") in got
    assert ("acme_ring.c", 52, "PG701") in got
    assert ("acme_pt.c", 19, "PG501") in got
    # the correct twins in the same files stay silent
    assert not any(name == "acme_rx.c" and line in range(37, 44) for name, line, _ in got)


def test_console_entry_point_runs_as_a_process(tmp_path):
    (tmp_path / "bad.c").write_text(BAD)
    p = subprocess.run([sys.executable, "-m", "pagecheck.cli", "check", "--jobs", "1", str(tmp_path)],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "PG401" in p.stdout


def test_internal_error_in_one_file_keeps_other_findings_and_exits_2(tmp_path, monkeypatch):
    """A pagecheck bug on one file must not pass silently, nor hide the other files' findings."""
    from pagecheck import facts as facts_mod

    (tmp_path / "bad.c").write_text(BAD)
    (tmp_path / "boom.c").write_text(CLEAN)
    real = facts_mod.extract

    def extract(src, *a, **kw):
        if src.path.endswith("boom.c"):
            raise ValueError("synthetic bug")
        return real(src, *a, **kw)

    monkeypatch.setattr(facts_mod, "extract", extract)
    r = CliRunner().invoke(main, ["check", "--jobs", "1", "--format", "json", str(tmp_path)])
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert [f["rule"] for f in doc["findings"]] == ["PG401"]
    assert any(d["reason"] == "internal-error" and d["path"].endswith("boom.c") for d in doc["diagnostics"])
