"""SARIF as code scanning uses it, validated against the official OASIS 2.1.0 schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from pagecheck.cli import main

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())

# kzalloc -> virt_to_page -> get_page: a three-step evidence chain (line 9 is the finding)
SLAB_REF = """\
#include <linux/mm.h>
#include <linux/slab.h>

static int pin_header(size_t len)
{
	void *hdr = kzalloc(len, GFP_KERNEL);
	struct page *page = virt_to_page(hdr);

	get_page(page);
	return 0;
}
"""


def sarif(*args, cwd=None) -> dict:
    r = CliRunner().invoke(main, ["check", "--isolated", "--jobs", "1", "--format", "sarif", *map(str, args)],
                           catch_exceptions=False)
    assert r.exit_code in (0, 1), r.output
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    return doc


def test_demo_tree_validates_and_has_what_code_scanning_needs(ruleset):
    doc = sarif(ROOT / "fixtures" / "demo")
    assert doc["version"] == "2.1.0"
    [run] = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "pagecheck" and driver["version"] and driver["semanticVersion"]
    assert driver["informationUri"].startswith("https://")
    ids = [r["id"] for r in driver["rules"]]
    assert set(ids) == {r.id for r in ruleset} | {"PG001"}
    for d in driver["rules"]:
        for key in ("id", "name", "shortDescription", "fullDescription", "help", "helpUri",
                    "defaultConfiguration", "properties"):
            assert d[key], (d["id"], key)
        assert d["help"]["text"] and d["help"]["markdown"].startswith(f"# {d['id']}")
        assert d["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert d["properties"]["precision"] in ("high", "medium", "low") and d["properties"]["tags"]
    # a rule's help carries its whole documentation
    pg301 = driver["rules"][ids.index("PG301")]
    assert "## Why is this bad?" in pg301["help"]["markdown"] and "Why is this bad?" in pg301["help"]["text"]
    assert "```" not in pg301["help"]["text"]

    assert run["originalUriBaseIds"]["SRCROOT"]["uri"].startswith("file:///")
    assert run["results"]
    for res in run["results"]:
        assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
        [loc] = res["locations"]
        art = loc["physicalLocation"]["artifactLocation"]
        assert art["uriBaseId"] == "SRCROOT" and not art["uri"].startswith(("/", "file:"))
        region = loc["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
        assert res["partialFingerprints"]["pagecheck/v1"]
        assert res["relatedLocations"]
    [inv] = run["invocations"]
    assert inv["executionSuccessful"] is True


def test_evidence_chain_becomes_related_locations_and_code_flow(tmp_path):
    (tmp_path / "hdr.c").write_text(SLAB_REF)
    [res] = sarif(tmp_path / "hdr.c")["runs"][0]["results"]
    assert res["ruleId"] == "PG301"
    assert res["locations"][0]["physicalLocation"]["region"] == {"startLine": 9, "startColumn": 2}
    related = [(r["physicalLocation"]["region"]["startLine"], r["id"]) for r in res["relatedLocations"]]
    assert related == [(6, 1), (7, 2), (9, 3)]
    [flow] = res["codeFlows"]
    steps = [loc["location"]["physicalLocation"]["region"]["startLine"] for loc in flow["threadFlows"][0]["locations"]]
    assert steps == [6, 7, 9]


def _fingerprints(doc):
    return {r["partialFingerprints"]["pagecheck/v1"]: r["locations"][0]["physicalLocation"]["region"]["startLine"]
            for r in doc["runs"][0]["results"]}


def test_fingerprints_survive_unrelated_line_insertions(tmp_path):
    f = tmp_path / "hdr.c"
    f.write_text(SLAB_REF)
    before = _fingerprints(sarif(f))
    lines = SLAB_REF.splitlines(keepends=True)
    # a new include and a new unrelated function above the finding, and a blank line inside
    lines.insert(2, "#include <linux/skbuff.h>\n\nstatic int unrelated(void)\n{\n\treturn 0;\n}\n")
    lines.insert(7, "\n")
    f.write_text("".join(lines))
    after = _fingerprints(sarif(f))
    assert list(before) == list(after)
    assert list(after.values())[0] == list(before.values())[0] + 7  # the finding did move


def test_fingerprints_differ_between_findings(tmp_path):
    (tmp_path / "a.c").write_text(SLAB_REF + SLAB_REF.split("\n", 3)[3].replace("pin_header", "pin_other"))
    prints = _fingerprints(sarif(tmp_path / "a.c"))
    assert len(prints) == 2


def test_unreadable_and_unparsable_files_are_notifications(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the root paths are relative to, as in a CI checkout
    (tmp_path / "hdr.c").write_text(SLAB_REF)
    (tmp_path / "blob.c").write_bytes(b"\x7fELF\0\0\0binary")
    doc = sarif(tmp_path / "hdr.c", tmp_path / "blob.c", tmp_path / "missing.c")
    inv = doc["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is True
    notes = {n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: n
             for n in inv["toolExecutionNotifications"]}
    assert set(notes) == {"blob.c", "missing.c"}
    assert notes["blob.c"]["descriptor"]["id"] == "pagecheck/not-text"
    assert notes["missing.c"]["descriptor"]["id"] == "pagecheck/unreadable"
    assert len(doc["runs"][0]["results"]) == 1  # the readable file was still analysed


def test_unused_ignores_are_results_of_the_meta_rule(tmp_path):
    src = SLAB_REF.replace("\tget_page(page);", "\t/* pagecheck: ignore[PG301] */\n\tget_page(page);")
    src = src.replace("\treturn 0;", "\treturn 0; /* pagecheck: ignore[PG999] */")
    (tmp_path / "hdr.c").write_text(src)
    run = sarif(tmp_path / "hdr.c")["runs"][0]
    [res] = run["results"]
    assert res["ruleId"] == "PG001" and res["level"] == "warning"
    assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == "PG001"
    assert res["locations"][0]["physicalLocation"]["region"]["startLine"] == 11


def test_file_outside_the_root_gets_an_absolute_uri(tmp_path, monkeypatch):
    from pagecheck.report.sarif import _artifact

    inside = _artifact(str(tmp_path / "a" / "x.c"), str(tmp_path / "a"))
    outside = _artifact(str(tmp_path / "b" / "y.c"), str(tmp_path / "a"))
    assert inside == {"uri": "x.c", "uriBaseId": "SRCROOT"}
    assert outside["uri"].startswith("file:///") and "uriBaseId" not in outside


@pytest.mark.parametrize("name", ["odd name #1.c", "ünïcode.c"])
def test_uris_are_escaped(tmp_path, name):
    (tmp_path / name).write_text(SLAB_REF)
    doc = sarif(tmp_path / name)
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert " " not in uri and "#" not in uri


def test_code_flow_follows_a_call_into_another_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "release.c").write_text(
        "#include <linux/mm.h>\n\nvoid drv_release(struct page *page)\n{\n\tput_page(page);\n}\n")
    (tmp_path / "rx.c").write_text(
        "#include <net/page_pool/helpers.h>\n\nvoid drv_release(struct page *page);\n\n"
        "static void drv_rx(struct page_pool *pool)\n{\n"
        "\tstruct page *page = page_pool_dev_alloc_pages(pool);\n\n\tdrv_release(page);\n}\n")
    [res] = sarif(".")["runs"][0]["results"]
    assert res["ruleId"] == "PG401"
    steps = [(loc["location"]["physicalLocation"]["artifactLocation"]["uri"],
              loc["location"]["physicalLocation"]["region"]["startLine"])
             for loc in res["codeFlows"][0]["threadFlows"][0]["locations"]]
    assert steps[0] == ("rx.c", 7) and steps[-1] == ("release.c", 5)
    assert ("rx.c", 9) in steps
