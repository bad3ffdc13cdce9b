"""The role model: roles, their fields, sources, helpers, predicates and
capabilities, plus what calls do to values — all loaded from rules/ data.

Every data file is validated on load; a mistake raises `DataError` naming the
file and the key, which the CLI turns into a one-line message and exit 2.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CAPABILITIES = ("map_user", "plain_refcount", "zero_copy", "pagecache", "linear", "kfree")


class DataError(Exception):
    """A broken rule or role file: names the file and the key."""

    def __init__(self, path: str | os.PathLike, key: str, message: str):
        self.path = str(path)
        self.key = key
        self.message = message
        super().__init__(f"{self.path}: {key}: {message}" if key else f"{self.path}: {message}")


RULES_DIR_ENV = "PAGECHECK_RULES_DIR"


def rules_dir() -> Path:
    """$PAGECHECK_RULES_DIR if set, else rules/ beside the package in a checkout,
    else the copy installed as pagecheck.rules.

    The variable points pagecheck at a rule directory being written or tested
    (it has roles/, operations.toml and <family>/PG###-name.toml); a broken one
    gives a one-line error naming the file and key, and exit 2.
    """
    env = os.environ.get(RULES_DIR_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    checkout = here.parent / "rules"
    if (checkout / "roles").is_dir():
        return checkout
    # installed: the wheel carries rules/ as the directory pagecheck/rules/.  Not through
    # importlib.resources: "pagecheck.rules" imports as the module rules.py, not this directory.
    return here / "rules"


def load_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(path, "", f"not valid TOML: not UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(path, "", f"cannot read: {exc.strerror}") from None


class Checker:
    """Small typed accessor over a TOML table that reports file + dotted key."""

    def __init__(self, path: Path, table: dict, prefix: str = ""):
        self.path = path
        self.table = table
        self.prefix = prefix
        self.used: set[str] = set()

    def _key(self, k: str) -> str:
        return f"{self.prefix}{k}"

    def get(self, key: str, typ, default=..., choices=None):
        self.used.add(key)
        if key not in self.table:
            if default is ...:
                raise DataError(self.path, self._key(key), "missing")
            return default
        v = self.table[key]
        if typ is list:
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise DataError(self.path, self._key(key), "expected a list of strings")
        elif typ is dict:
            if not isinstance(v, dict):
                raise DataError(self.path, self._key(key), "expected a table")
        elif not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
            raise DataError(self.path, self._key(key), f"expected {typ.__name__}, got {type(v).__name__}")
        if choices is not None and v not in choices:
            raise DataError(self.path, self._key(key), f"expected one of {', '.join(map(str, choices))}, got {v!r}")
        return v

    def sub(self, key: str) -> "Checker":
        return Checker(self.path, self.get(key, dict, {}), f"{self.prefix}{key}.")

    def no_unknown(self) -> None:
        for k in self.table:
            if k not in self.used:
                raise DataError(self.path, self._key(k), "unknown key")


@dataclass(frozen=True)
class Role:
    id: str
    kind: str  # "page" | "address"
    title: str
    description: str
    owners: tuple[str, ...]
    capabilities: dict[str, bool]
    strong_fields: frozenset[str]
    weak_fields: frozenset[str]
    sources: frozenset[str]
    helpers: dict[str, int]
    predicates: dict[str, int]
    page_role: str | None = None  # address roles: role of virt_to_page() of it
    address_role: str | None = None  # page roles: role of page_address() of it
    may_be: tuple[str, ...] = ()  # a union role (kvmalloc: slab or vmalloc)
    constructors: frozenset[str] = frozenset()  # helpers that make a raw page this role
    compatible: frozenset[str] = frozenset()  # roles a page of this role also plays (ZONE_DEVICE pages are folios)
    releases: frozenset[str] = frozenset()  # helpers after which the page is no longer this role
    file: str = ""

    def has(self, capability: str) -> bool | None:
        return self.capabilities.get(capability)


@dataclass(frozen=True)
class Converter:
    name: str
    arg: int
    src: str  # "address" | "page"
    dst: str
    needs: str | None


@dataclass(frozen=True)
class Operation:
    name: str
    arg: int
    needs: str
    elements: bool = False  # the argument is an array: the need applies to its elements


@dataclass
class RoleModel:
    roles: dict[str, Role]
    converters: dict[str, Converter]
    operations: dict[str, Operation]
    sinks: dict[str, Operation]
    negative_predicates: dict[str, str]
    digest: str = ""
    # derived lookup tables
    field_roles: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # field -> [(role, strength)]
    source_role: dict[str, str] = field(default_factory=dict)
    helper_roles: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    predicate_role: dict[str, tuple[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self.field_roles = {}
        self.source_role = {}
        self.helper_roles = {}
        self.predicate_role = {}
        for r in self.roles.values():
            for f in r.strong_fields:
                self.field_roles.setdefault(f, []).append((r.id, "strong"))
            for f in r.weak_fields:
                self.field_roles.setdefault(f, []).append((r.id, "weak"))
            for s in r.sources:
                self.source_role[s] = r.id
            for h, i in r.helpers.items():
                self.helper_roles.setdefault(h, []).append((r.id, i))
            for p, i in r.predicates.items():
                self.predicate_role[p] = (r.id, i)

    def words(self) -> set[str]:
        """Every identifier the model reacts to: the byte prefilter is built from these."""
        w: set[str] = {"struct page"}
        for r in self.roles.values():
            w |= set(r.sources) | set(r.helpers) | set(r.predicates) | set(r.strong_fields)
        w |= set(self.converters) | set(self.operations)
        w |= {s.split(".")[-1] for s in self.sinks}
        w = {x.split("==")[0] for x in w}
        return w

    def effective(self, role: str) -> tuple[str, ...]:
        r = self.roles.get(role)
        if r is None:
            return ()
        return r.may_be or (role,)


def _load_role(path: Path) -> Role:
    c = Checker(path, load_toml(path))
    rid = c.get("id", str)
    if rid != path.stem:
        raise DataError(path, "id", f"must match the file name {path.stem!r}")
    kind = c.get("kind", str, choices=("page", "address"))
    caps_c = c.sub("capabilities")
    caps = {}
    for k in list(caps_c.table):
        if k not in CAPABILITIES:
            raise DataError(path, f"capabilities.{k}", f"unknown capability (known: {', '.join(CAPABILITIES)})")
        caps[k] = caps_c.get(k, bool)
    fields_c = c.sub("fields")
    src_c = c.sub("sources")
    helpers = {k: v for k, v in c.get("helpers", dict, {}).items()}
    preds = {k: v for k, v in c.get("predicates", dict, {}).items()}
    for table, name in ((helpers, "helpers"), (preds, "predicates")):
        for k, v in table.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise DataError(path, f"{name}.{k}", "expected the argument index (a whole number >= 0)")
    role = Role(
        id=rid,
        kind=kind,
        title=c.get("title", str),
        description=c.get("description", str),
        owners=tuple(c.get("owners", list, [])),
        capabilities=caps,
        strong_fields=frozenset(fields_c.get("strong", list, [])),
        weak_fields=frozenset(fields_c.get("weak", list, [])),
        sources=frozenset(src_c.get("functions", list, [])),
        helpers=helpers,
        predicates=preds,
        page_role=c.get("page_role", str, None),
        address_role=c.get("address_role", str, None),
        may_be=tuple(c.get("may_be", list, [])),
        constructors=frozenset(c.get("constructors", list, [])),
        compatible=frozenset(c.get("compatible", list, [])),
        releases=frozenset(c.get("releases", list, [])),
        file=str(path),
    )
    for name in sorted(role.releases):
        if name not in helpers:
            raise DataError(path, "releases", f"{name!r} must also be listed under [helpers] (its argument index)")
    fields_c.no_unknown()
    src_c.no_unknown()
    c.no_unknown()
    return role


def _load_operations(path: Path):
    c = Checker(path, load_toml(path))
    converters, operations, sinks = {}, {}, {}
    for name, tbl in c.get("converters", dict, {}).items():
        k = Checker(path, tbl, f"converters.{name}.")
        converters[name] = Converter(name, k.get("arg", int), k.get("from", str, choices=("address", "page")),
                                     k.get("to", str, choices=("address", "page")), k.get("needs", str, None))
        k.no_unknown()
    for section, out in (("operations", operations), ("sinks", sinks)):
        for name, tbl in c.get(section, dict, {}).items():
            k = Checker(path, tbl, f"{section}.{name}.")
            arg = k.get("arg", int, 0)
            needs = k.get("needs", str, choices=CAPABILITIES)
            elements = k.get("elements", bool, False)
            k.no_unknown()
            out[name] = Operation(name, arg, needs, elements)
    neg = c.get("negative_predicates", dict, {})
    for k2, v in neg.items():
        if not isinstance(v, str):
            raise DataError(path, f"negative_predicates.{k2}", "expected a role id")
    c.no_unknown()
    return converters, operations, sinks, dict(neg)


def load_model(base: Path | None = None) -> RoleModel:
    base = base or rules_dir()
    roles_dir = base / "roles"
    if not roles_dir.is_dir():
        raise DataError(roles_dir, "", "role directory missing")
    digest = hashlib.sha256()
    roles: dict[str, Role] = {}
    for p in sorted(roles_dir.glob("*.toml")):
        r = _load_role(p)  # first: an unreadable file is a DataError, not a traceback
        digest.update(p.name.encode() + p.read_bytes())
        roles[r.id] = r
    ops_path = base / "operations.toml"
    digest.update(ops_path.read_bytes() if ops_path.exists() else b"")
    converters, operations, sinks, neg = _load_operations(ops_path)
    # cross-references must name real roles
    for r in roles.values():
        for key, ref in (("page_role", r.page_role), ("address_role", r.address_role)):
            if ref is not None and ref not in roles:
                raise DataError(r.file, key, f"names unknown role {ref!r}")
        for key, refs in (("may_be", r.may_be), ("compatible", r.compatible)):
            for ref in sorted(refs):
                if ref not in roles:
                    raise DataError(r.file, key, f"names unknown role {ref!r}")
    for name, role in neg.items():
        if role not in roles:
            raise DataError(ops_path, f"negative_predicates.{name}", f"names unknown role {role!r}")
    return RoleModel(roles, converters, operations, sinks, neg, digest=digest.hexdigest()[:16])
