"""Meta tests: every rule is documented and proven by fixtures both ways."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import annotations as ann
from pagecheck.model import DataError, load_model
from pagecheck.rules import DOC_HEADINGS, load_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def _all_annotations():
    out = []
    for path in sorted(FIXTURES.rglob("*.[ch]")):
        if "demo" in path.relative_to(FIXTURES).parts[:1]:
            continue
        exps, pins = ann.read(path)
        out.append((path, exps, pins))
    return out


def test_every_rule_has_ruleid_and_ok_fixtures(ruleset):
    kinds: dict[str, set[str]] = {}
    for _path, exps, _pins in _all_annotations():
        for e in exps:
            kinds.setdefault(e.rule, set()).add(e.kind)
    missing = []
    for r in ruleset:
        have = kinds.get(r.id, set())
        for need in ("ruleid", "ok"):
            if need not in have:
                missing.append(f"{r.id}: no `{need}` fixture")
    assert not missing, "\n".join(missing)


def test_every_rule_has_a_fixture_beside_it(ruleset):
    for r in ruleset:
        single = FIXTURES / r.family / f"{r.id}-{r.name}.c"
        multi = FIXTURES / r.family / f"{r.id}-{r.name}"
        assert single.exists() or multi.is_dir(), f"{r.id}: expected {single.relative_to(ROOT)}"


def test_every_annotation_names_a_real_rule(ruleset):
    bad = [f"{p.relative_to(ROOT)}:{e.annot_line}: {e.rule}" for p, exps, _ in _all_annotations()
           for e in exps if ruleset.get(e.rule) is None]
    assert not bad, "annotations name unknown rules:\n" + "\n".join(bad)


def test_every_role_pin_names_a_real_role(model):
    bad = [f"{p.relative_to(ROOT)}:{pin.annot_line}: {pin.role}" for p, _, pins in _all_annotations()
           for pin in pins if pin.role not in model.roles]
    assert not bad, "\n".join(bad)


def test_rule_docs_complete(ruleset):
    for r in ruleset:
        for h in DOC_HEADINGS:
            assert re.search(rf"^## {re.escape(h)}$", r.doc, re.M), f"{r.id} lacks '## {h}'"
        assert "```c" in r.doc, f"{r.id}: the Example should show C code"
        assert r.summary and r.message


def test_rule_ids_follow_the_family_scheme(ruleset):
    families = {"cross-role": "1", "folio": "2", "slab": "3", "page-pool": "4", "page-table": "5",
                "address": "6", "mapping": "7"}
    for r in ruleset:
        assert r.family in families, f"{r.id}: unknown family directory {r.family}"
        assert r.id[2] == families[r.family], f"{r.id} lives in {r.family}, whose IDs are PG{families[r.family]}xx"


def test_message_templates_only_use_known_fields(ruleset):
    known = {"value", "use", "use_role", "op", "role", "why", "why_line", "function", "field", "verb", "owners"}
    for r in ruleset:
        used = set(re.findall(r"{(\w+)}", r.message))
        assert used <= known, f"{r.id}: unknown template fields {used - known}"


def test_readme_rule_table_is_in_sync(ruleset):
    from pagecheck.docs import rule_table

    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- rules-table:start -->", "<!-- rules-table:end -->"
    assert start in readme and end in readme, "README lacks the rules-table markers"
    current = readme.split(start, 1)[1].split(end, 1)[0].strip()
    assert current == rule_table(ruleset).strip(), "README rule table is stale: run `python -m pagecheck.docs`"


def test_readme_demo_output_is_real():
    from pagecheck.docs import DEMO_END, DEMO_START, demo_output

    readme = (ROOT / "README.md").read_text()
    block = readme.split(DEMO_START, 1)[1].split(DEMO_END, 1)[0]
    assert block.strip() == f"```text\n{demo_output(ROOT)}```", \
        "README demo output is stale: run `python -m pagecheck.docs`"


# -- broken data is an error naming the file and the key --------------------------------------------

def _copy_rules(tmp_path: Path) -> Path:
    dst = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", dst)
    return dst


def test_broken_rule_file_names_file_and_key(tmp_path):
    rules = _copy_rules(tmp_path)
    p = rules / "slab" / "PG301-slab-page-refcount.toml"
    p.write_text(p.read_text().replace('severity = "error"', 'severity = "fatal"'))
    model = load_model(rules)
    with pytest.raises(DataError) as ei:
        load_rules(model, rules)
    assert ei.value.path.endswith("PG301-slab-page-refcount.toml") and ei.value.key == "severity"


def test_unknown_role_in_condition_is_reported(tmp_path):
    rules = _copy_rules(tmp_path)
    p = rules / "slab" / "PG301-slab-page-refcount.toml"
    p.write_text(p.read_text().replace('roles = ["slab", "slab_addr"]', 'roles = ["slub"]'))
    with pytest.raises(DataError) as ei:
        load_rules(load_model(rules), rules)
    assert ei.value.key == "condition.roles" and "slub" in str(ei.value)


def test_missing_doc_heading_is_reported(tmp_path):
    rules = _copy_rules(tmp_path)
    p = rules / "slab" / "PG301-slab-page-refcount.toml"
    p.write_text(p.read_text().replace("## Known false positives", "## Caveats"))
    with pytest.raises(DataError) as ei:
        load_rules(load_model(rules), rules)
    assert ei.value.key == "doc" and "Known false positives" in ei.value.message


def test_broken_role_file_is_reported(tmp_path):
    rules = _copy_rules(tmp_path)
    p = rules / "roles" / "slab.toml"
    p.write_text(p.read_text().replace("map_user = false", "map_user = \"no\""))
    with pytest.raises(DataError) as ei:
        load_model(rules)
    assert ei.value.path.endswith("slab.toml") and ei.value.key == "capabilities.map_user"


def test_invalid_toml_is_reported(tmp_path):
    rules = _copy_rules(tmp_path)
    (rules / "roles" / "folio.toml").write_text("id = \n")
    with pytest.raises(DataError) as ei:
        load_model(rules)
    assert "not valid TOML" in ei.value.message
