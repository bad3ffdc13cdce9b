"""Layouts read from the tree: the same driver source means different things under 5.15, 6.1 and 6.12 shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pagecheck import layouts
from pagecheck.runner import Options, run

ROOT = Path(__file__).resolve().parent.parent
LAYOUTS = ROOT / "fixtures" / "layouts"
DRIVER = LAYOUTS / "driver"

# PG101 (a role's field on a page of another role), by function, per tree.
EXPECTED_PG101 = {
    # slab arm and page-table arm both in struct page; `pages` is learned from the tree
    "v5.15": {"acme_peek_freelist", "acme_peek_partial", "acme_peek_pt_mm", "acme_peek_pp_frag"},
    # slab moved to struct slab: freelist/pages are no struct page fields any more
    "v6.1": {"acme_peek_pt_mm", "acme_peek_pp_frag"},
    # page tables moved to struct ptdesc; pp_frag_count replaced by pp_ref_count
    "v6.12": {"acme_peek_pp_ref"},
    # no tree: the built-in tables, which know every era's names but not `pages`
    None: {"acme_peek_freelist", "acme_peek_pt_mm", "acme_peek_pp_ref", "acme_peek_pp_frag"},
}


@pytest.mark.parametrize("tree", list(EXPECTED_PG101), ids=lambda t: t or "built-in")
def test_same_driver_read_under_each_layout(tree, model, ruleset):
    opts = Options(jobs=1, kernel_tree=str(LAYOUTS / tree) if tree else None, root=str(DRIVER))
    result = run([str(DRIVER)], model, ruleset, opts)
    assert not result.diagnostics
    got = {f.function for f in result.findings if f.rule == "PG101"}
    assert got == EXPECTED_PG101[tree]


def test_reader_finds_arms_and_their_owners(model):
    v515 = layouts.read(LAYOUTS / "v5.15", model)
    assert [a.role for a in v515.arms] == ["folio", "page_pool", "slab", None, "pagetable", "zone_device"]
    slab_arm = v515.arms[2]
    assert {"freelist", "slab_cache", "pages", "next", "inuse", "frozen"} <= set(slab_arm.fields)
    # both sides of `#if ALLOC_SPLIT_PTLOCKS` are members
    assert "ptl" in v515.arms[4].fields
    assert not v515.has("ptdesc") and v515.has("freelist")

    v612 = layouts.read(LAYOUTS / "v6.12", model)
    assert [a.role for a in v612.arms] == ["folio", "page_pool", None, "zone_device"]
    assert v612.arms[1].how == "descriptor net_iov"  # told by the mirror struct, not the comment
    assert v612.has("ptdesc") and not v612.has("pt_mm")
    assert v612.descriptors["ptdesc"][0] == "pagetable"


def test_arm_identified_by_descriptor_without_comment(tmp_path, model):
    """An arm with no comment at all is still the page_pool's when net_iov mirrors it."""
    (tmp_path / "include" / "linux").mkdir(parents=True)
    (tmp_path / "include" / "net").mkdir(parents=True)
    (tmp_path / "include" / "linux" / "mm_types.h").write_text(
        "struct page {\n\tunsigned long flags;\n\tunion {\n"
        "\t\tstruct {\n\t\t\tstruct address_space *mapping;\n\t\t\tpgoff_t index;\n\t\t};\n"
        "\t\tstruct {\n\t\t\tunsigned long pp_magic;\n\t\t\tstruct page_pool *pp;\n"
        "\t\t\tunsigned long pp_new_counter;\n\t\t};\n\t};\n};\n")
    (tmp_path / "include" / "net" / "netmem.h").write_text(
        "struct net_iov {\n\tunsigned long pp_magic;\n\tstruct page_pool *pp;\n"
        "\tunsigned long pp_new_counter;\n};\n")
    lay = layouts.read(tmp_path, model)
    assert [(a.role, a.how) for a in lay.arms] == [("folio", "fields"), ("page_pool", "descriptor net_iov")]
    applied = layouts.apply(model, lay)
    assert ("page_pool", "strong") in applied.field_roles["pp_new_counter"]


def test_apply_rewrites_field_tables(model):
    m61 = layouts.apply(model, layouts.read(LAYOUTS / "v6.1", model))
    assert "freelist" not in m61.field_roles  # not a struct page field on this tree
    assert ("pagetable", "strong") in m61.field_roles["pt_mm"]
    # lru is shared by other owners: its union mates are weak evidence, mlock_count stays folio's
    assert ("folio", "weak") in m61.field_roles["buddy_list"]
    assert ("folio", "strong") in m61.field_roles["mlock_count"]
    assert ("driver", "weak") in m61.field_roles["lru"]
    m515 = layouts.apply(model, layouts.read(LAYOUTS / "v5.15", model))
    assert ("slab", "strong") in m515.field_roles["pages"]
    assert m515.digest != m61.digest != model.digest
    # compound tail fields belong to no role we model
    assert "compound_dtor" not in m515.field_roles


def test_no_tree_keeps_builtin_tables(tmp_path, model):
    assert layouts.read(tmp_path, model) is None
    assert layouts.apply(model, None) is model


def test_real_trees_when_present(model):
    """On the unpacked 6.1 / 6.12 trees (if this machine has them): the documented arms."""
    base = Path.home() / ".cache" / "pagecheck-kernels"
    trees = {"6.1": "pagetable", "6.12": None}
    found = False
    for v, pt in trees.items():
        t = base / f"linux-source-{v}"
        if not (t / "include" / "linux" / "mm_types.h").is_file():
            continue
        found = True
        lay = layouts.read(t, model)
        roles = [a.role for a in lay.arms]
        assert "page_pool" in roles and "folio" in roles and "slab" not in roles
        assert (pt in roles) if pt else ("pagetable" not in roles and lay.has("ptdesc"))
    if not found:
        pytest.skip("no real kernel tree unpacked")
