"""Tree-wide phase: what each function does with its arguments, and what struct members hold.

Real misuse rarely sits in one function.  A driver allocates a page from its
page_pool in one function, keeps it in `rx_buf->page`, and a helper two calls
away treats it as something else.  This module gives the per-function
inference (infer.py) the two things it cannot see from one body:

* **Summaries.**  For each function: the role evidence and the capability
  operations each parameter meets inside it — directly or through its own
  callees — and the role of its return value.  Computed bottom-up over the
  call graph's strongly connected components, iterating each recursive
  component to a fixpoint (bounded), so `f → g → page_pool_put_full_page()`
  makes `f` a page_pool helper with a chain that says so.
* **Member values.**  `struct T.member` as one value tree-wide: when every
  store the tree makes into a page member agrees on one role, a function that
  reads the member (without storing it first) learns that role.  Only
  store-side provenance crosses functions, never use-side evidence: two
  functions *using* a member differently is not a finding, a page_pool page
  stored and then read as a slab page is.

Scoping: a static function in a .c file is seen only from that file; static
functions in headers and non-static functions are seen from everywhere.  When
several definitions share a name (config stubs, arch variants, two modules),
their facts are merged only where they do not contradict: a role only one
definition gives is kept (stubs do nothing), two definitions giving a
parameter different roles give it none.

Everything here is a pure function of the list of FileFacts and the role
model, so cached facts feed it unchanged.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field

from .facts import FileFacts, Function
from .infer import (IDENTITY_KINDS, FunctionAnalysis, FunctionRoles, Step, TypeEnv, ValueClass,
                    evidence_steps, op_steps)
from .engine import owner_match
from .model import Checker, DataError, RoleModel, load_toml, rules_dir

MAX_ROUNDS = 6  # fixpoint rounds per recursive component; facts only grow, this bounds odd cases
MAX_USES = 16  # facts kept per parameter: enough to explain, bounded for huge helpers


def _where(path: str, line: int, from_path: str) -> str:
    return f"line {line}" if path == from_path else f"{os.path.basename(path)}:{line}"


@dataclass(frozen=True)
class ParamUse:
    """One thing a function does with a parameter: `kind` field | helper | op."""

    kind: str
    role: str  # field/helper: the role the use implies; op: ""
    name: str  # the field, helper or operation
    needs: str  # op: the capability it needs
    write: bool
    what: str  # "calls page_pool_put_full_page()", "passes it to rx_free()"
    path: str  # where it happens (in the callee)
    line: int
    then: str  # ", which calls page_pool_put_full_page() at line 31" for deeper callees
    steps: tuple[Step, ...]  # ordered, inside the callee

    @property
    def key(self) -> tuple:
        return (self.kind, self.role, self.name, self.needs)

    def render(self, from_path: str) -> str:
        return f"{self.what} at {_where(self.path, self.line, from_path)}{self.then}"


@dataclass(frozen=True)
class ReturnFact:
    role: str
    what: str  # "returns page_pool_dev_alloc_pages()"
    path: str
    line: int
    steps: tuple[Step, ...]

    def render(self, from_path: str) -> str:
        return f"{self.what} from {_where(self.path, self.line, from_path)}"


@dataclass(frozen=True)
class Summary:
    name: str
    params: tuple[tuple[ParamUse, ...], ...]
    returns: tuple[ReturnFact, ...]  # at most one role: returns that disagree give none

    @property
    def key(self) -> tuple:
        return (tuple(tuple(u.key for u in ps) for ps in self.params), tuple(r.role for r in self.returns))

    @property
    def empty(self) -> bool:
        return not self.returns and not any(self.params)


@dataclass(frozen=True)
class MemberValue:
    """What the tree stores in one struct member: one role, and where that was seen."""

    role: str
    display: str  # "struct rx_buf.page"
    text: str  # for messages: "`struct rx_buf.page`, stored from page_pool_dev_alloc_pages() in rx_fill() at rx.c:40"
    steps: tuple[Step, ...]
    stores: int


@dataclass
class TreeResult:
    functions: dict[str, list[FunctionRoles]]  # path -> analysed functions, final
    summaries: dict[tuple[int, int], Summary]
    members: dict[str, MemberValue]
    stats: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # path -> first internal error analysing it

    def roles_of(self, ff: FileFacts) -> list[FunctionRoles]:
        """The file's analysed functions; raises if analysing it failed (the caller reports it)."""
        if ff.path in self.errors:
            raise RuntimeError(self.errors[ff.path])
        return self.functions.get(ff.path, [])


@dataclass(frozen=True)
class Policy:
    """rules/interprocedural.toml: what may cross a function boundary."""

    generic_members: frozenset[str] = frozenset()  # "bio_vec.bv_page": never a tree-wide value
    local_roles: frozenset[str] = frozenset()  # roles whose evidence is not exported by summaries
    local_helpers: frozenset[str] = frozenset()  # helpers whose evidence is not exported either


def load_policy(model: RoleModel | None = None, base=None) -> Policy:
    path = (base or rules_dir()) / "interprocedural.toml"
    if not path.exists():
        return Policy()
    c = Checker(path, load_toml(path))
    members = c.sub("members")
    generic = frozenset(members.get("generic", list, []))
    members.no_unknown()
    summ = c.sub("summaries")
    local = frozenset(summ.get("local_roles", list, []))
    local_helpers = frozenset(summ.get("local_helpers", list, []))
    summ.no_unknown()
    c.no_unknown()
    for r in local:
        if model is not None and r not in model.roles:
            raise DataError(path, "summaries.local_roles", f"names unknown role {r!r}")
    return Policy(generic, local, local_helpers)


def _in_alternative(fn: Function, pos: int) -> bool:
    """Is `pos` in one arm of an if/else or ?: — code that runs only for some calls?

    A callee that does A in one arm and B in the other (`op == ENCRYPT ? src : dst`)
    does neither for every caller.  Code after a guard clause, and the clause's
    own early exit, run with the same arguments: those stay facts.
    """
    for b in fn.branches:
        if b.guard:
            continue
        if b.then_start <= pos < b.then_end or b.else_start <= pos < b.else_end:
            return True
    return False


# --- extracting a summary from one analysed function --------------------------------------

def _param_uses(vc: ValueClass, fr: FunctionRoles, titles, model: RoleModel, policy: Policy) -> tuple[ParamUse, ...]:
    out: dict[tuple, ParamUse] = {}
    fn = fr.function
    for e in vc.evidence:
        # a use under a role test (`if (PageSlab(page))`) is conditional: not a fact about the parameter
        if e.strength != "strong" or e.ctx or e.kind not in ("field", "helper"):
            continue
        if e.role in policy.local_roles or _in_alternative(fn, e.pos):
            continue
        if e.kind == "helper" and e.site < 0 and e.name in policy.local_helpers:
            continue
        if e.kind == "field" and e.site < 0 and owner_match(fr.path, model.roles[e.role].owners):
            # the owner of a field sets it for others too (mm writes page->mapping for
            # movable and tail pages): a field its owner touches says nothing of the caller's page
            continue
        if e.site >= 0:
            inner = e.origin.removeprefix("passed to ")
            callee = inner.split("()", 1)[0]
            u = ParamUse(e.kind, e.role, e.name, "", e.write, f"passes it to {callee}()", e.path, e.line,
                         ", which " + inner.split(", which ", 1)[1] if ", which " in inner else "",
                         evidence_steps(e, titles))
        elif e.kind == "field":
            u = ParamUse("field", e.role, e.name, "", e.write, f"{'writes' if e.write else 'reads'} `{e.value}->{e.name}`",
                         e.path, e.line, "", evidence_steps(e, titles))
        else:
            u = ParamUse("helper", e.role, e.name, "", False, f"calls {e.name}()", e.path, e.line, "",
                         evidence_steps(e, titles))
        out.setdefault(u.key, u)
    # a role's own code that handles the parameter as that role (page_pool.c returning a
    # page_pool page to the allocator) may put_page() it: that is the role's implementation
    implements = {e.role for e in vc.evidence if e.strength == "strong"
                  and owner_match(fr.path, model.roles[e.role].owners)}
    for o in vc.ops:
        if o.ctx or _in_alternative(fn, o.pos) or implements:
            continue
        if o.site >= 0:
            callee = o.via.split("()", 1)[0]
            u = ParamUse("op", "", o.op, o.needs, False, f"passes it to {callee}()", o.path, o.line,
                         f", which calls {o.op}()", op_steps(o))
        elif o.op.endswith("="):
            u = ParamUse("op", "", o.op, o.needs, False, f"stores it in `{o.op[:-2]}`", o.path, o.line, "",
                         op_steps(o))
        else:
            u = ParamUse("op", "", o.op, o.needs, False, f"calls {o.op}()", o.path, o.line, "", op_steps(o))
        out.setdefault(u.key, u)
    return tuple(list(out.values())[:MAX_USES])


_ERROR_RETURNS = frozenset({"ERR_PTR", "ERR_CAST"})


def _return_facts(fr: FunctionRoles, titles) -> tuple[ReturnFact, ...]:
    """The role of the return value, if every `return x;` gives that one role.

    A return whose value has no known role (`return sg_page(sg);` beside
    `return vmalloc_to_page(addr);`) makes the role unknown; `return NULL` and
    ERR_PTR() returns say nothing either way.  A returned page that also meets
    another role's helper or field (alloc_page() then a page-table constructor)
    is the callee's business: no role.
    """
    found: dict[str, ReturnFact] = {}
    calls = {c.result: c.callee for c in fr.function.calls}
    for vc in fr.returns:
        strong = [e for e in vc.evidence if e.strength == "strong" and not e.ctx]
        ident = [e for e in strong if e.kind in IDENTITY_KINDS]
        if not ident:
            if any(calls.get(k) in _ERROR_RETURNS for k in vc.keys) and not vc.evidence:
                continue
            return ()
        if len({e.role for e in strong}) > 1:
            return ()
        for e in ident:
            if e.role in found:
                continue
            if e.site >= 0:
                what = f"returns what {e.origin}"
            elif e.kind == "derived":
                what = f"returns {e.origin}"
            else:
                what = f"returns {e.name}()"
            found[e.role] = ReturnFact(e.role, what, e.path, e.line, evidence_steps(e, titles))
    if len(found) != 1:
        return ()
    return tuple(found.values())


def summarise(fr: FunctionRoles, titles, model: RoleModel, policy: Policy = Policy()) -> Summary:
    n = len(fr.function.params)
    params = tuple(_param_uses(fr.params[i], fr, titles, model, policy) if i in fr.params else ()
                   for i in range(n))
    return Summary(fr.function.name, params, _return_facts(fr, titles))


_ARCH = re.compile(r"(?:^|/)arch/([^/]+)/")


def arch_of(path: str) -> str | None:
    m = _ARCH.search(path.replace("\\", "/"))
    return m.group(1) if m else None


def merge(summaries: list[Summary], model: RoleModel) -> Summary | None:
    """One summary for several definitions of a name, inventing nothing.

    A use one definition has is kept (the others may be config stubs); a
    parameter that two definitions give different roles gets no role facts.
    """
    summaries = [s for s in summaries if not s.empty]
    if not summaries:
        return None
    if len(summaries) == 1:
        return summaries[0]
    n = max(len(s.params) for s in summaries)
    params = []
    for i in range(n):
        uses: dict[tuple, ParamUse] = {}
        roles_by_def = []
        for s in summaries:
            ps = s.params[i] if i < len(s.params) else ()
            roles_by_def.append({u.role for u in ps if u.role})
            for u in ps:
                uses.setdefault(u.key, u)
        all_roles = set().union(*roles_by_def)
        if len(all_roles) > 1 and sum(1 for r in roles_by_def if r) > 1:
            uses = {k: u for k, u in uses.items() if not u.role}
        params.append(tuple(list(uses.values())[:MAX_USES]))
    rets: dict[str, ReturnFact] = {}
    for s in summaries:
        for r in s.returns:
            rets.setdefault(r.role, r)
    return Summary(summaries[0].name, tuple(params), tuple(rets.values()) if len(rets) == 1 else ())


# --- the call graph ------------------------------------------------------------------------

FuncId = tuple[int, int]  # (file index, function index)


class Index:
    """Which definitions a call by name reaches from a given file."""

    def __init__(self, all_facts: list[FileFacts]):
        self.facts = all_facts
        self.local: dict[tuple[int, str], FuncId] = {}  # statics in .c files
        self.shared: dict[str, list[FuncId]] = {}  # non-static, or static in a header
        for fi, ff in enumerate(all_facts):
            header = ff.path.endswith(".h")
            for j, fn in enumerate(ff.functions):
                if fn.static and not header:
                    self.local.setdefault((fi, fn.name), (fi, j))
                else:
                    self.shared.setdefault(fn.name, []).append((fi, j))
        self._memo: dict[tuple[int, str], tuple[FuncId, ...]] = {}

    def function(self, fid: FuncId) -> Function:
        return self.facts[fid[0]].functions[fid[1]]

    def resolve(self, name: str, fi: int) -> tuple[FuncId, ...]:
        key = (fi, name)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        own = self.local.get(key)
        if own is not None:
            out: tuple[FuncId, ...] = (own,)
        else:
            cands = self.shared.get(name, [])
            # arch/x86 code never links against arch/parisc's flush_icache_range(), and
            # generic code links against whichever arch is built: one arch's body
            # (often the only one we see) says nothing for the others
            here_arch = arch_of(self.facts[fi].path)
            cands = [c for c in cands if arch_of(self.facts[c[0]].path) in (None, here_arch)]
            if len(cands) > 1:
                # a driver's own header beats a same-named helper elsewhere
                here = os.path.dirname(self.facts[fi].path)
                near = [c for c in cands if os.path.dirname(self.facts[c[0]].path) == here]
                cands = near or cands
            out = tuple(cands)
        self._memo[key] = out
        return out


def _sccs(nodes: list[FuncId], edges: dict[FuncId, list[FuncId]]) -> list[list[FuncId]]:
    """Tarjan's algorithm, iteratively (call chains are deep); callees' components come first."""
    index: dict[FuncId, int] = {}
    low: dict[FuncId, int] = {}
    on_stack: set[FuncId] = set()
    stack: list[FuncId] = []
    out: list[list[FuncId]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges.get(w, ()))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
    return out


# --- the phase -----------------------------------------------------------------------------

def analyse_tree(model: RoleModel, env: TypeEnv, all_facts: list[FileFacts],
                 policy: Policy = Policy(), report: set[str] | None = None) -> TreeResult:
    """Summaries to a fixpoint, then member values, then the final per-function analysis.

    `report`: paths whose functions the caller wants back (None = all); the
    others (kernel-tree helpers) only contribute summaries and member stores.
    """
    t0 = time.perf_counter()
    titles = {r.id: r.title for r in model.roles.values()}
    idx = Index(all_facts)
    known = set(model.source_role) | set(model.converters) | set(model.operations) | set(model.helper_roles) \
        | set(model.predicate_role)

    nodes: list[FuncId] = [(fi, j) for fi, ff in enumerate(all_facts) for j in range(len(ff.functions))]
    edges: dict[FuncId, list[FuncId]] = {}
    for fi, j in nodes:
        fn = all_facts[fi].functions[j]
        out: dict[FuncId, None] = {}
        for c in fn.calls:
            if c.callee not in known:
                for t in idx.resolve(c.callee, fi):
                    out[t] = None
        edges[(fi, j)] = list(out)

    own: dict[FuncId, Summary] = {}  # each definition's own summary
    merged: dict[tuple[FuncId, ...], Summary | None] = {}
    path_index = {ff.path: fi for fi, ff in enumerate(all_facts)}

    def summary_of(name: str, from_path: str) -> Summary | None:
        fi = path_index.get(from_path)
        if fi is None:
            return None
        fids = idx.resolve(name, fi)
        if not fids:
            return None
        if len(fids) == 1:
            return own.get(fids[0])
        if fids not in merged:
            merged[fids] = merge([own[f] for f in fids if f in own], model)
        return merged[fids]

    env.summary_of = summary_of
    env.members = {}
    roles: dict[FuncId, FunctionRoles] = {}
    errors: dict[str, str] = {}

    def analyse_one(fid: FuncId) -> FunctionRoles:
        ff = all_facts[fid[0]]
        fn = ff.functions[fid[1]]
        try:
            return FunctionAnalysis(model, env, ff.path, fn).run()
        except Exception as exc:  # one bad function never hides the rest of the tree
            errors.setdefault(ff.path, f"{type(exc).__name__} in {fn.name}(): {exc}")
            return FunctionRoles(fn, ff.path, [], [])

    runs = 0
    recursive = 0
    for comp in _sccs(nodes, edges):
        cyclic = len(comp) > 1 or comp[0] in edges.get(comp[0], ())
        recursive += cyclic
        for _round in range(MAX_ROUNDS if cyclic else 1):
            changed = False
            for fid in comp:
                runs += 1
                fr = analyse_one(fid)
                roles[fid] = fr
                s = summarise(fr, titles, model, policy)
                old = own.get(fid)
                if s.empty:
                    if old is not None:
                        del own[fid]
                        changed = True
                elif old is None or old.key != s.key:
                    own[fid] = s
                    changed = True
            if changed:
                # a merged summary may include one that just changed
                merged.clear()
            if not changed:
                break
    t1 = time.perf_counter()

    members = member_values(roles, all_facts, model, titles, policy.generic_members)
    env.members = members
    # final pass: only functions that read a member with a value need analysing again
    names = {k.rsplit(".", 1)[1].rstrip("[]") for k in members}
    again = 0
    if members:
        for fid, fr in list(roles.items()):
            fn = fr.function
            if any(fu.field in names for fu in fn.fields) or any(
                    v is not None and v.path and v.path[-1].rstrip("[]") in names
                    for c in fn.calls for v in c.args) or any(cp.src.path and cp.src.path[-1] in names
                                                             for cp in fn.copies):
                if report is None or all_facts[fid[0]].path in report:
                    roles[fid] = analyse_one(fid)
                    again += 1
    t2 = time.perf_counter()

    functions: dict[str, list[FunctionRoles]] = {}
    for fi, ff in enumerate(all_facts):
        if report is not None and ff.path not in report:
            continue
        functions[ff.path] = [roles[(fi, j)] for j in range(len(ff.functions))]
    stats = {
        "functions": len(nodes),
        "summaries": len(own),
        "summaries_params": sum(1 for s in own.values() if any(s.params)),
        "summaries_returns": sum(1 for s in own.values() if s.returns),
        "recursive_components": recursive,
        "analysis_runs": runs + again,
        "fixpoint_seconds": round(t1 - t0, 3),
        "member_values": len(members),
        "reanalysed_for_members": again,
        "members_seconds": round(t2 - t1, 3),
    }
    return TreeResult(functions, dict(own), members, stats, errors)


def member_values(roles: dict[FuncId, FunctionRoles], all_facts, model: RoleModel, titles,
                  generic: frozenset[str]) -> dict[str, MemberValue]:
    """Page members every store agrees on.

    A store whose value has no known role makes the member unknown: we do not
    see every store (helpers like sg_set_page() store through calls), so one
    role seen must not speak for the stores we cannot see.
    """
    seen: dict[str, list] = {}
    escaped: set[str] = set()
    for fr in roles.values():
        escaped |= fr.escapes
        for key, vc, loc in fr.stores:
            ident = {e.role for e in vc.evidence if e.kind in IDENTITY_KINDS and e.strength == "strong" and not e.ctx}
            first = next((e for e in vc.evidence if e.kind in IDENTITY_KINDS and e.strength == "strong"
                          and not e.ctx), None)
            seen.setdefault(key, []).append((ident, first, fr, loc))
    out: dict[str, MemberValue] = {}
    for key, stores in seen.items():
        member = key.split(":", 1)[1]
        if member in generic or member.rstrip("[]") in generic:
            continue
        if key in escaped or key.removesuffix("[]") in escaped:
            continue  # a call may store into it: we do not see every store
        roles_seen = [s[0] for s in stores]
        if any(len(r) != 1 for r in roles_seen):
            continue
        role = next(iter(roles_seen[0]))
        if any(r != {role} for r in roles_seen):
            continue
        _ident, e, fr, loc = stores[0]
        display = f"struct {member}"
        where = f"{os.path.basename(fr.path)}:{loc.line}"
        agree = f"; all {len(stores)} stores agree" if len(stores) > 1 else ""
        text = f"`{display}`, stored by {fr.function.name}() at {where} from {e.describe()}{agree}"
        steps = evidence_steps(e, titles) + (Step(fr.path, loc.line, loc.col, f"stored in `{display}`"),)
        out[key] = MemberValue(role, display, text, steps, len(stores))
    return out
