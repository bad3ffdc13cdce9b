"""Rule files: rules/<family>/PG###-name.toml, validated on load.

A rule is data: an id, a name, a message template, severity, confidence, a
condition over the role model (one of CONDITION_TYPES) and a doc with the
ruff-style headings.  Mistakes raise DataError naming the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .model import CAPABILITIES, Checker, DataError, RoleModel, load_toml, rules_dir

DOC_HEADINGS = ("What it does", "Why is this bad?", "Example", "Use instead", "Known false positives", "References")
SEVERITIES = ("error", "warning", "note")
CONFIDENCES = ("high", "medium", "low")
CONDITION_TYPES = ("conflict", "capability", "field")
EVIDENCE_KINDS = ("source", "derived", "field", "helper", "call")
ID_RE = re.compile(r"^PG[0-9]{3}$")
FILE_RE = re.compile(r"^(PG[0-9]{3})-([a-z0-9-]+)\.toml$")


@dataclass(frozen=True)
class Condition:
    type: str
    # conflict
    use_kinds: tuple[str, ...] = ()
    use_roles: tuple[str, ...] = ()
    use_names: tuple[str, ...] = ()
    against_kinds: tuple[str, ...] = ()
    against_roles: tuple[str, ...] = ()
    # capability
    capability: str = ""
    roles: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()
    unless_tested: tuple[str, ...] = ()
    # field
    fields: tuple[str, ...] = ()
    field_roles: tuple[str, ...] = ()
    access: str = "any"  # read | write | any
    outside_owners: bool = False
    exempt: tuple[str, ...] = ()  # path globs of the code that owns the fields (field rules)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    family: str
    summary: str
    message: str
    severity: str
    confidence: str
    tags: tuple[str, ...]
    condition: Condition
    doc: str
    file: str = ""

    @property
    def help_uri(self) -> str:
        from . import INFORMATION_URI

        return f"{INFORMATION_URI}/blob/main/rules/{self.family}/{self.id}-{self.name}.toml"


def _doc_ok(path: Path, doc: str) -> None:
    for h in DOC_HEADINGS:
        if not re.search(rf"^##\s+{re.escape(h)}\s*$", doc, re.M):
            raise DataError(path, "doc", f"missing heading '## {h}'")


def load_rule(path: Path, model: RoleModel) -> Rule:
    m = FILE_RE.match(path.name)
    if not m:
        raise DataError(path, "", "rule files are named PG###-name.toml")
    c = Checker(path, load_toml(path))
    rid = c.get("id", str)
    if not ID_RE.match(rid):
        raise DataError(path, "id", "expected PG followed by three digits")
    if rid != m.group(1):
        raise DataError(path, "id", f"{rid} does not match the file name {m.group(1)}")
    name = c.get("name", str)
    if name != m.group(2):
        raise DataError(path, "name", f"{name!r} does not match the file name {m.group(2)!r}")
    cc = c.sub("condition")
    ctype = cc.get("type", str, choices=CONDITION_TYPES)
    roles = set(model.roles)

    def role_list(key: str) -> tuple[str, ...]:
        v = tuple(cc.get(key, list, []))
        for r in v:
            if r not in roles:
                raise DataError(path, f"condition.{key}", f"unknown role {r!r} (known: {', '.join(sorted(roles))})")
        return v

    def kind_list(key: str) -> tuple[str, ...]:
        v = tuple(cc.get(key, list, []))
        for k in v:
            if k not in EVIDENCE_KINDS:
                raise DataError(path, f"condition.{key}", f"unknown evidence kind {k!r}")
        return v

    if ctype == "conflict":
        cond = Condition(ctype, use_kinds=kind_list("use_kinds"), use_roles=role_list("use_roles"),
                         use_names=tuple(cc.get("use_names", list, [])),
                         against_kinds=kind_list("against_kinds"), against_roles=role_list("against_roles"))
        if not cond.use_kinds or not cond.against_kinds:
            raise DataError(path, "condition.use_kinds", "conflict rules need use_kinds and against_kinds")
    elif ctype == "capability":
        cond = Condition(ctype, capability=cc.get("capability", str, choices=CAPABILITIES),
                         roles=role_list("roles"), ops=tuple(cc.get("ops", list, [])),
                         unless_tested=tuple(cc.get("unless_tested", list, [])))
    else:
        cond = Condition(ctype, fields=tuple(cc.get("fields", list, [])), field_roles=role_list("field_roles"),
                         access=cc.get("access", str, "any", choices=("read", "write", "any")),
                         outside_owners=cc.get("outside_owners", bool, False),
                         exempt=tuple(cc.get("exempt", list, [])))
        if not cond.fields and not cond.field_roles:
            raise DataError(path, "condition.fields", "field rules need fields or field_roles")
    cc.no_unknown()
    doc = c.get("doc", str)
    _doc_ok(path, doc)
    rule = Rule(
        id=rid,
        name=name,
        family=path.parent.name,
        summary=c.get("summary", str),
        message=c.get("message", str),
        severity=c.get("severity", str, choices=SEVERITIES),
        confidence=c.get("confidence", str, choices=CONFIDENCES),
        tags=tuple(c.get("tags", list, [])),
        condition=cond,
        doc=doc.strip() + "\n",
        file=str(path),
    )
    c.no_unknown()
    return rule


@dataclass
class RuleSet:
    rules: dict[str, Rule] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.rules.values())

    def get(self, rid: str) -> Rule | None:
        return self.rules.get(rid.upper())


def load_rules(model: RoleModel, base: Path | None = None) -> RuleSet:
    base = base or rules_dir()
    rs = RuleSet()
    for p in sorted(base.glob("*/PG*.toml")):
        r = load_rule(p, model)
        if r.id in rs.rules:
            raise DataError(p, "id", f"{r.id} is already used by {rs.rules[r.id].file}")
        rs.rules[r.id] = r
    return rs


def select(ruleset: RuleSet, select: list[str] | None, ignore: list[str] | None) -> RuleSet:
    """--select / --ignore by ID prefix (PG1 selects the whole 1xx family)."""
    out = RuleSet()
    for r in ruleset:
        if select and not any(r.id.startswith(s.upper()) for s in select):
            continue
        if ignore and any(r.id.startswith(s.upper()) for s in ignore):
            continue
        out.rules[r.id] = r
    return out
