"""--kernel-tree: an out-of-tree module learns the tree's helpers (header inlines, exported functions)."""

from __future__ import annotations

from pathlib import Path

from pagecheck import kerneltree
from pagecheck.runner import Options, run

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "fixtures" / "layouts" / "v6.12"
MODULE = ROOT / "fixtures" / "layouts" / "module"


def _findings(model, ruleset, tree):
    res = run([str(MODULE)], model, ruleset, Options(jobs=1, kernel_tree=str(tree) if tree else None,
                                                      root=str(MODULE)))
    assert not res.diagnostics
    return res, {(f.function, f.rule) for f in res.findings}


def test_module_without_tree_knows_nothing_of_its_helpers(model, ruleset):
    _res, got = _findings(model, ruleset, None)
    assert got == set()


def test_module_with_tree_gets_header_and_exported_helpers(model, ruleset):
    res, got = _findings(model, ruleset, TREE)
    # header inline calling page_pool_put_full_page(); exported function reading page->pp
    assert got == {("acme_mod_tx_done", "PG102"), ("acme_mod_check", "PG101")}
    # findings stay in the module; the evidence walks into the tree
    assert all(Path(f.path).parent == MODULE for f in res.findings)
    steps = [s for f in res.findings for s in f.evidence]
    assert any(Path(s.path).name == "acme_helpers.h" for s in steps)
    assert any(Path(s.path).name == "acme_pool.c" for s in steps)
    assert res.stats["helper_files"] == 2


def test_definition_index_holds_what_a_module_can_call():
    idx = kerneltree.definition_index(str(TREE))
    assert any(p.endswith("acme_helpers.h") for p in idx["acme_pool_give_back"])
    assert any(p.endswith("acme_pool.c") for p in idx["acme_pool_check"])
    assert "acme_pool_private" not in idx  # not exported
    assert "acme_pool_owns" not in idx  # static in a .c file
