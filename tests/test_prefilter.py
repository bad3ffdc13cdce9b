"""The byte prefilter: what it keeps, that blanking keeps facts exact, and that it stays linear."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from pagecheck import facts as facts_mod
from pagecheck import progress
from pagecheck.prefilter import Prefilter, Terms, masked_source, top_level_chunks
from pagecheck.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pf(model):
    return Prefilter(Terms.from_model(model))


def test_words_count_only_as_identifiers_and_members(pf):
    assert pf.plan(b"static int apply(int pp) { return support_index; }\n") is None  # substrings, a local `pp`
    assert pf.plan(b"static void f(struct foo *x)\n{\n\tx->index = 1;\n}\n") is not None  # a member
    assert pf.plan(b"static void f(void *x)\n{\n\tkfree(x);\n}\n") is not None  # an identifier
    assert pf.plan(b"static void f(struct page *p)\n{\n}\n") is not None  # the type, in the header
    assert pf.plan(b"static int f(int index)\n{\n\treturn index;\n}\n") is None  # a field name, not a member


def test_only_items_with_evidence_are_parsed_and_offsets_survive(pf):
    data = (b"#include <linux/mm.h>\n\nstatic int unrelated(int a)\n{\n\treturn a + 1;\n}\n\n"
            b"#ifdef CONFIG_X\nstruct rx { struct buf *b; };\n#endif\n\n"
            b"static void rx_put(struct page *page)\n{\n\tput_page(page);\n}\n")
    plan = pf.plan(data)
    masked = masked_source(data, plan.keep)
    assert len(masked) == len(data) and masked.count(b"\n") == data.count(b"\n")
    assert b"unrelated" not in masked and b"put_page(page)" in masked
    assert b"#ifdef CONFIG_X" in masked and b"#endif" in masked  # conditionals stay paired
    assert b"struct rx { struct buf *b; }" in masked  # structs of an analysed file are kept
    ff = facts_mod.extract(SourceFile("x.c", data), plan)
    assert [f.name for f in ff.functions] == ["rx_put"] and [s.name for s in ff.structs] == ["rx"]
    full = facts_mod.extract(SourceFile("x.c", data))
    assert next(f for f in full.functions if f.name == "rx_put") == ff.functions[0]


def test_fixture_facts_are_the_same_with_the_plan(pf):
    """On every fixture, the functions the plan keeps have exactly the facts a full parse gives."""
    for p in sorted((ROOT / "fixtures").rglob("*.c")):
        data = p.read_bytes()
        plan = pf.plan(data)
        full = facts_mod.extract(SourceFile(str(p), data))
        assert plan is not None, p  # every fixture holds evidence for its rule
        part = facts_mod.extract(SourceFile(str(p), data), plan)
        want = [f for f in full.functions if plan.hit_in(f.start, f.end)]
        assert part.functions == tuple(want), p


def test_chunks_never_split_a_function_with_a_column_zero_brace():
    data = (b"static void f(void)\n{\n#ifdef A\n\tif (x) {\n#else\n\tif (y) {\n#endif\n\t\tz();\n}\n\t}\n}\n"
            b"static void g(void)\n{\n}\n")
    chunks = top_level_chunks(data)
    assert b"".join(data[s:e] for s, e in chunks) == data
    first = data[chunks[0][0]:chunks[0][1]]
    assert first.count(b"{") == first.count(b"}") and b"static void g" not in first


def test_stays_linear_on_hostile_shapes(pf):
    shapes = [
        b"".join(b"#define REG_%d (0x%x)  /* kfree */\n" % (i, i) for i in range(60_000)),  # a register header
        b"x->index " * 200_000,  # one huge line of hits
        b"}\n" * 200_000,  # only closing braces
        b"struct s {\n" * 50_000,  # only openings
        b"kfree(" + b"(" * 100_000,
    ]
    for data in shapes:
        t = time.process_time()
        plan = pf.plan(data)
        if plan is not None:
            masked_source(data, plan.keep)
        assert time.process_time() - t < 5, data[:40]


def test_progress_bar_only_on_a_terminal():
    assert progress.for_run(10_000, io.StringIO()) is None

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert progress.for_run(10, Tty()) is None  # too small to be worth a bar
    bar = progress.for_run(10_000, Tty())
    assert bar is not None
    bar(None)
    bar.close()
