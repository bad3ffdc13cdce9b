"""Interprocedural summaries: fixpoint over recursion, scoping, name clashes, member values."""

from __future__ import annotations

import time

from pagecheck import facts as facts_mod
from pagecheck.infer import TypeEnv
from pagecheck.source import SourceFile
from pagecheck.summaries import Index, Policy, analyse_tree, merge, summarise


def _facts(files: dict[str, str]):
    return [facts_mod.extract(SourceFile(path, text.encode())) for path, text in files.items()]


def _tree(model, files: dict[str, str], generic=Policy()):
    ff = _facts(files)
    return analyse_tree(model, TypeEnv.build(ff), ff, generic), ff


def _summary(tree, facts, name, path=None):
    for (fi, j), s in tree.summaries.items():
        if s.name == name and (path is None or facts[fi].path == path):
            return s
    return None


def _roles(s, i):
    return {u.role for u in s.params[i] if u.role}


def test_fixpoint_terminates_on_deep_mutual_recursion(model):
    # a ring of 50 functions passing the page around, one of them a page_pool helper:
    # every function in the ring learns it, in bounded rounds
    n = 50
    src = ["void ring_0(struct page_pool *pool, struct page *page, int k);"]
    for i in range(n):
        body = f"\tif (k)\n\t\tring_{(i + 1) % n}(pool, page, k - 1);\n"
        if i == n - 1:
            body += "\tpage_pool_put_full_page(pool, page, false);\n"
        src.append(f"void ring_{i}(struct page_pool *pool, struct page *page, int k)\n{{\n{body}}}\n")
    t0 = time.perf_counter()
    tree, ff = _tree(model, {"ring.c": "\n".join(src)})
    assert time.perf_counter() - t0 < 30
    for i in range(n):
        assert _roles(_summary(tree, ff, f"ring_{i}"), 1) == {"page_pool"}, i
    assert tree.stats["recursive_components"] == 1
    # each round re-analyses the ring; facts only grow, so few rounds suffice
    assert tree.stats["analysis_runs"] <= n * 6


def test_self_recursion_without_any_fact_is_empty_and_terminates(model):
    tree, ff = _tree(model, {"r.c": "void loop(struct page *page)\n{\n\tloop(page);\n}\n"})
    assert _summary(tree, ff, "loop") is None


def test_return_role_and_conflicting_returns(model):
    tree, ff = _tree(model, {"a.c": (
        "static struct page *get_pp(struct page_pool *pool)\n{\n\treturn page_pool_dev_alloc_pages(pool);\n}\n"
        "static struct page *get_any(struct page_pool *pool, int x)\n{\n"
        "\tif (x)\n\t\treturn page_pool_dev_alloc_pages(pool);\n\treturn alloc_page(GFP_KERNEL);\n}\n"
        "static struct page *get_pp2(struct page_pool *pool)\n{\n\tstruct page *p = get_pp(pool);\n\n"
        "\treturn p;\n}\n")})
    assert [r.role for r in _summary(tree, ff, "get_pp").returns] == ["page_pool"]
    assert _summary(tree, ff, "get_any") is None  # returns disagree: no role
    assert [r.role for r in _summary(tree, ff, "get_pp2").returns] == ["page_pool"]


def test_statics_are_scoped_to_their_file(model):
    files = {
        "a.c": "static void rel(struct page_pool *pool, struct page *page)\n{\n"
               "\tpage_pool_put_full_page(pool, page, false);\n}\n",
        "b.c": "void user(struct page_pool *pool, struct page *page)\n{\n\trel(pool, page);\n}\n",
    }
    tree, ff = _tree(model, files)
    assert _summary(tree, ff, "rel") is not None
    assert _summary(tree, ff, "user") is None  # a.c's static rel() is not b.c's
    idx = Index(ff)
    assert idx.resolve("rel", 1) == ()
    assert idx.resolve("rel", 0) == ((0, 0),)


def test_header_statics_are_seen_everywhere(model):
    files = {
        "include/h.h": "static inline void rel(struct page_pool *pool, struct page *page)\n{\n"
                       "\tpage_pool_put_full_page(pool, page, false);\n}\n",
        "drv/b.c": "void user(struct page_pool *pool, struct page *page)\n{\n\trel(pool, page);\n}\n",
    }
    tree, ff = _tree(model, files)
    assert _roles(_summary(tree, ff, "user"), 1) == {"page_pool"}


def test_merge_keeps_one_sided_facts_and_drops_contradictions(model):
    files = {
        "x/a.c": "void drop(struct page_pool *pool, struct page *page)\n{\n"
                 "\tpage_pool_put_full_page(pool, page, false);\n}\n",
        "x/b.c": "void drop(struct page_pool *pool, struct page *page)\n{\n\t__page_frag_cache_drain(page, 1);\n}\n",
        "x/c.c": "void drop(struct page_pool *pool, struct page *page)\n{\n}\n",
    }
    tree, ff = _tree(model, files)
    pp = _summary(tree, ff, "drop", "x/a.c")
    drv = _summary(tree, ff, "drop", "x/b.c")
    assert _roles(pp, 1) == {"page_pool"} and _roles(drv, 1) == {"driver"}
    assert merge([pp], model) is pp  # a stub (no summary) does not dilute a real definition
    both = merge([pp, drv], model)
    assert both is None or not _roles(both, 1)


def test_member_value_needs_every_store_to_agree(model):
    hdr = "struct rxb {\n\tstruct page *page;\n};\nstruct txb {\n\tstruct page *page;\n};\n"
    files = {
        "d/d.h": hdr,
        "d/a.c": "void fill(struct rxb *b, struct page_pool *pool, struct txb *t, struct page *p)\n{\n"
                 "\tb->page = page_pool_dev_alloc_pages(pool);\n"
                 "\tt->page = alloc_page(GFP_KERNEL);\n}\n"
                 "void fill2(struct txb *t, struct page *p)\n{\n\tt->page = p;\n}\n",
    }
    tree, _ff = _tree(model, files)
    vals = {k.split(":", 1)[1]: v.role for k, v in tree.members.items()}
    assert vals == {"rxb.page": "page_pool"}  # txb.page has a store of unknown role
    tree2, _ = _tree(model, files, generic=Policy(generic_members=frozenset({"rxb.page"})))
    assert tree2.members == {}


def test_summarise_skips_conditional_uses(model):
    ff = _facts({"c.c": "void f(struct page_pool *pool, struct page *page)\n{\n"
                        "\tif (page_pool_page_is_pp(page))\n\t\tpage_pool_put_full_page(pool, page, false);\n}\n"})
    tree = analyse_tree(model, TypeEnv.build(ff), ff)
    fr = tree.functions["c.c"][0]
    assert not summarise(fr, {}, model).params[1]


def test_members_a_call_may_store_into_have_no_value(model):
    hdr = "struct rq {\n\tstruct page **pages;\n\tstruct page *spare;\n\tstruct page *page;\n};\n"
    files = {
        "d/d.h": hdr,
        "d/a.c": "void fill(struct rq *r, struct page_pool *pool, int i)\n{\n"
                 "\tr->pages[i] = page_pool_dev_alloc_pages(pool);\n"
                 "\tr->spare = page_pool_dev_alloc_pages(pool);\n"
                 "\tr->page = page_pool_dev_alloc_pages(pool);\n}\n"
                 # the array is filled by a call too, and `spare` through its address
                 "void batch(struct rq *r, struct readahead_control *rac)\n{\n"
                 "\t__readahead_batch(rac, r->pages, 8);\n\tget_spare(&r->spare);\n\tput_page(r->page);\n}\n",
    }
    tree, _ff = _tree(model, files)
    assert {k.split(":", 1)[1] for k in tree.members} == {"rq.page"}  # passing a page by value is no store


def test_arch_definitions_are_seen_only_from_their_arch(model):
    files = {
        # parisc's flush touches vmalloc addresses; x86's does not
        "arch/parisc/kernel/cache.c": "void flush_range(void *start)\n{\n\tvmalloc_to_page(start);\n}\n",
        "arch/x86/mm/flush.c": "void flush_range(void *start)\n{\n\tclflush(start);\n}\n",
        "arch/x86/kernel/kexec.c": "void kexec_flush(void *buf)\n{\n\tflush_range(buf);\n}\n",
        "kernel/kexec.c": "void generic_flush(void *buf)\n{\n\tflush_range(buf);\n}\n",
        "arch/parisc/kernel/kexec.c": "void parisc_flush(void *buf)\n{\n\tflush_range(buf);\n}\n",
    }
    tree, ff = _tree(model, files)
    assert _summary(tree, ff, "kexec_flush") is None  # x86 sees only x86's flush_range()
    assert _summary(tree, ff, "generic_flush") is None  # generic code: whichever arch is built
    tree, ff = _tree(model, {k: v for k, v in files.items() if not k.startswith("arch/x86")})
    assert _summary(tree, ff, "generic_flush") is None  # even when parisc's is the only body we see
    assert _roles(_summary(tree, ff, "parisc_flush"), 0) == {"vmalloc_addr"}


def test_page_lock_helpers_are_not_exported(model):
    tree, ff = _tree(model, {"d/a.c": "void done(struct page *page)\n{\n\tunlock_page(page);\n}\n"},
                     Policy(local_helpers=frozenset({"unlock_page"})))
    assert _summary(tree, ff, "done") is None


def test_return_role_needs_every_return(model):
    tree, ff = _tree(model, {"d/a.c": (
        "static struct page *sgp(struct scatterlist *sg, void *addr)\n{\n"
        "\tif (is_vmalloc_addr(addr))\n\t\treturn vmalloc_to_page(addr);\n\treturn sg_page(sg);\n}\n"
        "static struct page *pt(void)\n{\n\tstruct page *page = alloc_page(GFP_KERNEL);\n\n"
        "\tpgtable_pte_page_ctor(page);\n\treturn page;\n}\n"
        "static struct page *pp(struct page_pool *pool)\n{\n\tstruct page *page = page_pool_dev_alloc_pages(pool);\n\n"
        "\tif (!page)\n\t\treturn ERR_PTR(-ENOMEM);\n\treturn page;\n}\n")})
    assert _summary(tree, ff, "sgp") is None
    assert _summary(tree, ff, "pt") is None
    assert [r.role for r in _summary(tree, ff, "pp").returns] == ["page_pool"]
