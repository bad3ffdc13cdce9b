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
boundaries, and only the *top-level items* holding one are parsed.  Everything
else is blanked to spaces (newlines kept), so byte offsets, lines and columns
are exactly those of the real file and facts do not change.  About 7% of the
bytes of a tree survive.

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
_STRUCT_RE = re.compile(rb"\n(?:[A-Za-z_]\w*[ \t]+)*(?:struct|union)[ \t]+[^;{}()=\n]*\n?[ \t]*\{")
_SPACE = b" \t\r\n\f\v"


@dataclass(frozen=True)
class Terms:
    """The words evidence can come from, split by how they must appear."""

    calls: frozenset[str]  # identifiers that matter wherever they stand
    fields: frozenset[str]  # member names that matter after `->` or `.`
    types: frozenset[str]  # struct tags whose `struct TAG` matters ("page")

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
        return cls(frozenset(calls), frozenset(fields), frozenset(types))

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for group in (self.calls, self.fields, self.types):
            h.update(b"\0".join(sorted(w.encode() for w in group)) + b"\1")
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Plan:
    """What to parse in one file.

    `keep`: sorted, disjoint byte ranges to parse (everything else is blanked).
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


class Prefilter:
    def __init__(self, terms: Terms):
        self.terms = terms
        self._calls = frozenset(w.encode() for w in terms.calls)
        self._fields = frozenset(w.encode() for w in terms.fields)
        self._types = frozenset(w.encode() for w in terms.types)
        self._words = self._calls | self._fields
        self._type_re = (re.compile(rb"struct\s+(?:" + b"|".join(re.escape(t) for t in sorted(self._types))
                                    + rb")(?![A-Za-z0-9_])") if self._types else None)

    def words_in(self, data: bytes) -> set[bytes]:
        """The model's words that occur in `data` as whole identifiers (a superset of hits)."""
        tokens = set(data.translate(_TO_TOKENS).split())
        found = set(self._words & tokens)
        if self._types & tokens and b"struct" in tokens:
            found.add(b"struct")
        return found

    def plan(self, data: bytes) -> Plan | None:
        """The parts of `data` worth parsing, or None when nothing in it can matter."""
        found = self.words_in(data)
        if not found:
            return None
        hits = self._hits(data, found)
        if not hits:
            return None
        chunks = top_level_chunks(data)
        starts = [s for s, _e in chunks]
        chosen = sorted({bisect.bisect_right(starts, h) - 1 for h in hits})
        keep = [chunks[i] for i in chosen]
        for m in _STRUCT_RE.finditer(data):
            i = bisect.bisect_right(starts, m.start() + 1) - 1
            keep.append((m.start() + 1, chunks[i][1]))
        return Plan(_merge(keep), tuple(hits))

    def _hits(self, data: bytes, found: set[bytes]) -> list[int]:
        hits: list[int] = []
        find = data.find
        n = len(data)
        for w in found:
            if w == b"struct":
                continue
            is_field = w in self._fields
            is_call = w in self._calls
            i = find(w)
            while i != -1:
                end = i + len(w)
                if (i == 0 or data[i - 1] not in _IDENT) and (end == n or data[end] not in _IDENT):
                    if is_call or (is_field and _after_member_op(data, i)):
                        hits.append(i)
                i = find(w, end)
        if b"struct" in found and self._type_re is not None:
            for m in self._type_re.finditer(data):
                if m.start() == 0 or data[m.start() - 1] not in _IDENT:
                    hits.append(m.start())
        hits.sort()
        return hits


def _after_member_op(data: bytes, i: int) -> bool:
    """Is the word at `i` a member name: `x->word`, `x.word`, `x -> word`?"""
    j = i - 1
    while j >= 0 and data[j] in _SPACE:
        j -= 1
    if j < 0:
        return False
    c = data[j]
    return c == 0x2E or (c == 0x3E and j > 0 and data[j - 1] == 0x2D)  # "." or "->"


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


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return tuple(out)


def masked_source(data: bytes, keep: tuple[tuple[int, int], ...]) -> bytes:
    """`data` with everything outside `keep` blanked, except preprocessor conditionals.

    Same length, same newlines: every offset still points at the same byte.
    """
    if not keep:
        return data.translate(_TO_BLANK)
    parts: list[bytes] = []
    pos = 0
    for s, e in keep:
        if s > pos:
            parts.append(_blank_keeping_conditionals(data, pos, s))
        parts.append(data[s:e])
        pos = e
    if pos < len(data):
        parts.append(_blank_keeping_conditionals(data, pos, len(data)))
    return b"".join(parts)


def _blank_keeping_conditionals(data: bytes, start: int, end: int) -> bytes:
    parts: list[bytes] = []
    pos = start
    # a conditional line starts after a newline; start one byte early to see it
    for m in _COND_RE.finditer(data, max(start - 1, 0), end):
        s = m.start() + 1
        if s < pos:
            continue
        e = min(m.end(), end)
        parts.append(data[pos:s].translate(_TO_BLANK))
        parts.append(data[s:e])
        pos = e
    parts.append(data[pos:end].translate(_TO_BLANK))
    return b"".join(parts)

