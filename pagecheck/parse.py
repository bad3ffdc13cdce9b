"""Stage 2 — parse: tree-sitter-c over kernel C.  The only module importing tree_sitter.

Kernel sources are full of annotation macros that the C grammar cannot know
(`__rcu`, `__must_check`, `__acquires(x)`, `__always_inline` ...).  Left in,
they turn whole function headers into ERROR nodes and we lose the function.
We blank them out with spaces of the same length before parsing, so byte
offsets (and so lines and columns) are unchanged.  The share of function
definitions this recovers on a real tree is measured by `bench/parse_recovery.py`.
"""

from __future__ import annotations

import bisect

import re
from functools import lru_cache
from importlib import resources

import tree_sitter_c
from tree_sitter import Language, Node, Parser, Point, Query, QueryCursor, Range, Tree

from .prefilter import merge_ranges

__all__ = ["Node", "parse", "mask_annotations", "query", "captures_in", "function_matches", "error_bytes"]

# Annotation words that take no arguments.  Each is a pure attribute in the
# kernel (include/linux/compiler*.h, init.h, cache.h): removing it never
# changes which declarations or expressions exist.
_BARE = (
    "__rcu __user __iomem __percpu __kernel __force __bitwise __nocast __safe __private "
    "__must_check __always_inline __init __exit __initdata __exitdata __initconst "
    "__read_mostly __ro_after_init __maybe_unused __always_unused __used __cold __hot "
    "__weak __pure __packed __noreturn __latent_entropy __refdata __ref __meminit "
    "__meminitdata __init_or_module __net_init __net_exit __net_initdata __sched "
    "__visible __randomize_layout __no_randomize_layout __no_kcsan __noinstr noinstr "
    "notrace asmlinkage __nocfi __attribute_const__ __malloc __cacheline_aligned "
    "__cacheline_aligned_in_smp ____cacheline_aligned ____cacheline_aligned_in_smp "
    "__nonstring __no_sanitize_address __lockdep_no_validate __must_be_array "
    "__flatten __mustcheck __deprecated __initdata_or_module __devinit __devexit "
    "__cpuinit __always_used __kprobes __irq_entry __softirq_entry __noclone "
    "__no_stack_protector __fix_address __bpf_kfunc __nocapture __ksym __weak_alias "
    "__counted_by_ptr __aligned_largest __this_module noinline __section_irqentry "
    "__releases_shared __acquires_shared __iomem_rcu __ptr_align __xsk_pool"
).split()

# Annotation macros that take a (possibly nested) argument list.
_WITH_ARGS = (
    "__acquires __releases __must_hold __cond_acquires __cond_releases __cond_lock "
    "__printf __scanf __alloc_size __section __aligned __counted_by __sized_by "
    "__free __guarded_by __pt_guarded_by __diagnose_as __realloc_size __assume_aligned "
    "__nonnull __access __no_sanitize __cleanup __must_hold_shared __acquire_ret "
    "__designated_init __ro_after_init_scoped"
).split()

# Every pattern starts with a literal ("__", "no", "asmlinkage") so the regex
# engine skips to candidates in C (about 1 GB/s); a leading \b would make it
# try every byte (20 MB/s).  The look-behind after the literal is that \b.
_ARGS_TAIL = rb"\s*\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)"


def _alternation(words: list[str], prefix: str) -> bytes:
    return rb"|".join(re.escape(w[len(prefix):].encode()) for w in words if w.startswith(prefix))


_MASK_RES = (
    re.compile(rb"__(?<![A-Za-z0-9_]__)(?:(?:" + _alternation(_WITH_ARGS, "__") + rb")" + _ARGS_TAIL
               + rb"|(?:" + _alternation(sorted(_BARE, key=len, reverse=True), "__") + rb")\b)"),
    re.compile(rb"no(?<![A-Za-z0-9_]no)(?:" + _alternation(sorted(_BARE, key=len, reverse=True), "no") + rb")\b"),
    re.compile(rb"asmlinkage(?<![A-Za-z0-9_]asmlinkage)\b"),
)
assert all(w.startswith(("__", "no", "asmlinkage")) for w in _BARE + _WITH_ARGS)


def _blank(m: re.Match[bytes]) -> bytes:
    # keep newlines so line numbers survive multi-line argument lists
    return re.sub(rb"[^\n]", b" ", m.group(0))


def mask_annotations(data: bytes) -> bytes:
    """Blank kernel annotation macros, preserving every byte offset."""
    for rx in _MASK_RES:
        data = rx.sub(_blank, data)
    return data


@lru_cache(maxsize=1)
def _language() -> Language:
    return Language(tree_sitter_c.language())


@lru_cache(maxsize=1)
def _parser() -> Parser:
    return Parser(_language())


@lru_cache(maxsize=1)
def _ranged_parser() -> Parser:
    return Parser(_language())


def parse(data: bytes, mask: bool = True, ranges: tuple[tuple[int, int], ...] | None = None) -> Tree:
    """Parse `data`; with `ranges` (sorted, disjoint byte ranges) read only those.

    The prefilter keeps about 15% of an analysed file's bytes.  Blanking the
    rest to spaces keeps every offset, but the parser still lexes each blank
    byte; tree-sitter's included ranges skip them at no cost and keep offsets,
    lines and columns those of `data` (2.5x faster on 6.12's analysed files).
    """
    text = mask_annotations(data) if mask else data
    if not ranges:
        return _parser().parse(text)
    parser = _ranged_parser()
    parser.included_ranges = _points(text, ranges)
    return parser.parse(text)


def _points(data: bytes, ranges: tuple[tuple[int, int], ...]) -> list[Range]:
    """Tree-sitter ranges (byte offsets and row/column points) for byte ranges."""
    out = []
    row = 0
    last = 0  # offset the row count is up to
    for start, end in ranges:
        pts = []
        for off in (start, end):
            row += data.count(b"\n", last, off)
            last = off
            pts.append(Point(row, off - data.rfind(b"\n", 0, off) - 1))
        out.append(Range(pts[0], pts[1], start, end))
    return out


@lru_cache(maxsize=None)
def query(name: str) -> Query:
    """Load and compile pagecheck/queries/<name>.scm once per process."""
    text = resources.files("pagecheck").joinpath("queries", f"{name}.scm").read_text()
    return Query(_language(), text)


def captures_in(q: Query, node: Node, start: int | None = None, end: int | None = None):
    """Run a query (in C) and return its matches as (pattern_index, {name: [nodes]})."""
    cursor = QueryCursor(q)
    if start is not None:
        cursor.set_byte_range(start, end)
    return cursor.matches(node)


def error_bytes(tree: Tree, keep: tuple[tuple[int, int], ...] | None = None) -> int:
    """Bytes of the file the parse could not recover: the parse damage.

    That is the bytes under ERROR nodes (outermost, overlaps merged), less the
    well-formed items tree-sitter still built inside them (queries/recovered.scm:
    functions, struct definitions, preprocessor lines, comments ...).  An
    unbalanced `#if` or a macro the grammar cannot read often wraps the rest of
    a file in one ERROR node whose children are perfectly good functions, which
    facts extraction finds and analyses; counting them as lost would call a
    header whose 66 functions were all recovered "1% parsed".  Damage inside a
    function (an ERROR within its body) still counts.

    `keep`: the byte ranges that were really parsed (prefilter.Plan.keep); the
    rest of a planned file was never read, so an ERROR node spanning it (a
    struct the grammar misreads, then a function further down) loses nothing
    there: only damage inside `keep` counts.

    The queries run in C, so a file of 20,000 nested errors costs no Python stack.
    """
    root = tree.root_node
    errors = merge_ranges([(n.start_byte, n.end_byte) for n in
                      QueryCursor(query("errors")).captures(root).get("error", ())]
                     + ([(root.start_byte, root.end_byte)] if root.type == "ERROR" else []))
    total = 0
    for start, end in errors:
        cursor = QueryCursor(query("recovered"))
        cursor.set_byte_range(start, end)
        inside = merge_ranges([(n.start_byte, n.end_byte) for n in cursor.captures(root).get("item", ())
                          if start <= n.start_byte and n.end_byte <= end
                          and (n.start_byte, n.end_byte) != (start, end)])
        if keep is None:
            total += (end - start) - sum(e - s for s, e in inside)
            continue
        pos = start
        for s, e in [*inside, (end, end)]:  # the lost gaps between recovered items
            if s > pos:
                total += _overlap(pos, s, keep)
            pos = max(pos, e)
    return total


def _overlap(start: int, end: int, ranges: tuple[tuple[int, int], ...]) -> int:
    """Bytes of [start, end) inside the sorted, disjoint `ranges`."""
    i = bisect.bisect_right(ranges, (start, float("inf"))) - 1
    total = 0
    for s, e in ranges[max(i, 0):]:
        if s >= end:
            break
        total += max(0, min(e, end) - max(s, start))
    return total


def function_matches(tree: Tree):
    return captures_in(query("functions"), tree.root_node)
