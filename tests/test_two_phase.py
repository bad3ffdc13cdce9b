"""Two-phase prefilter: weak-only functions (kmalloc family, kfree) are analysed only
when they call, or are called by, a function analysed for stronger evidence; and a
masked parse never reads as more damaged than the whole file's parse."""

from __future__ import annotations

import pytest

from pagecheck import facts as facts_mod
from pagecheck import parse
from pagecheck.prefilter import Plan, Prefilter, Terms, function_name, masked_source, needed_weak, top_level_chunks
from pagecheck.source import SourceFile

from helpers_workflow import findings


@pytest.fixture(scope="module")
def pf(model):
    return Prefilter(Terms.from_model(model))


WEAK_FILE = b"""\
#include <linux/slab.h>

void *hdr_alloc(size_t len)
{
\treturn kzalloc(len, GFP_KERNEL);
}

static void ctx_free(struct ctx *c)
{
\tkfree(c->priv);
\tkfree(c);
}

static int __init
ctx_setup(struct ctx *c) __acquires(c->lock)
{
\tc->priv = kmalloc(16, GFP_KERNEL);
\treturn c->priv ? 0 : -ENOMEM;
}
"""

STRONG_FILE = b"""\
#include <linux/mm.h>

static void pin_header(size_t len)
{
\tvoid *hdr = hdr_alloc(len);
\tstruct page *page = virt_to_page(hdr);
\tget_page(page);
}
"""


def test_terms_split_weak_words(pf):
    assert {"kmalloc", "kzalloc", "kfree", "kmem_cache_alloc"} <= pf.terms.weak
    assert not {"vmalloc", "vfree", "virt_to_page", "get_page", "kvfree", "kvmalloc"} & pf.terms.weak


def test_function_names_are_read_in_bytes():
    names = [function_name(WEAK_FILE, s, e) for s, e in top_level_chunks(WEAK_FILE)]
    assert names == ["hdr_alloc", "ctx_free", "ctx_setup"]
    assert function_name(b"struct rx {\n\tint a;\n};\n", 0, 24) is None


def test_scan_sorts_functions_by_evidence(pf):
    weak = pf.scan(WEAK_FILE)
    assert weak.strong_names == ()
    # (name, seen from other files): a static function of a .c file is not
    assert [(n, g) for n, _c, g in weak.weak] == [("hdr_alloc", True), ("ctx_free", False), ("ctx_setup", False)]
    assert [g for _n, _c, g in pf.scan(WEAK_FILE, header=True).weak] == [True, True, True]
    strong = pf.scan(STRONG_FILE)
    assert strong.weak == () and strong.strong_names == (("pin_header", False),)
    # model words are not calls to summarised functions: the model says what they do
    assert "hdr_alloc" in strong.strong_calls and not {"virt_to_page", "get_page"} & set(strong.strong_calls)
    assert pf.scan(b"static int f(int a)\n{\n\treturn a;\n}\n") is None


def test_needed_weak_follows_calls_both_ways_to_a_fixpoint(pf):
    # called by pin_header; ctx_free/ctx_setup touch nothing strong
    assert needed_weak([pf.scan(STRONG_FILE + WEAK_FILE)]) == [{"hdr_alloc"}]
    chain = b"void *wrap2(size_t n)\n{\n\treturn hdr_alloc(n) ?: kmalloc(n, GFP_KERNEL);\n}\n"
    chain3 = b"void *wrap3(size_t n)\n{\n\treturn wrap2(n) ?: kmalloc(n, GFP_KERNEL);\n}\n"
    # pin_header() is static: a same-named static elsewhere does not reach it, a global one does
    calls_static = b"static void drop(void *p)\n{\n\tpin_header(4);\n\tkfree(p);\n}\n"
    calls_global = b"static void drop2(void *p)\n{\n\thdr_alloc(4);\n\tkfree(p);\n}\n"
    lone = b"static void g(void *p)\n{\n\tkfree(p);\n}\n"
    files = [STRONG_FILE, WEAK_FILE, chain, chain3, calls_static, calls_global, lone]
    got = needed_weak([pf.scan(f) for f in files], rounds=2)
    assert got == [set(), {"hdr_alloc"}, {"wrap2"}, set(), set(), {"drop2"}, set()]
    assert needed_weak([pf.scan(f) for f in files])[2] == set()  # wrap2 only in round 2 (default: 1)
    assert needed_weak([pf.scan(STRONG_FILE + calls_static)]) == [{"drop"}]  # same file: it does


def test_plan_drops_unneeded_weak_functions_only(pf):
    data = STRONG_FILE + WEAK_FILE
    full = pf.plan(data)
    part = pf.plan(data, needed=frozenset({"hdr_alloc"}))
    masked = masked_source(data, part.keep)
    assert b"virt_to_page(hdr)" in masked and b"kzalloc(len" in masked
    assert b"kfree(c->priv)" not in masked and b"kmalloc(16" not in masked
    assert part.kept_bytes < full.kept_bytes and len(part.hits) < len(full.hits)
    assert pf.plan(WEAK_FILE, needed=frozenset()) is None  # nothing needed: nothing to parse
    assert pf.plan(WEAK_FILE) is not None  # one-phase callers keep everything


def test_weak_wrapper_in_another_file_still_gives_the_finding(tmp_path):
    (tmp_path / "alloc.c").write_bytes(WEAK_FILE)
    (tmp_path / "pin.c").write_bytes(STRONG_FILE)
    # kzalloc in hdr_alloc() (alloc.c) reaches get_page() in pin.c only through the summary
    assert ("pin.c", 7, "PG301") in findings(str(tmp_path))


# Kernel style that tree-sitter misreads: an annotation macro before a struct type
# with a table declared with it.  The ERROR node it starts swallows what follows,
# whole or masked; blanked bytes inside it are not code and must not count as lost.
DAMAGED = b"""\
#include <linux/slab.h>

static const __tbl_initconst struct lbl_init
{
\tconst void *prefix;
\tint prefixlen;
} lbl_init_table[] = {
\t{
\t\t.prefix = NULL,
\t\t.prefixlen = 0,
\t},
};

static int lbl_unrelated(int a)
{
\treturn a * 2 + lbl_init_table[0].prefixlen;
}

static int lbl_other(int a, int b)
{
\tif (a > b)
\t\treturn a - b;
\treturn b - a;
}

static void *lbl_alloc(struct lbl *l)
{
\tl->buf = kmalloc(l->len, GFP_KERNEL);
\treturn l->buf;
}
"""


def test_masking_never_reads_as_more_damage_than_the_whole_parse(pf):
    src = SourceFile("lbl.c", DAMAGED)
    plan = pf.plan(DAMAGED)
    assert plan is not None
    masked_tree = parse.parse(masked_source(DAMAGED, plan.keep))
    whole_tree = parse.parse(DAMAGED)
    assert masked_tree.root_node.has_error  # the case this test is about
    # the same kept bytes are damaged in both parses: masking made nothing worse ...
    assert parse.error_bytes(masked_tree, plan.keep) <= parse.error_bytes(whole_tree, plan.keep)
    masked = facts_mod.extract(src, plan)
    whole = facts_mod.extract(src, Plan(((0, len(DAMAGED)),), plan.hits))
    assert [f.name for f in masked.functions] == [f.name for f in whole.functions] == ["lbl_alloc"]
    assert masked.functions == whole.functions
    # ... and the share reported is that of the kept code, not of blanks inside an ERROR
    kept_damage = parse.error_bytes(whole_tree, plan.keep)
    assert masked.parsed_share == pytest.approx(1 - kept_damage / plan.kept_bytes)
    assert masked.parsed_share > 0.5


# --- struct page fields of named objects (`dev->index`) -----------------------------

FIELD_FILE = b"""\
struct ring {
\tstruct page *pg, **pages;
};

void ring_tag(struct ring *r, int n)
{
\tr->pg->index = n;
}

void dev_number(struct dev *d, int n)
{
\td->index = n;
}

void dev_alloc(struct dev *d)
{
\td->index = 0;
\td->priv = kzalloc(16, GFP_KERNEL);
}

void ring_mark(struct ring *r)
{
\tlookup(r)->index = 1;
}

static const struct dev_info info = {
\t.index = 3,
};
"""


def test_member_object_and_page_names():
    from pagecheck.prefilter import _member_object, page_names

    def obj(src: bytes):
        return _member_object(src, src.rindex(b"index"))

    assert obj(b"rx->pg->index") == "pg" and obj(b"pages[i] -> index") == "pages" and obj(b"x.index") == "x"
    assert obj(b"lookup(r)->index") is None and obj(b"(p)->index") is None  # kept: not a plain name
    assert obj(b"{ .index = 1") == "" and obj(b"a,\n\t.index = 2") == ""  # designated initializers
    decls = b"struct page *a, *b; int f(struct page *page __maybe_unused, struct foo *dp); struct page_frag *x;"
    assert page_names(decls) == ("__maybe_unused", "a", "b", "page")  # not dp, not x


def test_page_fields_of_named_objects_are_conditional(pf):
    sc = pf.scan(FIELD_FILE)
    # lookup(r)->index is a call result: a plain hit, so ring_mark is strong
    assert sc.strong_names == (("ring_mark", True),)
    assert [(n, objs, weak) for n, _c, _g, objs, weak in sc.fields] == [
        ("ring_tag", ("pg",), False), ("dev_number", ("d",), False), ("dev_alloc", ("d",), True)]
    assert {"pg", "pages"} <= set(sc.page_names)
    # pg is declared `struct page *`: ring_tag is analysed; d is not: dev_number is not,
    # and dev_alloc is left to the weak rules (nothing analysed calls it)
    assert needed_weak([sc]) == [{"ring_tag"}]
    plan = pf.plan(FIELD_FILE, needed=frozenset({"ring_tag"}))
    masked = masked_source(FIELD_FILE, plan.keep)
    assert b"r->pg->index" in masked and b"lookup(r)->index" in masked and b"d->index" not in masked
    # the initializer's `.index` is no hit at all, even in one-phase plans
    assert all(not FIELD_FILE[h:].startswith(b"index = 3") for h in pf.plan(FIELD_FILE).hits)


def test_first_pass_scan_plans_like_a_second_read(pf):
    """plan_for(scan.parts, ...) is what plan() gives on the same bytes: the second
    pass parses what the first planned without scanning the file again."""
    from pagecheck.prefilter import plan_for

    for data in (FIELD_FILE, STRONG_FILE + WEAK_FILE, WEAK_FILE, DAMAGED):
        sc = pf.scan(data)
        for needed in (None, frozenset(), frozenset({"ring_tag", "hdr_alloc"}), frozenset({"ctx_free"})):
            assert plan_for(sc.parts, sc.structs, needed) == pf.plan(data, needed), (data[:40], needed)


def test_second_pass_parses_what_the_first_planned(tmp_path, monkeypatch):
    """The second pass takes the first pass's plan for bytes it has seen, and plans
    again only for a file that changed in between."""
    from pagecheck import runner
    from pagecheck.prefilter import Prefilter

    (tmp_path / "alloc.c").write_bytes(WEAK_FILE)
    (tmp_path / "pin.c").write_bytes(STRONG_FILE)
    (tmp_path / "tag.c").write_bytes(FIELD_FILE)
    planned_again: list[bytes] = []
    real_plan = Prefilter.plan

    def plan(self, data, needed=None):
        planned_again.append(data)
        return real_plan(self, data, needed)

    monkeypatch.setattr(Prefilter, "plan", plan)
    assert ("pin.c", 7, "PG301") in findings(str(tmp_path), "--jobs", "1", "--no-cache")
    assert planned_again == []

    # alloc.c changes after the first pass read it: its offsets are stale, so it is planned again
    real_scan = runner._scan

    def scan_then_edit(path):
        got = real_scan(path)
        if path.endswith("alloc.c"):
            (tmp_path / "alloc.c").write_bytes(b"\n\n" + WEAK_FILE)
        return got

    monkeypatch.setattr(runner, "_scan", scan_then_edit)
    assert ("pin.c", 7, "PG301") in findings(str(tmp_path), "--jobs", "1", "--no-cache")
    assert planned_again == [b"\n\n" + WEAK_FILE]


MACRO_FILE = b"""\
#ifndef ACME_H
#define ACME_H
#define ACME_GET(name)\t\t\\
static struct page *name##_get(void)\t\\
{\t\t\t\t\t\\
\treturn alloc_page(GFP_KERNEL);\t\t\\
}\t\t\t\t\t\\
extern int acme_##name##_ready

static int acme_count(int n)
{
#ifdef CONFIG_ACME
\treturn n + 1;
#endif
\treturn n;
}
#endif
"""


def test_parse_reads_only_the_planned_ranges(pf):
    """Parsing only the planned ranges (tree-sitter included ranges) gives the tree
    the blanked file gives: same nodes, same offsets, same lines and columns, #if
    pairs intact, and a multi-line macro cut by a column-0 brace still ends."""
    from pagecheck.prefilter import parsed_ranges

    for data in (FIELD_FILE, STRONG_FILE + WEAK_FILE, DAMAGED, MACRO_FILE):
        plan = pf.plan(data)
        ranges = parsed_ranges(data, plan.keep)
        blank = parse.parse(masked_source(data, plan.keep))
        ranged = parse.parse(masked_source(data, plan.keep), ranges=ranges)

        def shape(node):
            return [(n.type, n.start_byte, n.end_byte, tuple(n.start_point), tuple(n.end_point), str(n))
                    for n in node.children]

        assert shape(ranged.root_node) == shape(blank.root_node), data[:30]
        assert ranged.root_node.has_error == blank.root_node.has_error
    # the macro's continuation lines are read to its end, so #endif is not swallowed
    ranges = parsed_ranges(MACRO_FILE, pf.plan(MACRO_FILE).keep)
    assert any(MACRO_FILE[s:e].endswith(b"extern int acme_##name##_ready\n") for s, e in ranges)


def test_an_item_ending_the_file_in_a_line_continuation_ends(pf):
    """A kept item cut at a backslash-newline that ends the file: nothing more to read."""
    from pagecheck.prefilter import parsed_ranges

    data = b"static void f(struct page *p)\n{\n\tput_page(p);\n}\t\\\n"
    assert parsed_ranges(data, ((0, len(data)),)) == ((0, len(data)),)
    assert parsed_ranges(data + b"\\\r\n", ((0, len(data)),)) == ((0, len(data) + 3),)
