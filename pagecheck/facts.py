"""Stage 3 — facts: what each function does with pointers, as plain frozen data.

Tree-sitter queries (pagecheck/queries/*.scm) find the interesting nodes in C;
this module turns each match into a small fact holding strings and ints.  No
tree node survives past `extract()`, so facts can be cached, sent between
processes and compared.  Where we must look below a matched node (a condition,
a declarator) we walk iteratively with a depth bound: a 20,000-deep expression
must not blow the Python stack.

Facts use __slots__: a whole tree holds millions of them in the parent, and
a slotted object is a third of the size of one with a __dict__.

Facts are model-independent: they record every field access, call, copy and
test in a relevant function, and the role model decides later what they mean.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import lru_cache

from . import parse
from .prefilter import Plan, parsed_ranges
from .source import SourceFile

# How deep we follow an expression when naming a value or reading a condition.
# Deeper than any sane kernel expression; bounded so hostile input stays cheap.
MAX_EXPR_DEPTH = 64
MAX_TEXT = 120


@dataclass(frozen=True, slots=True)
class TypeRef:
    base: str  # "struct page", "void", "char", "struct rx_buf", "pgtable_t"
    ptr: int  # pointer depth, arrays counted as one level

    @property
    def is_page_ptr(self) -> bool:
        return self.base == "struct page" and self.ptr == 1

    @property
    def is_page_array(self) -> bool:
        return self.base == "struct page" and self.ptr >= 2


@dataclass(frozen=True, slots=True)
class Val:
    """An expression naming a value: `page`, `rx->page`, `pages[]`, or a call result `@<offset>`."""

    key: str
    root: str | None  # root identifier, None for call results
    path: tuple[str, ...] = ()  # member names / "[]" after the root


@dataclass(frozen=True, slots=True)
class Loc:
    pos: int
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class FieldUse:
    loc: Loc
    obj: Val
    field: str
    write: bool
    # `page->mapping = NULL`: the documented way to hand a field back (struct page's
    # comment: restore mapping to NULL before freeing) says nothing about the role
    null_store: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    loc: Loc
    callee: str
    args: tuple[Val | None, ...]
    arg_text: tuple[str, ...]
    result: str  # key of the call's result value, "@<offset>"


@dataclass(frozen=True, slots=True)
class Copy:
    loc: Loc
    dst: Val
    src: Val
    end: int  # the destination holds the new value from here on


@dataclass(frozen=True, slots=True)
class Return:
    loc: Loc
    value: Val


@dataclass(frozen=True, slots=True)
class Test:
    """A predicate known to hold (positive) or not hold over a byte region.

    `name` is a callee (`PageSlab`) or a field comparison (`pp_magic==PP_SIGNATURE`).
    """

    name: str
    arg: Val
    positive: bool
    start: int
    end: int
    line: int


@dataclass(frozen=True, slots=True)
class Branch:
    """The two arms of an if/else or ?: — code in one never runs with code in the other.

    For `if (c) { ...; return; }` without else, the second arm is the rest of the block.
    """

    then_start: int
    then_end: int
    else_start: int
    else_end: int
    guard: bool = False  # `if (c) {...; return;}`: the second arm is the rest of the block


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    static: bool
    loc: Loc
    start: int
    end: int
    ret: TypeRef
    params: tuple[tuple[str, TypeRef], ...]
    locals: tuple[tuple[str, TypeRef], ...]
    fields: tuple[FieldUse, ...]
    calls: tuple[Call, ...]
    copies: tuple[Copy, ...]
    returns: tuple[Return, ...]
    tests: tuple[Test, ...]
    branches: tuple[Branch, ...] = ()
    # then-arms of `if`s with no else that do not jump: code there may or may not run
    cond_arms: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class StructDef:
    name: str
    members: tuple[tuple[str, TypeRef], ...]


@dataclass(frozen=True, slots=True)
class FileFacts:
    path: str
    functions: tuple[Function, ...]
    structs: tuple[StructDef, ...]
    n_functions: int  # all function definitions found
    n_relevant: int  # those that passed the prefilter and were analysed
    n_error_nodes: int  # ERROR nodes at the top level (parse damage)
    has_error: bool = False
    notes: tuple[str, ...] = field(default=())
    size: int = 0  # bytes in the file
    error_bytes: int = 0  # bytes inside ERROR nodes: what the parse could not recover

    @property
    def parsed_share(self) -> float:
        """Share of the file's bytes that parsed into C (1.0 for a clean parse)."""
        return 1.0 - self.error_bytes / self.size if self.size else 1.0


def _fast_init(cls) -> None:
    """Give a frozen slotted dataclass an __init__ that stores through the slots'
    descriptors: the generated one calls object.__setattr__ per field, and a tree
    builds millions of facts (233 ns instead of 400 for a Loc).  Same signature
    and defaults, so calls, keywords and dataclasses.replace() are unchanged."""
    env: dict = {}
    params, body = [], []
    for f in dataclasses.fields(cls):
        slot = cls.__dict__.get(f.name)
        if f.default_factory is not dataclasses.MISSING or not f.init or type(slot).__name__ != "member_descriptor":
            return  # not a shape this handles: keep the dataclass's own
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            env[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        env[f"_s_{f.name}"] = slot.__set__
        body.append(f"    _s_{f.name}(self, {f.name})")
    if hasattr(cls, "__post_init__"):
        return
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n", env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init


for _cls in (TypeRef, Val, Loc, FieldUse, Call, Copy, Return, Test, Branch, Function, StructDef, FileFacts):
    _fast_init(_cls)
del _cls


def _text(node) -> str:
    return node.text[:MAX_TEXT].decode("utf-8", "replace")


_WS = re.compile(r"\s+")


def _type_text(node) -> str:
    return _normal_type(node.text[:MAX_TEXT])


@lru_cache(maxsize=8192)
def _normal_type(raw: bytes) -> str:
    t = _WS.sub(" ", raw.decode("utf-8", "replace")).strip()
    for q in ("const ", "volatile ", "static ", "extern ", "inline "):
        t = t.replace(q, "")
    return t.strip()


def _declarator_name_and_depth(decl) -> tuple[str | None, int]:
    """Walk a declarator down to its identifier, counting pointer/array levels."""
    depth = 0
    node = decl
    for _ in range(MAX_EXPR_DEPTH):
        t = node.type
        if t in ("identifier", "field_identifier", "type_identifier"):
            return _text(node), depth
        if t in ("pointer_declarator", "abstract_pointer_declarator"):
            depth += 1
        elif t in ("array_declarator", "abstract_array_declarator"):
            depth += 1
        elif t == "function_declarator":
            # a function pointer member/param: not a value we track
            return None, 0
        nxt = node.child_by_field_name("declarator")
        if nxt is None:
            return None, depth
        node = nxt
    return None, depth


def _decls(node) -> list[tuple[str, TypeRef]]:
    """(name, type) for each declarator of a declaration/parameter/field node."""
    tnode = node.child_by_field_name("type")
    if tnode is None:
        return []
    base = _type_text(tnode)
    out = []
    for d in node.children_by_field_name("declarator"):
        if d.type == "init_declarator":
            d = d.child_by_field_name("declarator")
            if d is None:
                continue
        name, depth = _declarator_name_and_depth(d)
        if name:
            out.append((name, TypeRef(base, depth)))
    return out


def _val(node) -> Val | None:
    """Name the value an expression denotes, or None if it is not a plain value."""
    if node.type == "identifier":  # most values: the loop below would say the same
        root = _text(node)
        return Val(root, root, ())
    path: list[str] = []
    arrows: list[str] = []
    for _ in range(MAX_EXPR_DEPTH):
        t = node.type
        if t == "parenthesized_expression":
            inner = node.named_children
            if len(inner) != 1:
                return None
            node = inner[0]
            continue
        if t == "cast_expression":
            node = node.child_by_field_name("value")
            if node is None:
                return None
            continue
        if t == "identifier":
            root = _text(node)
            key = root
            for sep, p in zip(reversed(arrows), reversed(path)):
                key += sep if p == "[]" else sep + p
            return Val(key, root, tuple(reversed(path)))
        if t == "field_expression":
            fld = node.child_by_field_name("field")
            op = node.child_by_field_name("operator")
            if fld is None:
                return None
            path.append(_text(fld))
            arrows.append(op.type if op is not None else "->")
            node = node.child_by_field_name("argument")
            continue
        if t == "subscript_expression":
            # the key names one element for a constant index (kbufs[4]), any element
            # otherwise (pages[]): kbufs[4] = kmalloc() is not kbufs[n] = vmalloc()
            idx = node.child_by_field_name("index")
            path.append("[]")
            arrows.append(f"[{_text(idx)}]" if idx is not None and idx.type == "number_literal" else "[]")
            node = node.child_by_field_name("argument")
            continue
        if t == "pointer_expression":
            op = node.child_by_field_name("operator")
            if op is not None and op.type == "*":
                path.append("[]")
                arrows.append("[]")
                node = node.child_by_field_name("argument")
                continue
            return None
        if t == "binary_expression" and not path:
            # `virt_to_phys(buf) >> PAGE_SHIFT` is the pfn of buf: it carries buf's role
            op = node.child_by_field_name("operator")
            if op is not None and op.type == ">>":
                node = node.child_by_field_name("left")
                continue
            # pointer arithmetic `buf + off` stays inside buf's allocation
            if op is not None and op.type in ("+", "-"):
                left = node.child_by_field_name("left")
                if left is not None and left.type in ("identifier", "field_expression", "call_expression",
                                                      "parenthesized_expression", "cast_expression"):
                    node = left
                    continue
            return None
        if t == "call_expression" and not path:
            return Val(f"@{node.start_byte}", None)
        if t == "call_expression":
            # virt_to_page(x)->index: a field of a call result
            key = f"@{node.start_byte}"
            for sep, p in zip(reversed(arrows), reversed(path)):
                key += sep if p == "[]" else sep + p
            return Val(key, None, tuple(reversed(path)))
        return None
    return None


def _loc(src: SourceFile, node) -> Loc:
    # tree-sitter's point: rows counted at b"\n", columns in bytes: SourceFile.line_col
    # less one each, without building a line table (parse.py keeps every newline and
    # offset of the file, masked or read by ranges)
    row, col = node.start_point
    return Loc(node.start_byte, row + 1, col + 1)


# --- conditions -----------------------------------------------------------------

def _strip_not(node, neg: bool):
    """Remove parentheses and `!`, tracking negation."""
    for _ in range(MAX_EXPR_DEPTH):
        if node.type == "parenthesized_expression" and len(node.named_children) == 1:
            node = node.named_children[0]
            continue
        op = node.child_by_field_name("operator") if node.type == "unary_expression" else None
        if op is not None and op.type == "!":
            neg = not neg
            node = node.child_by_field_name("argument")
            continue
        break
    return node, neg


def _leaf_atom(node, neg: bool):
    if node.type == "call_expression":
        return _call_atom(node, not neg)
    if node.type == "binary_expression":
        op = node.child_by_field_name("operator").type
        if op in ("==", "!="):
            return _field_compare(node, neg ^ (op == "!="))
    return None


def _atoms(cond) -> tuple[str, list[tuple[str, Val, bool]]]:
    """Split a condition into ("and"|"or"|"atom", [(name, value, positive)]).

    `!A && !B` is an "and" of negated atoms, `!(A && B)` an "or" (De Morgan).
    Leaves we cannot read are dropped: in `A && x > 0` we still know A in the
    then-branch; in `A || x > 0` we still know !A in the else-branch.
    """
    node, neg = _strip_not(cond, False)
    if node.type == "binary_expression":
        op = node.child_by_field_name("operator").type
        if op in ("&&", "||"):
            effective = op if not neg else ("||" if op == "&&" else "&&")
            atoms = []
            stack = [(node.child_by_field_name("right"), neg), (node.child_by_field_name("left"), neg)]
            steps = 0
            while stack and steps < 4 * MAX_EXPR_DEPTH:
                steps += 1
                sub, sub_neg = stack.pop()
                if sub is None:
                    continue
                sub, sub_neg = _strip_not(sub, sub_neg)
                if sub.type == "binary_expression":
                    sop = sub.child_by_field_name("operator").type
                    if sop in ("&&", "||"):
                        seff = sop if not sub_neg else ("||" if sop == "&&" else "&&")
                        if seff == effective:
                            stack.append((sub.child_by_field_name("right"), sub_neg))
                            stack.append((sub.child_by_field_name("left"), sub_neg))
                        continue
                a = _leaf_atom(sub, sub_neg)
                if a:
                    atoms.append(a)
            return ("and" if effective == "&&" else "or"), atoms
    a = _leaf_atom(node, neg)
    return ("atom", [a]) if a else ("", [])


def _call_atom(node, positive: bool):
    if node.type != "call_expression":
        return None
    fn = node.child_by_field_name("function")
    args = node.child_by_field_name("arguments")
    if fn is None or fn.type != "identifier" or args is None:
        return None
    for a in args.named_children:
        if a.type == "comment":
            continue
        # PageSlab(compound_head(page)), folio_test_slab(page_folio(page)):
        # a test through an identity conversion is a test of the page itself
        for _ in range(4):
            inner = a
            while inner.type == "parenthesized_expression" and inner.named_children:
                inner = inner.named_children[0]
            if inner.type != "call_expression":
                break
            f = inner.child_by_field_name("function")
            ia = inner.child_by_field_name("arguments")
            if f is None or _text(f) not in _IDENTITY_CONVERSIONS or ia is None or not ia.named_children:
                break
            a = ia.named_children[0]
        v = _val(a)
        if v is None:
            return None
        return (_text(fn), v, positive)
    return None


# Conversions that name the same page (or its folio/head): a predicate applied
# through them tests the page itself.
_IDENTITY_CONVERSIONS = {"compound_head", "page_folio", "virt_to_folio", "virt_to_head_page",
                         "virt_to_page", "netmem_to_page", "__netmem_to_page", "page_to_netmem"}

# Calls that write through their first argument: atomic_set(&page->_mapcount, -1).
_WRITING_CALL = re.compile(r"^(?:atomic(?:64|_long)?_(?:set|inc|dec|add|sub|and|or|andnot|xchg|cmpxchg|"
                           r"try_cmpxchg|fetch_\w+|\w+_return)\w*|WRITE_ONCE|__?set_bit|__?clear_bit|"
                           r"__?change_bit|test_and_\w+_bit|set_mask_bits)$")


def _field_compare(node, negated: bool):
    """`(page->pp_magic & ~0x3UL) == PP_SIGNATURE` → ("pp_magic==PP_SIGNATURE", page, True)."""
    left = node.child_by_field_name("left")
    right = node.child_by_field_name("right")
    for a, b in ((left, right), (right, left)):
        if b is None or b.type != "identifier":
            continue
        n = a
        for _ in range(8):
            if n.type == "parenthesized_expression" and n.named_children:
                n = n.named_children[0]
            elif n.type == "binary_expression" and n.child_by_field_name("operator").type == "&":
                n = n.child_by_field_name("left")
            else:
                break
        if n.type == "field_expression":
            v = _val(n.child_by_field_name("argument"))
            f = n.child_by_field_name("field")
            if v is not None and f is not None:
                return (f"{_text(f)}=={_text(b)}", v, not negated)
    return None


_JUMPS = {"return_statement", "goto_statement", "break_statement", "continue_statement"}


def _jumps(stmt) -> bool:
    if stmt.type in _JUMPS:
        return True
    if stmt.type == "compound_statement":
        kids = [c for c in stmt.named_children if c.type != "comment"]
        return bool(kids) and kids[-1].type in _JUMPS
    if stmt.type == "expression_statement":
        # BUG(), panic-like calls are not known here; keep it simple and exact
        return False
    return False


def _branch(node, then, alt) -> Branch | None:
    if alt is not None:
        return Branch(then.start_byte, then.end_byte, alt.start_byte, alt.end_byte)
    if node.type == "if_statement" and _jumps(then) and node.parent is not None:
        return Branch(then.start_byte, then.end_byte, node.end_byte, node.parent.end_byte, guard=True)
    return None


# Cases beyond this many are not paired: a 300-case register switch would give
# 45,000 pairs and none of them matter for pages.
MAX_SWITCH_CASES = 24


def _switch_branches(cases) -> list[Branch]:
    """Pairs of switch cases that never run together.

    Case i and a later case j are exclusive unless control can fall through
    from i into j, i.e. unless every case from i to j-1 runs off its end.
    """
    arms = [c for c in cases.named_children if c.type == "case_statement"][:MAX_SWITCH_CASES]
    closed = []
    for c in arms:
        body = [k for k in c.named_children if k.type not in ("comment",)]
        closed.append(bool(body) and _jumps(body[-1]))
    out = []
    for i, a in enumerate(arms):
        for j in range(i + 1, len(arms)):
            if any(closed[i:j]):
                b = arms[j]
                out.append(Branch(a.start_byte, a.end_byte, b.start_byte, b.end_byte))
    return out


def _tests_for_if(src: SourceFile, node, cond, then, alt) -> list[Test]:
    kind, atoms = _atoms(cond)
    if not atoms:
        return []
    line = node.start_point[0] + 1  # as in _loc
    out = []
    if kind in ("atom", "and"):
        for name, v, pos in atoms:
            out.append(Test(name, v, pos, then.start_byte, then.end_byte, line))
    if kind in ("atom", "or"):
        regions = []
        if alt is not None:
            regions.append((alt.start_byte, alt.end_byte))
        elif node.type == "if_statement" and _jumps(then):
            parent = node.parent
            if parent is not None:
                regions.append((node.end_byte, parent.end_byte))
        for start, end in regions:
            for name, v, pos in atoms:
                out.append(Test(name, v, not pos, start, end, line))
    return out


# --- extraction -----------------------------------------------------------------

def _function_header(fn_node, decl_node) -> tuple[str | None, list[tuple[str, TypeRef]], int]:
    """Name, parameters and return pointer depth of a function definition."""
    depth = 0
    node = decl_node
    for _ in range(MAX_EXPR_DEPTH):
        if node.type == "function_declarator":
            break
        if node.type == "pointer_declarator":
            depth += 1
        nxt = node.child_by_field_name("declarator")
        if nxt is None:
            return None, [], 0
        node = nxt
    else:
        return None, [], 0
    name_node = node.child_by_field_name("declarator")
    if name_node is None or name_node.type != "identifier":
        return None, [], 0
    params: list[tuple[str, TypeRef]] = []
    plist = node.child_by_field_name("parameters")
    if plist is not None:
        for p in plist.named_children:
            if p.type == "parameter_declaration":
                got = _decls(p)
                params.append(got[0] if got else ("", TypeRef("", 0)))
    return _text(name_node), params, depth


def extract(src: SourceFile, plan: Plan | None = None) -> FileFacts:
    """Parse one file and extract its facts.

    `plan` (from `prefilter.Prefilter.plan`) is the function-level prefilter:
    only its `keep` ranges are parsed (the rest is never read, offsets unchanged),
    and only functions holding one of its `hits` are analysed.  Without a plan
    the whole file is parsed and every function analysed.
    """
    # with a plan the parser reads only the kept items (and the #if lines between
    # them): offsets, lines and columns stay those of the file
    tree = parse.parse(src.data, ranges=None if plan is None else parsed_ranges(src.data, plan.keep))
    parsed = len(src.data) if plan is None else plan.kept_bytes
    root = tree.root_node
    functions: list[Function] = []
    structs: list[StructDef] = []
    n_functions = 0
    body_q = parse.query("body")
    n_errors = sum(1 for c in root.children if c.type == "ERROR")

    for _idx, caps in parse.function_matches(tree):
        if "function" in caps:
            n_functions += 1
            fn = caps["function"][0]
            body = caps["body"][0]
            # the header counts too: a wrapper `void rx_put(struct page *page)` that only
            # calls another function is what interprocedural summaries chain through
            if plan is not None and not plan.hit_in(fn.start_byte, fn.end_byte):
                continue
            name, params, depth = _function_header(fn, caps["decl"][0])
            if name is None:
                continue
            static = any(c.type == "storage_class_specifier" and c.text == b"static" for c in fn.children)
            rtype = TypeRef(_type_text(caps["rtype"][0]), depth)
            functions.append(_extract_function(src, body_q, fn, body, name, static, rtype, params))
        elif "struct" in caps:
            sbody = caps["sbody"][0]
            members = []
            for fd in sbody.named_children:
                if fd.type == "field_declaration":
                    for m, t in _decls(fd):
                        if t.ptr or t.base.startswith("struct "):
                            members.append((m, t))
            if members:
                structs.append(StructDef(_text(caps["sname"][0]), tuple(members)))
    return FileFacts(
        path=src.path,
        functions=tuple(functions),
        structs=tuple(structs),
        n_functions=n_functions,
        n_relevant=len(functions),
        n_error_nodes=n_errors,
        has_error=root.has_error,
        # with a plan only the kept items were parsed: the share is of those bytes
        # (damage in code never read cannot be seen, and cannot hide evidence either)
        size=parsed,
        error_bytes=(min(parse.error_bytes(tree, None if plan is None else plan.keep), parsed)
                     if root.has_error else 0),
    )


def _extract_function(src, body_q, fn, body, name, static, rtype, params) -> Function:
    locals_: list[tuple[str, TypeRef]] = []
    fields: list[FieldUse] = []
    calls: list[Call] = []
    copies: list[Copy] = []
    returns: list[Return] = []
    tests: list[Test] = []
    branches: list[Branch] = []
    cond_arms: list[tuple[int, int]] = []
    writes: set[int] = set()  # start bytes of field expressions that are written
    null_stores: set[int] = set()  # ... of those assigned NULL or 0

    callees: list[str] = []  # callee names in match order, for the second pass
    matches = parse.captures_in(body_q, fn, body.start_byte, body.end_byte)
    # first pass: which field expressions are written (lhs of assignment, ++/--)
    for idx, caps in matches:
        if idx == 3:
            lhs = caps["lhs"][0]
            if lhs.type == "field_expression":
                writes.add(lhs.start_byte)
                rhs = caps["rhs"][0]
                if rhs.type == "null" or (rhs.type == "number_literal" and rhs.text == b"0"):
                    null_stores.add(lhs.start_byte)
        elif idx == 8:
            writes.add(caps["target"][0].start_byte)
        elif idx == 2:
            callee = _text(caps["callee"][0])
            callees.append(callee)
            if not _WRITING_CALL.match(callee):
                continue
            args = caps["args"][0].named_children
            target = args[1] if len(args) > 1 and "bit" in callee else (args[0] if args else None)
            for _ in range(4):
                if target is None:
                    break
                if target.type in ("pointer_expression", "parenthesized_expression") and target.named_children:
                    target = target.named_children[-1]
                else:
                    break
            if target is not None and target.type == "field_expression":
                writes.add(target.start_byte)

    callee_names = iter(callees)
    for idx, caps in matches:
        if idx == 0:
            locals_.extend(_decls(caps["decl"][0]))
        elif idx == 1:
            node = caps["access"][0]
            obj = _val(caps["object"][0])
            if obj is not None:
                at = node.start_byte
                fields.append(FieldUse(_loc(src, node), obj, _text(caps["field"][0]), at in writes, at in null_stores))
        elif idx == 2:
            node = caps["call"][0]
            args_node = caps["args"][0]
            args = []
            texts = []
            for a in args_node.named_children:
                if a.type == "comment":
                    continue
                args.append(_val(a))
                t = _text(a)
                texts.append(t if t.isidentifier() else _WS.sub(" ", t))  # an identifier has no spaces
            calls.append(Call(_loc(src, node), next(callee_names), tuple(args), tuple(texts), f"@{node.start_byte}"))
        elif idx in (3, 4):
            lhs = caps["lhs"][0]
            if idx == 4:
                nm, _d = _declarator_name_and_depth(lhs)
                dst = Val(nm, nm) if nm else None
            else:
                op = caps["assign"][0].child_by_field_name("operator")
                if op is not None and op.type != "=":
                    continue
                dst = _val(lhs)
            src_v = _val(caps["rhs"][0])
            if dst is not None and src_v is not None:
                node = caps["assign"][0] if idx == 3 else caps["init"][0]
                copies.append(Copy(_loc(src, node), dst, src_v, node.end_byte))
        elif idx == 5:
            node = caps["if"][0]
            alt = node.child_by_field_name("alternative")
            tests.extend(_tests_for_if(src, node, caps["cond"][0], caps["then"][0], alt))
            b = _branch(node, caps["then"][0], alt)
            if b is not None:
                branches.append(b)
            elif alt is None:
                cond_arms.append((caps["then"][0].start_byte, caps["then"][0].end_byte))
        elif idx == 6:
            node = caps["ternary"][0]
            tests.extend(_tests_for_if(src, node, caps["cond"][0], caps["then"][0], caps["else"][0]))
            branches.append(Branch(caps["then"][0].start_byte, caps["then"][0].end_byte,
                                   caps["else"][0].start_byte, caps["else"][0].end_byte))
        elif idx == 7:
            v = _val(caps["value"][0])
            if v is not None:
                returns.append(Return(_loc(src, caps["return"][0]), v))
        elif idx == 9:
            branches.extend(_switch_branches(caps["cases"][0]))

    return Function(
        name=name,
        static=static,
        loc=_loc(src, fn),
        start=fn.start_byte,
        end=fn.end_byte,
        ret=rtype,
        params=tuple(params),
        locals=tuple(locals_),
        fields=tuple(fields),
        calls=tuple(calls),
        copies=tuple(copies),
        returns=tuple(returns),
        tests=tuple(tests),
        branches=tuple(branches),
        cond_arms=tuple(cond_arms),
    )

