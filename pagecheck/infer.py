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
from dataclasses import dataclass, field

from .facts import Call, FileFacts, Function, TypeRef, Val
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


@dataclass
class FunctionRoles:
    function: Function
    path: str
    values: list[ValueClass]
    fields: list[FieldAccess]

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

    @classmethod
    def build(cls, all_facts: list[FileFacts]) -> "TypeEnv":
        env = cls()
        for ff in all_facts:
            for s in ff.structs:
                members = env.structs.setdefault(s.name, {})
                for m, t in s.members:
                    members.setdefault(m, t)
            for fn in ff.functions:
                if fn.ret.is_page_ptr:
                    env.returns_page.add(fn.name)
        return env


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
        defs = self.defs[key]
        d_start = defs[j][1]
        for b in self.fn.branches:
            for a0, a1, o0, o1 in ((b.then_start, b.then_end, b.else_start, b.else_end),
                                   (b.else_start, b.else_end, b.then_start, b.then_end)):
                if a0 <= d_start < a1 and not (a0 <= pos < a1):
                    if any(o0 <= s < o1 for _e, s in defs[:j]):
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
        ops: list[tuple[object, OpUse]] = []
        derives: list[tuple[object, object, str, str, str, int, int, int, str]] = []
        display: dict[object, str] = {}
        keys_of: dict[object, set[str]] = {}

        def note(nd, v: Val) -> None:
            if not v.key.startswith("@"):
                display.setdefault(nd, v.key)
            keys_of.setdefault(nd, set()).add(v.key)

        def show(v: Val, call_text: str | None = None) -> str:
            if v.key.startswith("@"):
                c = self.calls_at.get(v.key)
                return f"{c.callee}({', '.join(c.arg_text)})" if c else "(call)"
            return v.key

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
                note(anode, a)
                derives.append((rnode, anode, cv.name, cv.src, cv.dst, c.loc.line, c.loc.col, c.loc.pos, a.key))
                if cv.needs:
                    ops.append((anode, OpUse(c.callee, cv.needs, path, c.loc.line, c.loc.col, c.loc.pos, show(a))))
            op = m.operations.get(c.callee)
            if op is not None and op.arg < len(c.args) and c.args[op.arg] is not None:
                a = c.args[op.arg]
                anode = self.node(a, c.loc.pos)
                note(anode, a)
                ops.append((anode, OpUse(c.callee, op.needs, path, c.loc.line, c.loc.col, c.loc.pos, show(a))))
            for hrole, idx in m.helper_roles.get(c.callee, ()):
                if idx < len(c.args) and c.args[idx] is not None:
                    a = c.args[idx]
                    r = m.roles[hrole]
                    if r.kind == "page" and not (self.is_page(a) or a.key.startswith("@")):
                        continue
                    anode = self.node(a, c.loc.pos)
                    note(anode, a)
                    evidence.append((anode, Evidence(hrole, "helper", c.callee, "strong", path, c.loc.line,
                                                     c.loc.col, c.loc.pos, show(a))))

        for cp in fn.copies:
            dnode = self.node(cp.dst, cp.end)
            snode = self.node(cp.src, cp.loc.pos)
            note(dnode, cp.dst)
            note(snode, cp.src)
            uf.union(dnode, snode)
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
            note(onode, fu.obj)
            field_uses.append((onode, fu))
            for role, strength in m.field_roles.get(fu.field, ()):
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
            vc.ops = [OpUse(o.op, o.needs, o.path, o.line, o.col, o.pos, o.value, self.ctx(keys, o.pos))
                      for o in vc.ops]
            for k in keys:
                vc.tested |= self.region_names.get(k, set())
            values.append(vc)

        fields_out = []
        for onode, fu in field_uses:
            vc = cls(onode)
            roles = tuple(sorted({e.role for e in vc.evidence if e.kind in IDENTITY_KINDS and e.strength == "strong"}))
            fields_out.append(FieldAccess(fu.field, fu.write, path, fu.loc.line, fu.loc.col, fu.obj.key, roles))
        return FunctionRoles(fn, path, values, fields_out)

    @property
    def titles(self) -> dict[str, str]:
        return {r.id: r.title for r in self.model.roles.values()}

    def _with_ctx(self, e: Evidence, keys) -> Evidence:
        c = self.ctx(keys, e.pos)
        if not c:
            return e
        return Evidence(e.role, e.kind, e.name, e.strength, e.path, e.line, e.col, e.pos, e.value, e.write, c,
                        e.chain, e.origin)

    def _convert(self, role: str, src_kind: str, dst_kind: str) -> str | None:
        r = self.model.roles.get(role)
        if r is None or r.kind != src_kind:
            return None
        if src_kind == dst_kind:
            return role
        if src_kind == "address":
            return r.page_role
        return r.address_role


def analyse(model: RoleModel, env: TypeEnv, facts: FileFacts) -> list[FunctionRoles]:
    return [FunctionAnalysis(model, env, facts.path, fn).run() for fn in facts.functions]
