"""Byte-level prefilter: which files, and which top-level items of a file, can matter.

Tree-sitter parses kernel C at about 6 MB/s per core, and turning matches into
facts costs more than parsing.  A 6.12 tree is 1.34 GB, so parsing it all would
take minutes.  What can matter is far smaller: a finding needs evidence, and
evidence is always one of

* an identifier the role model names (an allocator, a helper, a predicate, a
  converter, an operation: `kfree`, `page_pool_put_page`, `PageSlab` ...);
* a member access `->F` / `.F` of a field the model names (`->pp_magic`);
* a declaration of type `struct page`.

So a file is scanned in bytes (C speed) for those words, with identifier
boundaries, and only the *top-level items* holding one are parsed: the parser
reads just those byte ranges (`parsed_ranges`, tree-sitter's included ranges),
so byte offsets, lines and columns are exactly those of the real file and facts
do not change.  About 7% of the bytes of a tree are read.  A field of struct
page itself counts only on an object named `struct page *` somewhere in the
tree (needed_weak), so `dev->index` is not evidence.

Top-level items are found the way kernel style writes them: a function or a
struct definition ends with a `}` in column 0.  A stray column-0 brace (inside
`#if` arms, in odd code) is caught by brace balance: chunks are merged until
their braces balance, so an item is never cut in two.  Preprocessor
conditionals outside the kept items are kept, so `#if`/`#endif` still pair.

Struct and union definitions of a file that has any evidence are parsed too,
whether or not they mention a word: member types are resolved tree-wide
(`ring->bufs[i].page` goes through `struct ring`), and today's facts keep the
structs of every analysed file.

What this gives up: a function holding none of the words is not analysed, even
when it only forwards a page to a helper that does (`rx_put(p) { __rx_free(p); }`),
so interprocedural summaries do not chain through such wrappers.  Taking in the
callers of every chosen function of the same file doubled the parsed bytes and
the facts kept in memory, for 6% more summaries and no finding more on
drivers/net/ethernet; the old substring prefilter analysed those wrappers only
by accident (a "pp" inside "apply").

Weak evidence, two phases.  Two thirds of the facts of a tree came from
functions whose only words are kmalloc-family allocators and `kfree`
(`Terms.weak`: one role, so no conflict inside one function).  Those matter
only through calls: a wrapper returning kmalloc memory that a caller passes to
virt_to_page(), a free helper handed a vmalloc'd buffer.  So a whole run first
`scan()`s every file (bytes only, no parsing): the functions with stronger
evidence, the names they call, and each weak-only function with the names it
calls.  `needed_weak()` keeps the weak-only functions called by, or calling, an
analysed function (WEAK_ROUNDS hops); `plan(needed=...)` drops the others.  Names are matched by the
scope summaries use (a static function of a .c file only within its file,
others tree-wide); model words (kmalloc, virt_to_page) never count as calls,
the model says what they do; a chunk whose function name cannot be read in
bytes is kept.

Everything here is plain data so it can be built once in the parent and sent to
worker processes; `Terms.digest` goes into the cache key.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass

# bytes that can be part of a C identifier (and of a number: harmless here)
_IDENT = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# translate() table: identifier bytes stay, everything else becomes a space,
# so bytes.split() yields the identifiers of a file in C
_TO_TOKENS = bytes(c if c in _IDENT else 0x20 for c in range(256))
# translate() table: blank everything but newlines (line numbers survive)
_TO_BLANK = bytes(0x0A if c == 0x0A else 0x20 for c in range(256))

# Preprocessor conditionals: kept outside the parsed items so #if/#endif pair up.
# A directive continued with a backslash is kept whole.
_COND_RE = re.compile(rb"\n[ \t]*#[ \t]*(?:if|ifdef|ifndef|elif|elifdef|elifndef|else|endif)\b(?:[^\n]*\\\r?\n)*[^\n]*")
# A struct/union definition starting in column 0 (its end is the chunk end):
# `struct x {`, `static const struct x {`, `typedef struct x\n{`, `struct __packed x {`.
# (The lookahead rejects the many lines that start with a tab at once.)
_STRUCT_RE = re.compile(rb"\n(?=[A-Za-z_])(?:[A-Za-z_]\w*[ \t]+)*(?:struct|union)[ \t]+[^;{}()=\n]*\n?[ \t]*\{")
_SPACE = b" \t\r\n\f\v"


@dataclass(frozen=True)
class Terms:
    """The words evidence can come from, split by how they must appear."""

    calls: frozenset[str]  # identifiers that matter wherever they stand
    fields: frozenset[str]  # member names that matter after `->` or `.`
    types: frozenset[str]  # struct tags whose `struct TAG` matters ("page")
    # calls that alone make a function worth analysing only through the call
    # graph: kmalloc-family sources, their free helpers and kfree (one role, so
    # no conflict inside one function); see Prefilter.plan(needed=...)
    weak: frozenset[str] = frozenset()
    # fields of struct page itself (`->index`, `->mapping`, `->dma_addr`): evidence
    # only when the object is a page, so only when it names something declared
    # `struct page *` somewhere (see needed_weak); `->page` (vm_fault.page) is not one
    page_fields: frozenset[str] = frozenset()

    @classmethod
    def from_model(cls, model) -> "Terms":
        """Sort the model's words (`RoleModel.words()`) into calls, fields and types.

        A word is a field if some role lists it as a field, a sink names it as a
        member (`vm_fault.page`) or a predicate compares it (`pp_magic==...`),
        and nothing names it as a function; "struct X" is a type; every other
        word is an identifier that counts wherever it stands (the safe side).
        """
        field_names: set[str] = {s.split(".")[-1] for s in model.sinks}
        function_names: set[str] = set(model.converters) | set(model.operations)
        for role in model.roles.values():
            field_names |= set(role.strong_fields) | set(role.weak_fields)
            field_names |= {p.split("==")[0] for p in role.predicates if "==" in p}
            function_names |= set(role.sources) | set(role.helpers)
            function_names |= {p for p in role.predicates if "==" not in p}
        calls: set[str] = set()
        fields: set[str] = set()
        types: set[str] = set()
        for w in model.words():
            if w.startswith("struct "):
                types.add(w.split()[-1])
            elif w in field_names and w not in function_names:
                fields.add(w)
            else:
                calls.add(w)
        weak: set[str] = set()
        slab_addr = model.roles.get("slab_addr")
        if slab_addr is not None:
            weak |= set(slab_addr.sources) | set(slab_addr.helpers)
            weak |= {n for n, op in model.operations.items() if op.needs == "kfree" and slab_addr.has("kfree")}
        page_fields = fields - {s.split(".")[-1] for s in model.sinks}
        return cls(frozenset(calls), frozenset(fields), frozenset(types), frozenset(weak & calls),
                   frozenset(page_fields))

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for group in (self.calls, self.fields, self.types, self.weak, self.page_fields):
            h.update(b"\0".join(sorted(w.encode() for w in group)) + b"\1")
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Plan:
    """What to parse in one file.

    `keep`: sorted, disjoint byte ranges to parse (the parser reads nothing else).
    `hits`: sorted offsets of evidence words; a function is analysed when one
    falls inside it.
    """

    keep: tuple[tuple[int, int], ...]
    hits: tuple[int, ...]

    def hit_in(self, start: int, end: int) -> bool:
        i = bisect.bisect_left(self.hits, start)
        return i < len(self.hits) and self.hits[i] < end

    @property
    def kept_bytes(self) -> int:
        return sum(e - s for s, e in self.keep)


@dataclass(frozen=True)
class Scan:
    """What the first pass learns of a file with evidence (see `Prefilter.scan`)."""

    # functions with non-weak evidence: (name, seen from other files); a static
    # function of a .c file is seen only from its own file (summaries.py scoping)
    strong_names: tuple[tuple[str, bool], ...]
    strong_calls: tuple[str, ...]  # every name they call
    weak: tuple[tuple[str, tuple[str, ...], bool], ...]  # weak-only: (name, names it calls, seen from others)
    # functions whose only non-weak evidence is struct page fields of named objects:
    # (name, names it calls, seen from others, the objects' names, has weak evidence too)
    fields: tuple[tuple[str, tuple[str, ...], bool, tuple[str, ...], bool], ...] = ()
    page_names: tuple[str, ...] = ()  # names this file declares `struct page *NAME` (members, globals, params)
    # what plan_for() needs to plan the parse without reading the file again:
    # the items with hits as (start, end, hit offsets, name if conditional else
    # None), and the struct definitions' ranges
    parts: tuple[tuple[int, int, tuple[int, ...], str | None], ...] = ()
    structs: tuple[tuple[int, int], ...] = ()


# How many hops through weak-only functions the call graph is followed.  On
# 6.12, 1 round analyses 23,082 functions in 25.8 s (542 MB); 2 rounds 29,939
# in 30.9 s (725 MB); the findings are the same on 6.12 (40) and 6.1 (35).  A
# second hop matters only for two kmalloc/kfree helpers in a row between a
# page operation and the allocation; one hop keeps a whole tree in budget.
WEAK_ROUNDS = 1


def needed_weak(scans: list[Scan | None], rounds: int = WEAK_ROUNDS) -> list[set[str]]:
    """For each file's scan, its conditional functions worth analysing.

    First those whose struct page field accesses (`x->index`) are on an object
    whose name is declared `struct page *` somewhere in the tree (`rx->pg->index`
    with `struct page *pg;` in some struct): on 6.12, 10,483 functions had no
    other evidence than such a field, 8,673 of them `->index` of a device, an
    attribute, a ring; 1,579 pass.  Names are tree-wide and the test is on the
    safe side: a call result or a parenthesised object always passes (in plan()).

    Then the weak-only functions that call, or are called by, an analysed
    function, following the scope summaries use (a static function of a .c
    file is reached only from its own file).  A taken-in function counts as
    analysed in the next round (a kmalloc wrapper called by a wrapper that a
    page helper calls); `rounds` bounds that (WEAK_ROUNDS): on 6.12, of
    40,951 weak-only functions 1 round took 7,468, 2 rounds 14,406, 8 rounds
    18,193 (the chains grow through generic names)."""
    gdefs: set[str] = set()
    gcalled: set[str] = set()
    ldefs: list[set[str]] = []
    lcalled: list[set[str]] = []
    page_names: set[str] = set()
    for sc in scans:
        names = sc.strong_names if sc is not None else ()
        gdefs.update(n for n, g in names if g)
        ldefs.append({n for n, g in names if not g})
        calls = set(sc.strong_calls) if sc is not None else set()
        gcalled |= calls
        lcalled.append(calls)
        if sc is not None:
            page_names.update(sc.page_names)
    needed: list[set[str]] = [set() for _ in scans]
    todo = [(i, name, set(calls), g) for i, sc in enumerate(scans) if sc is not None for name, calls, g in sc.weak]
    for i, sc in enumerate(scans):
        for name, calls, g, objects, weak in (sc.fields if sc is not None else ()):
            if not page_names.isdisjoint(objects):
                needed[i].add(name)
                (gdefs if g else ldefs[i]).add(name)
                gcalled.update(calls)
                lcalled[i].update(calls)
            elif weak:
                todo.append((i, name, set(calls), g))
    for _ in range(rounds):
        taken = [w for w in todo
                 if (w[1] in (gcalled if w[3] else lcalled[w[0]]))
                 or not gdefs.isdisjoint(w[2]) or not ldefs[w[0]].isdisjoint(w[2])]
        if not taken:
            break
        for i, name, calls, g in taken:  # a round's additions count from the next round on
            needed[i].add(name)
            (gdefs if g else ldefs[i]).add(name)
            gcalled |= calls
            lcalled[i] |= calls
        todo = [w for w in todo if w[1] not in needed[w[0]]]
    return needed


class Prefilter:
    def __init__(self, terms: Terms):
        self.terms = terms
        self._calls = frozenset(w.encode() for w in terms.calls)
        self._fields = frozenset(w.encode() for w in terms.fields)
        self._types = frozenset(w.encode() for w in terms.types)
        self._words = self._calls | self._fields
        # what words_in() looks for: a type counts only with the word `struct`
        self._vocabulary = self._words | self._types | {b"struct"}
        self._weak = frozenset(w.encode() for w in terms.weak)
        self._page_fields = frozenset(w.encode() for w in terms.page_fields)
        self._type_re = (re.compile(rb"struct\s+(?:" + b"|".join(re.escape(t) for t in sorted(self._types))
                                    + rb")(?![A-Za-z0-9_])") if self._types else None)

    def words_in(self, data: bytes) -> set[bytes]:
        """The model's words that occur in `data` as whole identifiers (a superset of hits)."""
        # intersection() with a list probes each token in our small set; building a
        # set of the file's ~100,000 tokens first cost a third more on a whole tree
        seen = self._vocabulary.intersection(data.translate(_TO_TOKENS).split())
        if not seen:
            return set()
        found = set(seen & self._words)
        if b"struct" in seen and not seen.isdisjoint(self._types):
            found.add(b"struct")
        return found

    def plan(self, data: bytes, needed: frozenset[str] | set[str] | None = None) -> Plan | None:
        """The parts of `data` worth parsing, or None when nothing in it can matter.

        `needed`: None keeps every item with a hit.  Otherwise an item whose
        hits are all weak words (`Terms.weak`: kmalloc family, kfree) or struct
        page fields of a named object (`dev->index`) is kept only when it
        defines a function named in `needed` (or its name cannot be read): the
        tree-wide phase learns those names from `scan()` (needed_weak).
        """
        located = self._located_hits(data)
        if located is None:
            return None
        hits, weak_hits, field_objs, chunks, starts = located
        parts = []
        for i, (hs, strong) in _by_chunk(hits, weak_hits, field_objs, starts).items():
            name = None if strong or needed is None else function_name(data, *chunks[i])
            parts.append((*chunks[i], tuple(hs), name))
        return plan_for(parts, _struct_ranges(data, chunks, starts), needed)

    def scan(self, data: bytes, header: bool = False) -> Scan | None:
        """First pass (no parsing): the file's functions with strong hits and the
        calls they make, and its weak-only functions with theirs.  None: nothing
        in the file can matter.  `header`: a .h file (its statics are seen
        from every file that includes it)."""
        located = self._located_hits(data)
        if located is None:
            return None
        hits, weak_hits, field_objs, chunks, starts = located
        model_words = self.terms.calls
        strong_names: set[tuple[str, bool]] = set()
        strong_calls: set[str] = set()
        weak: list[tuple[str, tuple[str, ...], bool]] = []
        fields: list[tuple[str, tuple[str, ...], bool, tuple[str, ...], bool]] = []
        parts: list[tuple[int, int, tuple[int, ...], str | None]] = []
        for i, (hs, is_strong) in _by_chunk(hits, weak_hits, field_objs, starts).items():
            s, e = chunks[i]
            got = _function_name_at(data, s, e)
            parts.append((s, e, tuple(hs), None if is_strong or got is None else got[0]))
            has_weak = any(h in weak_hits for h in hs)
            objects = {field_objs[h] for h in hs if h in field_objs}
            if got is not None and got[0] in model_words:
                got = None  # the model says what kmalloc() or virt_to_page() does, not their bodies
            calls = {c.decode("latin-1") for c in set(_CALL_RE.findall(data, s, e))} - model_words
            seen_outside = got is not None and (header or not _is_static(data, s, got[1]))
            if is_strong:
                if got is not None:
                    strong_names.add((got[0], seen_outside))
                strong_calls |= calls
            elif got is not None:
                calls.discard(got[0])
                if objects:
                    fields.append((got[0], tuple(sorted(calls)), seen_outside, tuple(sorted(objects)), has_weak))
                else:
                    weak.append((got[0], tuple(sorted(calls)), seen_outside))
        return Scan(tuple(sorted(strong_names)), tuple(sorted(strong_calls)), tuple(weak), tuple(fields),
                    page_names(data) if b"struct" in data else (), tuple(parts),
                    _struct_ranges(data, chunks, starts))

    def _located_hits(self, data: bytes):
        """(hits, weak hits, page-field hits with their objects, top-level chunks,
        chunk starts), or None when the file holds no evidence word: what plan()
        and scan() both start from."""
        found = self.words_in(data)
        if not found:
            return None
        hits, weak_hits, field_objs = self._hits(data, found)
        if not hits:
            return None
        chunks = top_level_chunks(data)
        return hits, weak_hits, field_objs, chunks, [s for s, _e in chunks]

    def _hits(self, data: bytes, found: set[bytes]) -> tuple[list[int], set[int], dict[int, str]]:
        """Sorted offsets of evidence words; those of them that are weak words;
        and those that are struct page fields of a named object, with the name
        (`rx->pg->index`: "pg").  A page field whose object is a call or in
        parentheses is a plain hit; one with no object (`{ .index = 1 }`, a
        designated initializer) is none."""
        hits: list[int] = []
        weak_hits: set[int] = set()
        field_objs: dict[int, str] = {}
        find = data.find
        n = len(data)
        for w in found:
            if w == b"struct":
                continue
            is_field = w in self._fields
            is_call = w in self._calls
            is_weak = w in self._weak
            is_page_field = w in self._page_fields and not is_call
            i = find(w)
            while i != -1:
                end = i + len(w)
                if (i == 0 or data[i - 1] not in _IDENT) and (end == n or data[end] not in _IDENT):
                    if is_call or (is_field and _after_member_op(data, i)):
                        if is_page_field:
                            obj = _member_object(data, i)
                            if obj == "":
                                i = find(w, end)
                                continue
                            if obj is not None:
                                field_objs[i] = obj
                        hits.append(i)
                        if is_weak:
                            weak_hits.add(i)
                i = find(w, end)
        if b"struct" in found and self._type_re is not None:
            for m in self._type_re.finditer(data):
                if m.start() == 0 or data[m.start() - 1] not in _IDENT:
                    hits.append(m.start())
        hits.sort()
        return hits, weak_hits, field_objs


def plan_for(parts, structs, needed: frozenset[str] | set[str] | None) -> Plan | None:
    """The plan from a file's items with hits (`Scan.parts`) and struct ranges:
    every item, or with `needed`, the unconditional ones (name None) and the
    conditional ones it names.  None when no item is left."""
    chosen = [p for p in parts if needed is None or p[3] is None or p[3] in needed]
    if not chosen:
        return None
    keep = [(s, e) for s, e, _h, _n in chosen]
    keep.extend(structs)
    return Plan(merge_ranges(keep), tuple(sorted(h for p in chosen for h in p[2])))


def _by_chunk(hits, weak_hits, field_objs, starts) -> dict[int, tuple[list[int], bool]]:
    """Hits grouped by top-level item, and whether the item has an unconditional one."""
    out: dict[int, list] = {}
    for h in hits:
        i = bisect.bisect_right(starts, h) - 1
        got = out.get(i)
        if got is None:
            got = out[i] = [[], False]
        got[0].append(h)
        if h not in weak_hits and h not in field_objs:
            got[1] = True
    return {i: (hs, strong) for i, (hs, strong) in out.items()}


def _struct_ranges(data: bytes, chunks, starts) -> tuple[tuple[int, int], ...]:
    """Each struct/union definition, from its first line to the end of its item."""
    out = []
    for m in _STRUCT_RE.finditer(data):
        i = bisect.bisect_right(starts, m.start() + 1) - 1
        out.append((m.start() + 1, chunks[i][1]))
    return tuple(out)


_CALL_RE = re.compile(rb"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*)[ \t]*\(")
_NAME_BEFORE_RE = re.compile(rb"([A-Za-z_][A-Za-z0-9_]*)[ \t\r\n]*$")


def function_name(data: bytes, start: int, end: int) -> str | None:
    got = _function_name_at(data, start, end)
    return None if got is None else got[0]


_DECL_START_RE = re.compile(rb"(?:;|\}|\*/|\n#[^\n]*)")
_STATIC_RE = re.compile(rb"(?<![A-Za-z0-9_])static(?![A-Za-z0-9_])")


def _is_static(data: bytes, start: int, name_pos: int) -> bool:
    """Is `static` among the declaration specifiers before the name at `name_pos`?"""
    lo = max(start, name_pos - 300)
    last = lo
    for m in _DECL_START_RE.finditer(data, lo, name_pos):
        last = m.end()
    return _STATIC_RE.search(data, last, name_pos) is not None


def _function_name_at(data: bytes, start: int, end: int) -> tuple[str, int] | None:
    """The name of the function a top-level chunk defines, read in bytes.

    Kernel style opens a function body with `{` in column 0; the name is the
    identifier before the parameter list that precedes it, skipping trailing
    annotations with arguments (`__acquires(x)`).  None when the chunk does not
    look like that (a macro-made definition, a struct): callers keep such
    chunks, the safe side.
    """
    brace = data.find(b"\n{", start, end)
    if brace == -1:
        return None
    j = brace
    for _ in range(4):  # `f(args) __acquires(a) __releases(b)`
        while j > start and data[j - 1] in _SPACE:
            j -= 1
        if j <= start or data[j - 1] != 0x29:  # ")"
            return None
        depth = 0
        k = j - 1
        while k >= start:
            c = data[k]
            if c == 0x29:
                depth += 1
            elif c == 0x28:
                depth -= 1
                if depth == 0:
                    break
            k -= 1
        if k < start:
            return None
        m = _NAME_BEFORE_RE.search(data, max(start, k - 200), k)
        if m is None:
            return None
        name = m.group(1)
        if not name.startswith(b"__"):
            return name.decode("latin-1"), m.start()
        j = m.start()
    return None


def _after_member_op(data: bytes, i: int) -> bool:
    """Is the word at `i` a member name: `x->word`, `x.word`, `x -> word`?"""
    j = i - 1
    while j >= 0 and data[j] in _SPACE:
        j -= 1
    if j < 0:
        return False
    c = data[j]
    return c == 0x2E or (c == 0x3E and j > 0 and data[j - 1] == 0x2D)  # "." or "->"


def _member_object(data: bytes, i: int) -> str | None:
    """The name of the object whose member starts at `i`: "pg" for `rx->pg->index`,
    "pages" for `pages[i]->index`.  None when it is not a plain name (a call, a
    parenthesised or cast expression, anything unexpected): the caller keeps
    those.  "" when there is no object: `{ .index = 1 }`, `, .index = 1`."""
    j = i - 1
    while j >= 0 and data[j] in _SPACE:
        j -= 1
    j -= 1 if data[j] == 0x2E else 2  # "." or "->"
    while j >= 0 and data[j] in _SPACE:
        j -= 1
    if j < 0:
        return None
    c = data[j]
    if c in b"{,":
        return ""
    if c == 0x5D:  # "]": the array's name
        depth = 0
        lo = max(0, j - 200)
        while j >= lo:
            if data[j] == 0x5D:
                depth += 1
            elif data[j] == 0x5B:
                depth -= 1
                if depth == 0:
                    break
            j -= 1
        j -= 1
        while j >= 0 and data[j] in _SPACE:
            j -= 1
        if j < 0:
            return None
    if data[j] not in _IDENT:
        return None
    end = j + 1
    while j >= 0 and data[j] in _IDENT:
        j -= 1
    return data[j + 1:end].decode("latin-1")


# `struct page *a, *b`, `struct page **pages`, `struct page *pages[16]`, a parameter
# `struct page *page __maybe_unused`: the text after the type, up to the end of the
# declaration (or the parameter, or a function declarator's parenthesis)
_PAGE_DECL_RE = re.compile(rb"struct\s+page(?![A-Za-z0-9_])\s*([^;{}=()]{0,200})")
_DECL_NAME_RE = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_MORE_DECLARATOR_RE = re.compile(rb"\s*(?:\*\s*(?:const\s+)?)*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[[^\]]*\]\s*)*")
_QUALIFIERS = frozenset((b"const", b"volatile", b"restrict"))


def page_names(data: bytes) -> tuple[str, ...]:
    """Names `data` declares with type `struct page` (pointer, array or not).

    On the safe side: every identifier of the first declarator counts (an
    annotation like __rcu too); a later one (after a comma) only if it is a
    declarator alone, so a parameter list's `, struct foo *dp` does not."""
    out: set[bytes] = set()
    for m in _PAGE_DECL_RE.finditer(data):
        parts = m.group(1).split(b",")
        out.update(w for w in _DECL_NAME_RE.findall(parts[0]) if w not in _QUALIFIERS)
        for part in parts[1:]:
            d = _MORE_DECLARATOR_RE.fullmatch(part)
            if d is None:
                break
            out.add(d.group(1))
    return tuple(sorted(w.decode("latin-1") for w in out))


def top_level_chunks(data: bytes) -> list[tuple[int, int]]:
    """Split a file into top-level items: each chunk ends after a line starting with `}`.

    A chunk's braces must balance; if they do not (a column-0 `}` inside a
    function, `#if` arms with a brace each), it grows over the next ones until
    they do, so no function is ever split.  The chunks cover the whole file.
    """
    chunks: list[tuple[int, int]] = []
    n = len(data)
    start = 0
    find = data.find
    count = data.count
    pos = 0 if data.startswith(b"}") else find(b"\n}")
    while pos != -1:
        eol = find(b"\n", pos + 1)
        end = n if eol == -1 else eol + 1
        if count(b"{", start, end) <= count(b"}", start, end):
            chunks.append((start, end))
            start = end
        if end >= n:
            break
        pos = find(b"\n}", end - 1)
    if start < n:
        chunks.append((start, n))
    return chunks


def merge_ranges(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Byte ranges sorted, with overlapping or touching ones joined."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return tuple(out)


def masked_source(data: bytes, keep: tuple[tuple[int, int], ...]) -> bytes:
    """`data` with everything outside `parsed_ranges(data, keep)` blanked: what the
    parser sees of a planned file, as one text (tests compare the two parses).

    Same length, same newlines: every offset still points at the same byte.
    """
    if not keep:
        return data.translate(_TO_BLANK)
    parts: list[bytes] = []
    pos = 0
    for s, e in parsed_ranges(data, keep):
        if s > pos:
            parts.append(data[pos:s].translate(_TO_BLANK))
        parts.append(data[s:e])
        pos = e
    if pos < len(data):
        parts.append(data[pos:].translate(_TO_BLANK))
    return b"".join(parts)


def parsed_ranges(data: bytes, keep: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """What the parser reads of a planned file: the `keep` items, and outside them
    the preprocessor conditionals (with their newline, which ends a directive),
    so that `#if`/`#endif` still pair up.  Sorted and disjoint."""
    out: list[tuple[int, int]] = []
    pos = 0
    n = len(data)
    for s, e in (*keep, (n, n)):
        if s > pos:
            # a conditional line starts after a newline; start one byte early to see it
            for m in _COND_RE.finditer(data, max(pos - 1, 0), s):
                cs = m.start() + 1
                if cs < pos:
                    continue
                out.append((cs, min(m.end() + 1, s)))
        if e > s:
            e = _logical_line_end(data, e)
            out.append((s, e))
        pos = max(pos, e)
    return merge_ranges(out)


def _logical_line_end(data: bytes, end: int) -> int:
    """`end`, or past the continuation lines if `end` follows a backslash-newline.

    An item can end inside a multi-line `#define` (a column-0 `}` in a macro
    body); the parser must see the macro end before whatever is read next."""
    n = len(data)
    while end < n and (data.endswith(b"\\\n", 0, end) or data.endswith(b"\\\r\n", 0, end)):
        nl = data.find(b"\n", end)
        end = n if nl == -1 else nl + 1
    return end
