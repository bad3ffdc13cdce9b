"""Stage 5 — rules: evaluate the rule conditions over inferred roles.

Three condition types cover the rules (see rules.CONDITION_TYPES):

* conflict   — one value carries evidence of two incompatible roles, and no
               role test separates the two places;
* capability — an operation needs a capability (map to userspace, plain
               refcount, linear address ...) that the value's role lacks;
* field      — a field is touched where it must not be (raw page_type writes,
               a role's private fields outside the code that owns the role).
"""

from __future__ import annotations

from dataclasses import dataclass

from .infer import (Evidence, FunctionRoles, IDENTITY_KINDS, OpUse, Step, ValueClass, evidence_steps, op_steps,
                    owner_match)
from .model import RoleModel
from .rules import Rule, RuleSet


@dataclass(frozen=True)
class Finding:
    rule: str
    path: str
    line: int
    col: int
    message: str
    function: str
    value: str
    roles: tuple[str, ...]
    evidence: tuple[Step, ...]
    severity: str
    fingerprint: str = ""

    def sort_key(self):
        return (self.path, self.line, self.col, self.rule)


def _separated(a: Evidence | OpUse, b: Evidence, a_role: str | None) -> bool:
    """True when role tests show the two places see different roles."""
    if a.site >= 0 and a.site == b.site:
        # both learned from one call's summary: the callee was judged on its own
        return True
    actx, bctx = set(a.ctx), set(b.ctx)
    for r, pos in actx:
        if (r, not pos) in bctx:
            return True
    # a place inside `if (PageX(v))` for its own role X is guarded: it only
    # conflicts with evidence inside the same test
    if a_role is not None and (a_role, True) in actx and (a_role, True) not in bctx:
        return True
    if (b.role, True) in bctx and (b.role, True) not in actx:
        return True
    # a place where the test says "not R" cannot conflict with R
    if (b.role, False) in actx or (a_role is not None and (a_role, False) in bctx):
        return True
    return False


def _op_text(op: OpUse) -> str:
    if op.site >= 0:
        return f"{op.op}() inside {op.via}"
    return f"`{op.op}`" if op.op.endswith("=") else f"{op.op}()"


def _helper_text(e: Evidence) -> str:
    if e.site >= 0 and e.origin.startswith("passed to "):
        # "passed to rx_put() at line 80, which ..." → "page_pool_put_page() inside rx_put() at line 80"
        return f"{e.name}() inside {e.origin.removeprefix('passed to ').split(', which', 1)[0]}"
    return f"{e.name}()"


class Engine:
    def __init__(self, model: RoleModel, rules: RuleSet):
        self.model = model
        self.rules = rules
        self.titles = {r.id: r.title for r in model.roles.values()}

    def title(self, role: str) -> str:
        return self.titles.get(role, role)

    def evaluate(self, functions: list[FunctionRoles], relpath=lambda p: p) -> list[Finding]:
        out: list[Finding] = []
        seen: set[tuple] = set()
        for fr in functions:
            for rule in self.rules:
                t = rule.condition.type
                if t == "conflict":
                    found = self._conflicts(rule, fr)
                elif t == "capability":
                    found = self._capability(rule, fr)
                else:
                    found = self._fields(rule, fr, relpath)
                for f in found:
                    k = (f.rule, f.path, f.line, f.col, f.value)
                    if k not in seen:
                        seen.add(k)
                        out.append(f)
        out.sort(key=Finding.sort_key)
        return out

    # -- conflict ----------------------------------------------------------------
    def _conflicts(self, rule: Rule, fr: FunctionRoles):
        c = rule.condition
        for vc in fr.values:
            strong = [e for e in vc.evidence if e.strength == "strong"]
            if len(strong) < 2:
                continue
            uses = [e for e in strong if e.kind in c.use_kinds and (not c.use_roles or e.role in c.use_roles)
                    and (not c.use_names or e.name in c.use_names)]
            if not uses:
                continue
            against = [e for e in strong if e.kind in c.against_kinds
                       and (not c.against_roles or e.role in c.against_roles)]
            # provenance first: "it came from kmalloc()" explains best
            against.sort(key=lambda e: (e.kind not in IDENTITY_KINDS, e.line))
            for u in uses:
                for a in against:
                    if a.role == u.role or a is u or _separated(u, a, u.role) or fr.exclusive(u.pos, a.pos):
                        continue
                    if self._compatible_use(u, a):
                        continue
                    yield self._finding(rule, vc, u, a)
                    break

    def _compatible_use(self, u: Evidence, a: Evidence) -> bool:
        """Uses that the other role legitimately shares.

        Roles that declare each other compatible (a ZONE_DEVICE page is also a
        folio) do not conflict; a field both roles list (s390 gmap keeps pt_index
        in page->index of its page tables) is not a conflict, nor is a raw page
        from the allocator being turned into a typed page by that role's
        constructor (pagetable_alloc: alloc_pages() then page_ptdesc()).
        """
        other = self.model.roles.get(a.role)
        if other is None:
            return False
        mine = self.model.roles.get(u.role)
        if u.role in other.compatible or (mine is not None and a.role in mine.compatible):
            return True
        if u.kind == "field" and (u.name in other.strong_fields or u.name in other.weak_fields):
            return True
        return a.role == "driver" and u.kind == "helper" and mine is not None and u.name in mine.constructors

    def _finding(self, rule: Rule, vc: ValueClass, at: Evidence | OpUse, why: Evidence, op: OpUse | None = None):
        use_role = getattr(at, "role", None)
        fmt = {
            "value": at.value,
            "use": at.describe() if isinstance(at, Evidence) else f"{at.op}()",
            "use_role": self.title(use_role) if use_role else "",
            "op": _op_text(at) if isinstance(at, OpUse) else _helper_text(at),
            "role": self.title(why.role),
            "why": why.describe(),
            "why_line": why.line,  # kept for templates; `why` already names the lines
            "function": vc.function,
        }
        try:
            message = rule.message.format(**fmt)
        except (KeyError, IndexError, ValueError):
            message = rule.summary
        chain = list(evidence_steps(why, self.titles))
        if isinstance(at, Evidence):
            chain.extend(evidence_steps(at, self.titles))
            roles = tuple(dict.fromkeys((why.role, at.role)))
        else:
            chain.extend(op_steps(at))
            roles = (why.role,)
        return Finding(rule.id, at.path, at.line, at.col, message, vc.function, at.value, roles,
                       tuple(chain), rule.severity)

    # -- capability -------------------------------------------------------------
    def _capability(self, rule: Rule, fr: FunctionRoles):
        c = rule.condition
        m = self.model
        for vc in fr.values:
            if not vc.ops:
                continue
            if c.unless_tested and vc.tested & set(c.unless_tested):
                continue
            ident = [e for e in vc.evidence if e.kind in IDENTITY_KINDS and e.strength == "strong"]
            if not ident:
                # no provenance: a role-only helper still says what the value is
                ident = [e for e in vc.evidence if e.kind == "helper" and e.strength == "strong"]
            if not ident:
                continue
            for op in vc.ops:
                if op.needs != c.capability or (c.ops and op.op not in c.ops):
                    continue
                opctx = set(op.ctx)
                for e in ident:
                    if (e.role, False) in opctx:
                        continue
                    bad = None
                    for r in m.effective(e.role):
                        if (r, False) in opctx:
                            continue
                        if any(pos and x != r for x, pos in opctx if x in m.effective(e.role)):
                            continue
                        if c.roles and r not in c.roles and e.role not in c.roles:
                            continue
                        if any(role == r and p < op.pos for role, p in vc.released):
                            # page_pool_release_page(pool, page); put_page(page); is the documented way out
                            continue
                        if owner_match(op.path, m.roles[r].owners):
                            # a role's own code implements its lifecycle: page_pool.c put_page()s
                            # pages leaving the pool, arch code frees boot page tables through
                            # free_reserved_page()
                            continue
                        if m.roles[r].has(c.capability) is False:
                            bad = r
                            break
                    if bad is None:
                        continue
                    if _separated(op, e, None) or fr.exclusive(op.pos, e.pos):
                        continue
                    yield self._finding(rule, vc, op, e)
                    break

    # -- field --------------------------------------------------------------------
    def _fields(self, rule: Rule, fr: FunctionRoles, relpath):
        c = rule.condition
        m = self.model
        for fa in fr.fields:
            if c.access == "write" and not fa.write:
                continue
            if c.access == "read" and fa.write:
                continue
            owners: tuple[str, ...] = ()
            role = None
            if c.fields:
                if fa.field not in c.fields:
                    continue
            else:
                for r in c.field_roles:
                    if fa.field in m.roles[r].strong_fields:
                        role = r
                        owners = m.roles[r].owners
                        break
                if role is None:
                    continue
            if c.outside_owners and owner_match(relpath(fa.path), owners):
                continue
            if c.exempt and owner_match(relpath(fa.path), c.exempt):
                continue
            verb = "writes" if fa.write else "reads"
            shown = ", ".join(owners[:3]) + (f", … {len(owners) - 3} more" if len(owners) > 3 else "")
            fmt = {"value": fa.value, "field": fa.field, "verb": verb, "role": self.title(role) if role else "",
                   "function": fr.function.name, "owners": shown}
            try:
                message = rule.message.format(**fmt)
            except (KeyError, IndexError, ValueError):
                message = rule.summary
            step = Step(fa.path, fa.line, fa.col, f"{verb} `{fa.value}->{fa.field}`")
            yield Finding(rule.id, fa.path, fa.line, fa.col, message, fr.function.name, fa.value,
                          (role,) if role else fa.value_roles, (step,), rule.severity)
