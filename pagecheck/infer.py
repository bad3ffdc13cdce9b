"""Stage 4 — roles: infer the role of every page and address value, with evidence.

Within a function, values are joined by copies (`p = rx->page`) into classes
(union-find).  A plain local is versioned at each assignment, so a variable
reused for two different pages is two values, not one conflict.  Each class
collects evidence — where it came from (source, conversion), which role-only
fields and helpers touch it — and the operations applied to it that need a
capability (mapping to userspace, plain refcounting, linear translation ...).

Role tests narrow like isinstance: every piece of evidence and every operation
remembers the tests that are known to hold where it sits (`ctx`), so the rule
engine can tell `if (PageSlab(p)) {slab} else {folio}` from a real mix.
"""

from __future__ import annotations

import bisect
import os
import re
from fnmatch import fnmatch
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Callable

from .facts import Call, FileFacts, Function, Loc, TypeRef, Val
from .model import RoleModel

IDENTITY_KINDS = ("source", "derived", "call")  # evidence of what a value *is*


@dataclass(frozen=True)
class Step:
    """One link of an evidence chain, for humans and SARIF relatedLocations."""

    path: str
    line: int
    col: int
    message: str


@dataclass(frozen=True)
class Evidence:
    role: str
    kind: str  # source | derived | field | helper | call
    name: str  # the API, field or callee
    strength: str  # strong | weak
    path: str
    line: int
    col: int
    pos: int
    value: str  # how the value is spelled there
    write: bool = False
    ctx: tuple[tuple[str, bool], ...] = ()
    chain: tuple[Step, ...] = ()  # earlier steps (provenance through conversions / calls)
    origin: str = ""  # "virt_to_page() at line 15 of kmalloc() at line 14"
    # byte offset of the call whose summary (or the struct member whose stores)
    # produced this evidence; -1 when seen directly.  Two pieces of evidence from
    # one site were already judged where they sit, so they never conflict here.
    site: int = -1

    def describe(self) -> str:
        """Where the role comes from, in a few words, for finding messages."""
        if self.origin:
            return self.origin
        if self.kind == "source":
            return f"{self.name}() at line {self.line}"
        if self.kind == "field":
            return f"{'writes' if self.write else 'reads'} `{self.value}->{self.name}` at line {self.line}"
        if self.kind == "helper":
            return f"passed to {self.name}() at line {self.line}"
        return f"{self.name} at line {self.line}"

    def step(self, titles: dict[str, str] | None = None) -> Step:
        t = (titles or {}).get(self.role, self.role)
        if self.origin and self.kind != "derived":  # learned from a callee or a struct member
            what = {"field": " field", "helper": " helper"}.get(self.kind, "")
            verb = "comes from " if self.kind in IDENTITY_KINDS else ""
            return Step(self.path, self.line, self.col, f"`{self.value}` {verb}{self.origin} — a {t}{what}")
        msgs = {
            "source": f"`{self.value}` comes from {self.name}() — a {t}",
            "derived": f"{self.name}(`{self.value}`) — a {t}",
            "field": f"{'writes' if self.write else 'reads'} `{self.value}->{self.name}` — a {t} field",
            "helper": f"`{self.value}` passed to {self.name}() — a {t} helper",
            "call": f"`{self.value}` {self.name} — a {t}",
        }
        return Step(self.path, self.line, self.col, msgs.get(self.kind, self.name))


@dataclass(frozen=True)
class OpUse:
    op: str
    needs: str
    path: str
    line: int
    col: int
    pos: int
    value: str
    ctx: tuple[tuple[str, bool], ...] = ()
    site: int = -1  # as Evidence.site: the call whose summary says the op happens inside it
    chain: tuple[Step, ...] = ()  # the steps inside the callee(s), in order
    via: str = ""  # "rx_put() at line 80" — where the op happens, seen from here


def op_steps(o: OpUse) -> tuple[Step, ...]:
    """The steps of an operation: where it is called, then (if inside a callee) where it happens."""
    if o.site >= 0:
        return (Step(o.path, o.line, o.col, f"`{o.value}` passed to {o.via}, which calls {o.op}()"),) + o.chain
    what = f"`{o.op} {o.value}`" if o.op.endswith("=") else f"`{o.value}` passed to {o.op}()"
    return (Step(o.path, o.line, o.col, what),)


def owner_match(path: str, globs) -> bool:
    """Is `path` one of a role's owners (rules/roles/*.toml `owners` globs)?"""
    p = path.replace("\\", "/")
    return any(fnmatch(p, g) or fnmatch(p, "*/" + g) for g in globs)


def evidence_steps(e: Evidence, titles: dict[str, str] | None = None) -> tuple[Step, ...]:
    """The evidence's steps in the order they happen.

    Provenance (a source, a conversion) happens before its last step; a use
    learned from a callee's summary happens at the call, then inside the callee.
    """
    if e.site >= 0 and e.kind not in IDENTITY_KINDS:
        return (e.step(titles),) + e.chain
    return e.chain + (e.step(titles),)


@dataclass(frozen=True)
class FieldAccess:
    field: str
    write: bool
    path: str
    line: int
    col: int
    value: str
    value_roles: tuple[str, ...]  # identity roles known for the value (may be empty)


@dataclass
class ValueClass:
    """All we know about one value (one union-find class) in one function."""

    function: str
    path: str
    display: str
    keys: set[str] = field(default_factory=set)
    evidence: list[Evidence] = field(default_factory=list)
    ops: list[OpUse] = field(default_factory=list)
    tested: set[str] = field(default_factory=set)  # names of role tests applied to it
    # (role, position): a call that hands the value out of that role, e.g.
    # page_pool_release_page() — afterwards it is a plain page again
    released: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class FunctionRoles:
    function: Function
    path: str
    values: list[ValueClass]
    fields: list[FieldAccess]
    # what the tree-wide phase (pagecheck/summaries.py) reads back:
    params: dict[int, ValueClass] = field(default_factory=dict)  # parameter index -> its incoming value
    returns: list[ValueClass] = field(default_factory=list)  # values of `return x;`
    stores: list[tuple[str, ValueClass, Loc]] = field(default_factory=list)  # member key, value stored, where
    escapes: set[str] = field(default_factory=set)  # members a call may store into (`&b->page`, a page array)

    def exclusive(self, p: int, q: int) -> bool:
        """True when positions p and q sit in opposite arms of one if/else or ?:."""
        for b in self.function.branches:
            if (b.then_start <= p < b.then_end and b.else_start <= q < b.else_end) or \
                    (b.else_start <= p < b.else_end and b.then_start <= q < b.then_end):
                return True
        return False


@dataclass(frozen=True)
class Region:
    role: str
    positive: bool
    start: int
    end: int


class _UF:
    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, x):
        parent = self.parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb


@dataclass
class TypeEnv:
    """Struct member types tree-wide and function return types."""

    structs: dict[str, dict[str, TypeRef]] = field(default_factory=dict)
    returns_page: set[str] = field(default_factory=set)
    struct_files: dict[str, list[str]] = field(default_factory=dict)  # struct name -> files defining it
    # Filled by the tree-wide phase (pagecheck/summaries.py); empty for a lone file.
    # summary_of(callee, calling file) -> summaries.Summary | None
    summary_of: Callable[[str, str], Any] | None = None
    members: dict[str, Any] = field(default_factory=dict)  # member key -> summaries.MemberValue

    @classmethod
    def build(cls, all_facts: list[FileFacts]) -> "TypeEnv":
        env = cls()
        for ff in all_facts:
            for s in ff.structs:
                files = env.struct_files.setdefault(s.name, [])
                if ff.path not in files:
                    files.append(ff.path)
                members = env.structs.setdefault(s.name, {})
                for m, t in s.members:
                    members.setdefault(m, t)
            for fn in ff.functions:
                if fn.ret.is_page_ptr:
                    env.returns_page.add(fn.name)
        return env

    def struct_home(self, name: str, from_path: str) -> str | None:
        """The file whose `struct name` code in `from_path` sees, or None if we cannot tell.

        Struct names are not unique across the tree (many drivers have a
        `struct rx_buf`), so a tree-wide member value is keyed by where its
        struct is defined: the file itself, else a header beside it, else the
        one definition there is.
        """
        files = self.struct_files.get(name)
        if not files:
            return None
        if from_path in files:
            return from_path
        if len(files) == 1:
            return files[0]
        here = os.path.dirname(from_path)
        near = [f for f in files if os.path.dirname(f) == here]
        return near[0] if len(near) == 1 else None


def _member_type(env: TypeEnv, t: TypeRef, path: tuple[str, ...]) -> TypeRef | None:
    for p in path:
        if p == "[]":
            if t.ptr < 1:
                return None
            t = TypeRef(t.base, t.ptr - 1)
            continue
        if not t.base.startswith("struct "):
            return None
        members = env.structs.get(t.base[7:])
        if not members or p not in members:
            return None
        t = members[p]
    return t


class FunctionAnalysis:
    """Infers roles for the values of one function."""

    def __init__(self, model: RoleModel, env: TypeEnv, path: str, fn: Function):
        self.model = model
        self.env = env
        self.path = path
        self.fn = fn
        self.decls: dict[str, TypeRef] = {}
        for name, t in fn.params:
            if name:
                self.decls[name] = t
        for name, t in fn.locals:
            self.decls.setdefault(name, t)
        self.calls_at: dict[str, Call] = {c.result: c for c in fn.calls}
        # versioning: every assignment to a spelled value (`p`, `cb->priv`) starts a
        # new value, so one variable reused for two pages is two values
        defs: dict[str, list[tuple[int, int]]] = {}
        for cp in fn.copies:
            if cp.dst.root is not None:
                defs.setdefault(cp.dst.key, []).append((cp.end, cp.loc.pos))
        self.defs = {k: sorted(v) for k, v in defs.items()}
        self.def_ends = {k: [e for e, _s in v] for k, v in self.defs.items()}
        self.uf = _UF()
        self.regions: dict[str, list[Region]] = {}
        self.region_names: dict[str, set[str]] = {}

    # -- values ------------------------------------------------------------------
    def node(self, v: Val, pos: int):
        if v.root is None:
            return (v.key, 0)
        ends = self.def_ends.get(v.key)
        if not ends:
            return (v.key, 0)
        i = bisect.bisect_right(ends, pos)
        if i and self._is_phi(v.key, i - 1, pos):
            return (v.key, ("phi", i))
        return (v.key, i)

    def _is_phi(self, key: str, j: int, pos: int) -> bool:
        """Is the use at `pos` reached by defs from both arms of one if/else?

        Then the value there is one of two, and we claim neither (a join, as in SSA).
        """
        if j == 0:
            return False  # the first definition: no earlier one to join with
        defs = self.defs[key]
        d_start = defs[j][1]
        for b in self.fn.branches:
            for a0, a1, o0, o1 in ((b.then_start, b.then_end, b.else_start, b.else_end),
                                   (b.else_start, b.else_end, b.then_start, b.then_end)):
                if a0 <= d_start < a1 and not (a0 <= pos < a1):
                    if any(o0 <= s < o1 for _e, s in defs[:j]):
                        return True
        # `x = kzalloc(); if (!x) x = page_address(spare);`: after an else-less if,
        # the value is the one from before it or the one from inside it
        for a0, a1 in self.fn.cond_arms:
            if a0 <= d_start < a1 and not (a0 <= pos < a1) and any(s < a0 for _e, s in defs[:j]):
                return True
        return False

    def type_of(self, v: Val) -> TypeRef | None:
        if v.root is None:
            call = self.calls_at.get(v.key.split("-")[0].split(".")[0].split("[")[0])
            if call is None:
                return None
            if not v.path and self.returns_page(call.callee):
                return TypeRef("struct page", 1)
            return None
        t = self.decls.get(v.root)
        if t is None:
            return None
        if not v.path:
            return t
        return _member_type(self.env, t, v.path)

    def returns_page(self, callee: str) -> bool:
        m = self.model
        cv = m.converters.get(callee)
        if cv is not None:
            return cv.dst == "page"
        r = m.source_role.get(callee)
        if r is not None:
            return m.roles[r].kind == "page"
        return callee in self.env.returns_page

    def is_page(self, v: Val) -> bool:
        if v.root is None and v.path:
            # virt_to_page(x)->field: the object is the call result
            return False
        t = self.type_of(v)
        return t is not None and t.is_page_ptr

    def is_page_or_array(self, v: Val) -> bool:
        t = self.type_of(v)
        return t is not None and t.base == "struct page" and t.ptr >= 1

    # -- narrowing ----------------------------------------------------------------
    def _collect_regions(self) -> None:
        m = self.model
        for t in self.fn.tests:
            hit = m.predicate_role.get(t.name)
            if hit is not None:
                role, positive = hit[0], t.positive
            elif t.name in m.negative_predicates:
                role, positive = m.negative_predicates[t.name], not t.positive
            else:
                continue
            self.regions.setdefault(t.arg.key, []).append(Region(role, positive, t.start, t.end))
            self.region_names.setdefault(t.arg.key, set()).add(t.name)

    def ctx(self, keys, pos: int) -> tuple[tuple[str, bool], ...]:
        out = []
        for k in keys:
            for r in self.regions.get(k, ()):
                if r.start <= pos < r.end:
                    out.append((r.role, r.positive))
        return tuple(sorted(set(out)))

    # -- the analysis ---------------------------------------------------------------
    def run(self) -> FunctionRoles:
        m = self.model
        fn = self.fn
        path = self.path
        uf = self.uf
        self._collect_regions()
        evidence: list[tuple[object, Evidence]] = []
        releases: list[tuple[object, str, int]] = []
        ops: list[tuple[object, OpUse]] = []
        derives: list[tuple[object, object, str, str, str, int, int, int, str]] = []
        display: dict[object, str] = {}
        keys_of: dict[object, set[str]] = {}
        first_seen: dict[object, tuple[Val, Loc]] = {}  # node -> how and where it first appears

        def note(nd, v: Val, loc: Loc | None = None) -> None:
            if not v.key.startswith("@"):
                display.setdefault(nd, v.key)
            keys_of.setdefault(nd, set()).add(v.key)
            if loc is not None and (nd not in first_seen or loc.pos < first_seen[nd][1].pos):
                first_seen[nd] = (v, loc)

        def show(v: Val, call_text: str | None = None) -> str:
            if v.key.startswith("@"):
                c = self.calls_at.get(v.key)
                return f"{c.callee}({', '.join(c.arg_text)})" if c else "(call)"
            return v.key

        member_stores: list[tuple[str, object, Loc]] = []
        for c in fn.calls:
            rnode = (c.result, 0)
            rval = Val(c.result, None)
            note(rnode, rval)
            role = m.source_role.get(c.callee)
            if role is not None:
                evidence.append((rnode, Evidence(role, "source", c.callee, "strong", path, c.loc.line,
                                                 c.loc.col, c.loc.pos, show(rval))))
            cv = m.converters.get(c.callee)
            if cv is not None and cv.arg < len(c.args) and c.args[cv.arg] is not None:
                a = c.args[cv.arg]
                anode = self.node(a, c.loc.pos)
                note(anode, a, c.loc)
                derives.append((rnode, anode, cv.name, cv.src, cv.dst, c.loc.line, c.loc.col, c.loc.pos, a.key))
                if cv.needs:
                    ops.append((anode, OpUse(c.callee, cv.needs, path, c.loc.line, c.loc.col, c.loc.pos, show(a))))
            op = m.operations.get(c.callee)
            if op is not None and op.arg < len(c.args) and c.args[op.arg] is not None:
                a = c.args[op.arg]
                if op.elements:
                    # vm_insert_pages(vma, addr, pages, &n) maps pages[i], not the array
                    a = Val(a.key + "[]", a.root, a.path + ("[]",)) if a.root is not None else None
            if op is not None and op.arg < len(c.args) and c.args[op.arg] is not None and a is not None:
                anode = self.node(a, c.loc.pos)
                note(anode, a, c.loc)
                ops.append((anode, OpUse(c.callee, op.needs, path, c.loc.line, c.loc.col, c.loc.pos, show(a))))
            for hrole, idx in m.helper_roles.get(c.callee, ()):
                if idx < len(c.args) and c.args[idx] is not None:
                    a = c.args[idx]
                    r = m.roles[hrole]
                    if r.kind == "page" and not (self.is_page(a) or a.key.startswith("@")):
                        continue
                    anode = self.node(a, c.loc.pos)
                    note(anode, a, c.loc)
                    evidence.append((anode, Evidence(hrole, "helper", c.callee, "strong", path, c.loc.line,
                                                     c.loc.col, c.loc.pos, show(a))))
                    if c.callee in r.releases:
                        releases.append((anode, hrole, c.loc.pos))
            summary = self.summary(c.callee)
            if summary is not None:
                self._apply_summary(summary, c, rnode, note, show, evidence, ops)

        for cp in fn.copies:
            dnode = self.node(cp.dst, cp.end)
            snode = self.node(cp.src, cp.loc.pos)
            note(dnode, cp.dst, cp.loc)
            note(snode, cp.src, cp.loc)
            uf.union(dnode, snode)
            mkey = self.member_key(cp.dst)
            if mkey is not None:
                member_stores.append((mkey, dnode, cp.loc))
            if cp.dst.path and cp.dst.root is not None:
                t = self.decls.get(cp.dst.root)
                owner = _member_type(self.env, t, cp.dst.path[:-1]) if t is not None else None
                if owner is not None and owner.base.startswith("struct "):
                    sink = m.sinks.get(f"{owner.base[7:]}.{cp.dst.path[-1]}")
                    if sink is not None:
                        ops.append((snode, OpUse(f"{cp.dst.key} =", sink.needs, path, cp.loc.line, cp.loc.col,
                                                 cp.loc.pos, show(cp.src))))

        field_uses = []
        for fu in fn.fields:
            if fu.obj.key.startswith("@"):
                c = self.calls_at.get(fu.obj.key)
                if c is None or fu.obj.path or not self.returns_page(c.callee):
                    continue
            elif not self.is_page(fu.obj):
                continue
            onode = self.node(fu.obj, fu.loc.pos)
            note(onode, fu.obj, fu.loc)
            field_uses.append((onode, fu))
            for role, strength in m.field_roles.get(fu.field, ()):
                if fu.null_store and role == "folio":
                    strength = "weak"  # restoring page->mapping to NULL is handing it back, not using it
                evidence.append((onode, Evidence(role, "field", fu.field, strength, path, fu.loc.line, fu.loc.col,
                                                 fu.loc.pos, show(fu.obj), write=fu.write)))

        # group into classes
        classes: dict[object, ValueClass] = {}

        def cls(nd) -> ValueClass:
            root = uf.find(nd)
            vc = classes.get(root)
            if vc is None:
                vc = classes[root] = ValueClass(fn.name, path, display.get(nd, ""))
            if not vc.display and display.get(nd):
                vc.display = display[nd]
            vc.keys |= keys_of.get(nd, set())
            return vc

        for nd in list(keys_of):
            cls(nd)
        for nd, ev in evidence:
            cls(nd).evidence.append(ev)
        for nd, op in ops:
            cls(nd).ops.append(op)
        for nd, role, pos in releases:
            cls(nd).released.append((role, pos))
        if self.env.members:
            self._member_loads(first_seen, cls)

        # conversions: virt_to_page(kmalloc'd buf) is a slab page, page_address(pp page) a pp address
        for _ in range(3):
            changed = False
            for rnode, anode, name, src_kind, dst_kind, line, col, pos, akey in derives:
                src_cls = cls(anode)
                dst_cls = cls(rnode)
                have = {(e.role, e.name, e.line) for e in dst_cls.evidence if e.kind == "derived"}
                for e in list(src_cls.evidence):
                    if e.kind not in IDENTITY_KINDS or e.strength != "strong":
                        continue
                    role = self._convert(e.role, src_kind, dst_kind)
                    if role is None or (role, name, line) in have:
                        continue
                    ev = Evidence(role, "derived", name, "strong", path, line, col, pos, akey,
                                  chain=e.chain + (e.step(self.titles),),
                                  origin=f"{name}() at line {line} of {e.describe()}")
                    dst_cls.evidence.append(ev)
                    have.add((role, name, line))
                    changed = True
            if not changed:
                break

        # contexts (narrowing) on every evidence item and op
        values = []
        for vc in classes.values():
            if not vc.evidence and not vc.ops:
                continue
            keys = vc.keys
            vc.evidence = [self._with_ctx(e, keys) for e in vc.evidence]
            vc.ops = [replace(o, ctx=self.ctx(keys, o.pos)) for o in vc.ops]
            for k in keys:
                vc.tested |= self.region_names.get(k, set())
            values.append(vc)

        fields_out = []
        for onode, fu in field_uses:
            vc = cls(onode)
            roles = tuple(sorted({e.role for e in vc.evidence if e.kind in IDENTITY_KINDS and e.strength == "strong"}))
            fields_out.append(FieldAccess(fu.field, fu.write, path, fu.loc.line, fu.loc.col, fu.obj.key, roles))
        params = {}
        for i, (name, _t) in enumerate(fn.params):
            if name and (name, 0) in keys_of:
                params[i] = cls((name, 0))
        returns = []
        for r in fn.returns:
            nd = self.node(r.value, r.loc.pos)
            if nd in keys_of:
                returns.append(cls(nd))
        stores = [(k, cls(nd), loc) for k, nd, loc in member_stores]
        return FunctionRoles(fn, path, values, fields_out, params, returns, stores, self._escapes())

    # -- what the rest of the tree knows ------------------------------------------------
    def summary(self, callee: str):
        """The callee's summary, unless the role model already says what it does."""
        if self.env.summary_of is None:
            return None
        m = self.model
        if (callee in m.source_role or callee in m.converters or callee in m.operations
                or callee in m.helper_roles or callee in m.predicate_role):
            return None
        return self.env.summary_of(callee, self.path)

    def _apply_summary(self, s, c: Call, rnode, note, show, evidence, ops) -> None:
        """Evidence at a call from what the callee does with its arguments and returns."""
        m = self.model
        at = f"{c.callee}() at line {c.loc.line}"
        # inside a role's own code (page_pool.c making pages into page_pool pages),
        # what its helpers do with that role is the role's business, not evidence
        owned = self.owned_roles()
        for i, uses in enumerate(s.params):
            if not uses or i >= len(c.args) or c.args[i] is None:
                continue
            a = c.args[i]
            anode = self.node(a, c.loc.pos)
            note(anode, a, c.loc)
            for u in uses:
                if u.kind == "op":
                    ops.append((anode, OpUse(u.name, u.needs, self.path, c.loc.line, c.loc.col, c.loc.pos, show(a),
                                             site=c.loc.pos, chain=u.steps, via=at)))
                    continue
                if u.role in owned:
                    continue
                if m.roles[u.role].kind == "page" and not (self.is_page(a) or a.key.startswith("@")):
                    continue
                evidence.append((anode, Evidence(u.role, u.kind, u.name, "strong", self.path, c.loc.line, c.loc.col,
                                                 c.loc.pos, show(a), write=u.write, chain=u.steps,
                                                 origin=f"passed to {at}, which {u.render(self.path)}", site=c.loc.pos)))
        for r in s.returns:
            if r.role in owned:
                continue
            evidence.append((rnode, Evidence(r.role, "source", c.callee, "strong", self.path, c.loc.line, c.loc.col,
                                             c.loc.pos, show(Val(c.result, None)), chain=r.steps,
                                             origin=f"{at}, which {r.render(self.path)}", site=c.loc.pos)))

    def owned_roles(self) -> frozenset[str]:
        """The roles whose owner code this function is."""
        return _owned_roles(self.path, tuple((r.id, r.owners) for r in self.model.roles.values()))

    def member_key(self, v: Val) -> str | None:
        """`rx_buf->page` → "drivers/x/rx.h:rx_buf.page": the tree-wide value it names, if a page member."""
        if v.root is None or not v.path or not self.is_page_or_array(v):
            return None
        k = len(v.path)
        while k and v.path[k - 1] == "[]":
            k -= 1
        if k == 0:
            return None
        t = self.decls.get(v.root)
        owner = _member_type(self.env, t, v.path[:k - 1]) if t is not None else None
        if owner is None or not owner.base.startswith("struct "):
            return None
        home = self.env.struct_home(owner.base[7:], self.path)
        if home is None:
            return None
        return f"{home}:{owner.base[7:]}.{v.path[k - 1]}{'[]' * (len(v.path) - k)}"

    def _escapes(self) -> set[str]:
        """Members this function hands to a call that may store into them.

        `__readahead_batch(ractl, rdata->pages, n)` fills a page array and
        `get_buf(&b->page)` a page member: stores we do not see, so the stores
        we do see cannot speak for the member.
        """
        out: set[str] = set()
        for c in self.fn.calls:
            for a, text in zip(c.args, c.arg_text):
                if a is None and text.startswith("&"):
                    m = _ADDRESS_OF.match(text)
                    if m is None:
                        continue
                    parts = _MEMBER_SPLIT.findall(m.group(2))
                    a = Val(text, m.group(1), tuple("[]" if p.startswith("[") else p for p in parts))
                elif a is None or not a.path:
                    continue
                else:
                    t = self.type_of(a)
                    if t is None or t.ptr < 2:
                        continue  # a page passed by value: not a store
                key = self.member_key(a)
                if key is not None:
                    out.add(key)
        return out

    def _member_loads(self, first_seen, cls) -> None:
        """A member read before this function stores it holds what the tree stores there."""
        for nd, (v, loc) in first_seen.items():
            if nd[1] != 0:
                continue  # stored earlier in this function: the local store says what it is
            key = self.member_key(v)
            mv = self.env.members.get(key) if key else None
            if mv is None:
                continue
            cls(nd).evidence.append(Evidence(mv.role, "source", mv.display, "strong", self.path, loc.line, loc.col,
                                             loc.pos, v.key, chain=mv.steps, origin=mv.text))

    @property
    def titles(self) -> dict[str, str]:
        return {r.id: r.title for r in self.model.roles.values()}

    def _with_ctx(self, e: Evidence, keys) -> Evidence:
        c = self.ctx(keys, e.pos)
        if not c:
            return e
        return replace(e, ctx=c)

    def _convert(self, role: str, src_kind: str, dst_kind: str) -> str | None:
        r = self.model.roles.get(role)
        if r is None or r.kind != src_kind:
            return None
        if src_kind == dst_kind:
            return role
        if src_kind == "address":
            return r.page_role
        return r.address_role


_ADDRESS_OF = re.compile(r"^&\s*\(?\s*([A-Za-z_]\w*)((?:\s*(?:->|\.)\s*[A-Za-z_]\w*|\[[^\]]*\])+)\s*\)?$")
_MEMBER_SPLIT = re.compile(r"\[[^\]]*\]|[A-Za-z_]\w*")


@lru_cache(maxsize=4096)
def _owned_roles(path: str, owners: tuple[tuple[str, tuple[str, ...]], ...]) -> frozenset[str]:
    return frozenset(rid for rid, globs in owners if owner_match(path, globs))


def analyse(model: RoleModel, env: TypeEnv, facts: FileFacts) -> list[FunctionRoles]:
    return [FunctionAnalysis(model, env, facts.path, fn).run() for fn in facts.functions]
