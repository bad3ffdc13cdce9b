"""Dataclasses ⇄ nested tuples for the worker → parent channel, sent with marshal.

The cache keeps codec.py's JSON (data that cannot run code, validated on
load).  Between a forked worker and its parent the data is our own, made a
moment ago by the same code, so this format trades validation for speed:

* the worker turns a dataclass into the tuple of its field values in
  declaration order (sequences become lists, or tuples inside shared values),
  interning every string, and `marshal.dumps` it.  marshal writes an interned
  string once per payload and `marshal.loads` interns it again in the parent
  (in C), so the parent's copies of `page`, `mapping`, `struct page` are one
  object across the whole run, as codec's string memo made them;
* the parent builds each object with `object.__new__` and the slots' own
  descriptors (frozen dataclasses' `__init__` goes through
  `object.__setattr__` per field, about twice the cost), and shares the
  `Val`/`TypeRef` objects of one payload, keyed by their tuple (C hashing).

Encoders and decoders are generated from the dataclasses' type hints once per
type, as codec.py's are: adding a field to a facts dataclass needs no change
here.  A payload that does not decode raises `WireError`; the caller then
recomputes the file.  Never use this for data from disk or another user:
nothing is checked.
"""

from __future__ import annotations

import dataclasses
import marshal
import sys
import typing
from functools import lru_cache
from typing import Any, Callable

from .codec import _SHARED, _hints, _is_union


class WireError(ValueError):
    """A payload that does not decode as the type it should be."""


_SCALARS = (int, float, bool, type(None), Any)


def dumps(obj: Any, typ: Any) -> bytes:
    return marshal.dumps(_encoder(typ)(obj))


def encode(obj: Any, typ: Any) -> tuple:
    """The tuples `dumps` marshals.  They have codec.encode's shape (a dataclass
    as its field values in order, sequences as sequences), so json.dumps of
    them is the cache's JSON: a worker encodes a file's facts once for both."""
    return _encoder(typ)(obj)


def dumps_encoded(encoded: tuple) -> bytes:
    return marshal.dumps(encoded)


def loads(data: bytes, typ: Any) -> Any:
    try:
        dec = _decoder(typ)  # first: it numbers the shared classes
        return dec(marshal.loads(data), [{} for _ in _SLOTS])
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, EOFError) as exc:
        raise WireError(f"bad {getattr(typ, '__name__', typ)} payload: {type(exc).__name__}: {exc}") from None


_SLOTS: dict = {}  # shared class -> its index in a payload's list of value tables


def _shared_slot(cls) -> int:
    return _SLOTS.setdefault(cls, len(_SLOTS))


def _seq_item(typ):
    """The item type of a homogeneous sequence type, else None."""
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin is list and args:
        return args[0]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _optional(typ):
    if not _is_union(typ):
        return None
    alts = [a for a in typing.get_args(typ) if a is not type(None)]
    if len(alts) != 1:
        raise WireError(f"unsupported union {typ}")
    return alts[0]


def _plain(typ) -> bool:
    """Marshal carries values of this type unchanged, both ways (no str: those are interned)."""
    if typ in _SCALARS:
        return True
    inner = _optional(typ)
    if inner is not None:
        return _plain(inner)
    item = _seq_item(typ)
    if item is not None:
        return _plain(item)
    if typing.get_origin(typ) is tuple:
        return all(_plain(a) for a in typing.get_args(typ))
    return False


def _str_tree(typ) -> bool:
    """Only strings and plain values, in tuples: decoded as is."""
    if typ is str or _plain(typ):
        return True
    inner = _optional(typ)
    if inner is not None:
        return _str_tree(inner)
    origin = typing.get_origin(typ)
    if origin is tuple:
        item = _seq_item(typ)
        return _str_tree(item) if item is not None else all(_str_tree(a) for a in typing.get_args(typ))
    return False


# --- worker side -------------------------------------------------------------------

@lru_cache(maxsize=None)
def _encoder(typ) -> Callable[[Any], Any]:
    env: dict = {"intern": sys.intern, "map": map, "tuple": tuple}
    if dataclasses.is_dataclass(typ):
        names = [f.name for f in dataclasses.fields(typ)]
        hints = _hints(typ)
        # shared values are dict keys in the parent: tuples all the way down
        hashable = typ.__name__ in _SHARED
        counter = [0]
        parts = [_enc_expr(hints[n], f"o.{n}", env, counter, hashable) for n in names]
        body = f"({', '.join(parts)},)" if parts else "()"
    else:
        body = _enc_expr(typ, "o", env, [0], False)
    src = f"def enc(o):\n    return {body}\n"
    exec(compile(src, f"<wire enc {getattr(typ, '__name__', typ)}>", "exec"), env)
    return env["enc"]


def _enc_expr(typ, var: str, env: dict, counter: list, hashable: bool) -> str:
    if typ is str:
        return f"intern({var})"
    if _plain(typ):
        return var
    if dataclasses.is_dataclass(typ):
        counter[0] += 1
        name = f"_e{counter[0]}"
        env[name] = _encoder(typ)
        return f"{name}({var})"
    inner = _optional(typ)
    if inner is not None:
        return f"(None if {var} is None else {_enc_expr(inner, var, env, counter, hashable)})"
    item = _seq_item(typ)
    if item is not None:
        if item is str:
            return f"tuple(map(intern, {var}))"
        counter[0] += 1
        x = f"x{counter[0]}"
        each = _enc_expr(item, x, env, counter, hashable)
        comp = f"[{each} for {x} in {var}]"
        # an empty one costs no comprehension (most of a function's lists are empty)
        return f"(tuple({comp}) if {var} else ())" if hashable else f"({comp} if {var} else ())"
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin is tuple:
        parts = [_enc_expr(a, f"{var}[{i}]", env, counter, hashable) for i, a in enumerate(args)]
        return f"({', '.join(parts)},)" if parts else "()"
    if origin is dict and args and args[0] is str and not hashable:
        counter[0] += 1
        x = f"x{counter[0]}"
        return f"{{intern(k{x}): {_enc_expr(args[1], x, env, counter, False)} for k{x}, {x} in {var}.items()}}"
    raise WireError(f"unsupported type {typ!r}")


# --- parent side -------------------------------------------------------------------

@lru_cache(maxsize=None)
def _decoder(typ) -> Callable[[Any, list], Any]:
    env: dict = {"new": object.__new__, "tuple": tuple}
    if not dataclasses.is_dataclass(typ):
        src = f"def dec(v, S):\n    return {_dec_expr(typ, 'v', env, [0])}\n"
        exec(compile(src, f"<wire dec {typ!r}>", "exec"), env)
        return env["dec"]
    cls = typ
    names = [f.name for f in dataclasses.fields(cls)]
    hints = _hints(cls)
    counter = [0]
    values = [_dec_expr(hints[n], f"f{i}", env, counter) for i, n in enumerate(names)]
    env["cls"] = cls
    build = []
    if hasattr(cls, "__post_init__") or not all(_slot_setter(cls, n) for n in names):
        build.append(f"o = cls({', '.join(values)})")
    else:
        build.append("o = new(cls)")
        for n, val in zip(names, values):
            env[f"set_{n}"] = _slot_setter(cls, n)
            build.append(f"set_{n}(o, {val})")
    # unpacking checks the field count too
    lines = ["def dec(v, S):", f"    ({''.join(f'f{i}, ' for i in range(len(names)))}) = v"]
    if cls.__name__ in _SHARED:
        lines += [f"    objs = S[{_shared_slot(cls)}]", "    o = objs.get(v)", "    if o is not None:",
                  "        return o"]
        build.append("objs[v] = o")
    lines += [f"    {b}" for b in build] + ["    return o"]
    exec(compile("\n".join(lines) + "\n", f"<wire dec {cls.__name__}>", "exec"), env)
    return env["dec"]


def _slot_setter(cls, name: str):
    """The slot descriptor's __set__ (a C call; frozen classes' __setattr__ raises)."""
    d = cls.__dict__.get(name)
    if d is not None and type(d).__name__ == "member_descriptor":
        return d.__set__
    return None


def _dec_expr(typ, var: str, env: dict, counter: list) -> str:
    if _str_tree(typ):
        return var
    if dataclasses.is_dataclass(typ):
        counter[0] += 1
        name = f"_d{counter[0]}"
        env[name] = _decoder(typ)
        return f"{name}({var}, S)"
    inner = _optional(typ)
    if inner is not None:
        return f"(None if {var} is None else {_dec_expr(inner, var, env, counter)})"
    item = _seq_item(typ)
    if item is not None:
        counter[0] += 1
        x = f"x{counter[0]}"
        comp = f"[{_dec_expr(item, x, env, counter)} for {x} in {var}]"
        if typing.get_origin(typ) is tuple:
            return f"(tuple({comp}) if {var} else ())"
        return comp
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin is tuple:
        parts = [_dec_expr(a, f"{var}[{i}]", env, counter) for i, a in enumerate(args)]
        return f"({', '.join(parts)},)" if parts else "()"
    if origin is dict and args and args[0] is str:
        counter[0] += 1
        x = f"x{counter[0]}"
        return f"{{k{x}: {_dec_expr(args[1], x, env, counter)} for k{x}, {x} in {var}.items()}}"
    raise WireError(f"unsupported type {typ!r}")
