"""Know the tree: which role owns each `struct page` field in the tree being read.

`struct page` changes under our feet: slab fields left it in 5.17 (for `struct
slab`), page-table fields in 6.6 (for `struct ptdesc`), page_pool fields are
mirrored by `struct net_iov`.  So `page->pt_mm` is page-table evidence on a 6.1
tree and does not even compile on 6.12.  This module reads the tree's own
`include/linux/mm_types.h` (and the descriptor headers named in
rules/layouts.toml), finds the arms of struct page's big union, decides whose
each arm is, and rewrites the role model's field tables to match *that* tree.
Without a tree, the built-in tables in rules/roles/ stay in force.

Version differences are keyed on what the tree contains (`layout.has("ptdesc")`),
never on a version number: stable trees carry backports.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from . import parse
from .model import DataError, RoleModel, Checker, load_toml, rules_dir

MAX_DEPTH = 16  # nesting of unions/structs/#ifs inside struct page; real trees use 4


@dataclass(frozen=True)
class Arm:
    """One arm of struct page's big union."""

    role: str | None  # None: an owner we do not model (compound tail pages)
    how: str  # what decided the role: "descriptor net_iov", "comment", "fields", "none"
    comment: str
    fields: tuple[str, ...]
    shared: frozenset[str]  # fields in a slot other owners use too (a union with `lru`)


@dataclass(frozen=True)
class Layout:
    tree: str
    page_fields: frozenset[str]  # every member of struct page, at any depth
    arms: tuple[Arm, ...]
    descriptors: dict[str, tuple[str, frozenset[str]]]  # struct name -> (role or "", members)

    def has(self, identifier: str) -> bool:
        """Does the tree have this struct page field or descriptor struct?"""
        return identifier in self.page_fields or identifier in self.descriptors

    def field_roles(self) -> dict[str, tuple[str | None, bool]]:
        """field -> (owning role or None, shared slot?) for fields inside an arm."""
        out: dict[str, tuple[str | None, bool]] = {}
        for arm in self.arms:
            for f in arm.fields:
                out.setdefault(f, (arm.role, f in arm.shared))
        return out


@dataclass(frozen=True)
class LayoutSpec:
    """rules/layouts.toml: where struct page lives and how to tell its arms apart."""

    page_file: str
    page_struct: str
    arm_comments: tuple[tuple[str, str], ...]
    descriptors: tuple[tuple[str, tuple[str, ...], str], ...]  # (struct, files, role)


def load_spec(model: RoleModel, base: Path | None = None) -> LayoutSpec:
    path = (base or rules_dir()) / "layouts.toml"
    c = Checker(path, load_toml(path))
    page = c.sub("page")
    page_file = page.get("file", str)
    page_struct = page.get("struct", str)
    page.no_unknown()
    comments = []
    for word, role in c.get("arm_comments", dict, {}).items():
        if role not in model.roles:
            raise DataError(path, f"arm_comments.{word}", f"names unknown role {role!r}")
        comments.append((word.lower(), role))
    descs = []
    for name, tbl in c.get("descriptors", dict, {}).items():
        d = Checker(path, tbl, f"descriptors.{name}.")
        files = tuple(d.get("files", list))
        role = d.get("role", str)
        d.no_unknown()
        if role and role not in model.roles:
            raise DataError(path, f"descriptors.{name}.role", f"names unknown role {role!r}")
        descs.append((name, files, role))
    c.no_unknown()
    return LayoutSpec(page_file, page_struct, tuple(comments), tuple(descs))


# --- reading C --------------------------------------------------------------------

def _decl_name(node) -> str | None:
    for _ in range(MAX_DEPTH):
        if node.type in ("field_identifier", "identifier"):
            return node.text.decode("utf-8", "replace")
        nxt = node.child_by_field_name("declarator")
        if nxt is None:
            return None
        node = nxt
    return None


def _anon_body(decl):
    """The body of `struct {...};` / `union {...};` declared without a member name."""
    t = decl.child_by_field_name("type")
    if t is None or t.type not in ("struct_specifier", "union_specifier") or decl.child_by_field_name("declarator"):
        return None
    return t.child_by_field_name("body")


def _items(body):
    """field_declarations and comments of a body in order, looking through #if/#ifdef blocks.

    Both sides of an #if/#else are members of the layout: the tree has them.
    """
    out = []
    stack = [(iter(body.named_children), 0)]
    while stack:
        it, depth = stack[-1]
        ch = next(it, None)
        if ch is None:
            stack.pop()
        elif ch.type.startswith("preproc_") and depth < MAX_DEPTH:
            stack.append((iter(ch.named_children), depth + 1))
        elif ch.type in ("field_declaration", "comment"):
            out.append(ch)
    return out


def _leaves(body) -> list[tuple[str, int]]:
    """(member name, slot) for every member under `body`, through anonymous structs/unions.

    `slot` is the start byte of the outermost anonymous union the member sits in
    below `body` (-1 if none): members sharing a slot are alternatives.
    """
    out: list[tuple[str, int]] = []
    stack = [(body, -1, 0)]
    while stack:
        node, slot, depth = stack.pop()
        for item in _items(node):
            if item.type != "field_declaration":
                continue
            inner = _anon_body(item)
            if inner is not None:
                if depth < MAX_DEPTH:
                    is_union = item.child_by_field_name("type").type == "union_specifier"
                    stack.append((inner, slot if slot != -1 or not is_union else inner.start_byte, depth + 1))
                continue
            for d in item.children_by_field_name("declarator"):
                name = _decl_name(d)
                if name:
                    out.append((name, slot))
    return out


def _find_structs(data: bytes, names: set[str]) -> dict[str, object]:
    tree = parse.parse(data)
    found = {}
    for _idx, caps in parse.captures_in(parse.query("layouts"), tree.root_node):
        name = caps["name"][0].text.decode("utf-8", "replace")
        if name in names and name not in found:
            found[name] = caps["body"][0]
    # keep the tree alive as long as its nodes are used
    found["__tree__"] = tree
    return found


def _arm_comment(arm_decl, body) -> str:
    for item in _items(body):
        if item.type == "comment":
            return item.text.decode("utf-8", "replace")
        break
    prev = arm_decl.prev_named_sibling
    if prev is not None and prev.type == "comment":
        return prev.text.decode("utf-8", "replace")
    return ""


def read(tree: str | Path, model: RoleModel, spec: LayoutSpec | None = None) -> Layout | None:
    """The layout of the tree at `tree`, or None when it has no readable struct page."""
    spec = spec or load_spec(model)
    root = Path(tree)
    try:
        page_src = (root / spec.page_file).read_bytes()
    except OSError:
        return None
    # descriptors first: they identify arms without relying on comments
    by_file: dict[str, list[str]] = {}
    for name, files, _role in spec.descriptors:
        for f in files:
            if (root / f).is_file():
                by_file.setdefault(f, []).append(name)
                break
    descriptors: dict[str, tuple[str, frozenset[str]]] = {}
    roles_of = {name: role for name, _files, role in spec.descriptors}
    page_body = None
    keep = []
    for f, names in by_file.items():
        data = page_src if f == spec.page_file else (root / f).read_bytes()
        wanted = set(names) | ({spec.page_struct} if f == spec.page_file else set())
        found = _find_structs(data, wanted)
        keep.append(found)
        for name in names:
            if name in found:
                descriptors[name] = (roles_of[name], frozenset(n for n, _s in _leaves(found[name])))
        if f == spec.page_file:
            page_body = found.get(spec.page_struct)
    if page_body is None:
        found = _find_structs(page_src, {spec.page_struct})
        keep.append(found)
        page_body = found.get(spec.page_struct)
    if page_body is None:
        return None
    return _layout(str(root), page_body, descriptors, spec, model)


def _layout(tree: str, page_body, descriptors, spec: LayoutSpec, model: RoleModel) -> Layout:
    all_fields = frozenset(n for n, _s in _leaves(page_body))
    big_union = None
    for item in _items(page_body):
        if item.type != "field_declaration":
            continue
        inner = _anon_body(item)
        if inner is None or item.child_by_field_name("type").type != "union_specifier":
            continue
        if any(_anon_body(x) is not None for x in _items(inner) if x.type == "field_declaration"):
            big_union = inner
            break
    arms: list[Arm] = []
    if big_union is not None:
        outside = {n for n, _s in _leaves(page_body)} - {n for n, _s in _leaves(big_union)}
        for item in _items(big_union):
            if item.type != "field_declaration":
                continue
            body = _anon_body(item)
            if body is None or item.child_by_field_name("type").type != "struct_specifier":
                continue  # a member of the union itself (rcu_head): anyone's
            leaves = _leaves(body)
            names = tuple(dict.fromkeys(n for n, _s in leaves))
            comment = _arm_comment(item, body)
            role, how = _arm_role(names, comment, outside, descriptors, spec, model)
            arms.append(Arm(role, how, " ".join(comment.strip("/* \t\n").split()), names,
                            _shared(leaves, role, model)))
    return Layout(tree, all_fields, tuple(arms), descriptors)


def _arm_role(names, comment, outside, descriptors, spec: LayoutSpec, model: RoleModel):
    # 1. a descriptor sharing members with the arm (ignoring words struct page has outside the union)
    best, best_n = None, 0
    for dname, (role, members) in descriptors.items():
        n = len((set(names) & members) - outside)
        if role and n > best_n:
            best, best_n = (role, f"descriptor {dname}"), n
    if best is not None and best_n >= 2:
        return best
    # 2. the arm's opening comment
    low = comment.lower()
    for word, role in spec.arm_comments:
        if word in low:
            return role, "comment"
    # 3. the built-in field tables
    votes: dict[str, int] = {}
    for n in names:
        for role, strength in model.field_roles.get(n, ()):
            if strength == "strong" and model.roles[role].kind == "page":
                votes[role] = votes.get(role, 0) + 1
    if votes:
        role = max(sorted(votes), key=lambda r: votes[r])
        return role, "fields"
    return None, "none"


def _shared(leaves, role, model: RoleModel) -> frozenset[str]:
    """Members of a slot that also holds a field the tables call weak (shared) for this role.

    6.1's page-cache arm has union {lru; {__filler; mlock_count}; buddy_list; pcp_list}:
    `lru` is used as a generic list by other owners, so its slot mates are not folio-only.
    """
    weak_slots = set()
    for name, slot in leaves:
        if slot != -1 and any(s == "weak" for _r, s in model.field_roles.get(name, ())):
            weak_slots.add(slot)
    return frozenset(n for n, s in leaves if s in weak_slots)


# --- applying a layout to the role model -----------------------------------------------

def apply(model: RoleModel, layout: Layout | None) -> RoleModel:
    """The role model with page-role field tables derived from `layout`.

    A field of an arm belongs to the arm's role: strong, unless the tables call
    the pair weak or the field shares a slot with a weak field.  A field the
    built-in tables give a page role but which is not in this tree's struct page
    (page->freelist on 6.1, page->pt_mm on 6.12) is dropped: on this tree no
    struct page access can mean it.  Address roles are untouched.
    """
    if layout is None:
        return model
    derived = layout.field_roles()
    in_arms = set(derived)
    strong: dict[str, set[str]] = {}
    weak: dict[str, set[str]] = {}
    for f, (role, shared) in derived.items():
        if role is None:
            continue
        r = model.roles[role]
        if f in r.strong_fields:
            strong.setdefault(role, set()).add(f)
        elif f in r.weak_fields or shared:
            weak.setdefault(role, set()).add(f)
        else:
            strong.setdefault(role, set()).add(f)
    for r in model.roles.values():
        # a weak field is shared by several owners (driver pages use lru and
        # private too): every owner keeps it while the tree has it
        for f in r.weak_fields:
            if f in layout.page_fields:
                weak.setdefault(r.id, set()).add(f)
        # a field outside the big union's arms: the layout says nothing about it
        for f in r.strong_fields:
            if f in layout.page_fields and f not in in_arms:
                strong.setdefault(r.id, set()).add(f)
    roles = {}
    for rid, r in model.roles.items():
        if r.kind != "page":
            roles[rid] = r
            continue
        roles[rid] = replace(r, strong_fields=frozenset(strong.get(rid, ())), weak_fields=frozenset(weak.get(rid, ())))
    # the digest names the field tables, so anything keyed on it (caches) sees the layout
    h = hashlib.sha256(model.digest.encode())
    for rid in sorted(roles):
        r = roles[rid]
        h.update(f"{rid}:{sorted(r.strong_fields)}:{sorted(r.weak_fields)}".encode())
    return RoleModel(roles, model.converters, model.operations, model.sinks, model.negative_predicates,
                     digest=h.hexdigest()[:16])
