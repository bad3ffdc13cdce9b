"""Dataclasses ⇄ plain JSON values, driven by the dataclasses' own type hints.

The cache carries facts (and, for a whole-run cache hit, findings) as JSON:
data that cannot run code when loaded, unlike pickle.  (Between a worker and
its parent, facts travel in wire.py's unchecked format instead; a worker
decodes a cache entry here first.)  A dataclass becomes the list of its
field values in declaration order, so the encoding is compact and follows
the class: add a field to
`facts.Function` and the codec picks it up (the cache key includes the code's
digest, so old entries are never read with the new shape).

Decoding validates as it builds: a value of the wrong shape raises
`CodecError`, which callers treat as "not cached" — a corrupt or foreign cache
file is never trusted.  Strings and small value objects (`Val`, `TypeRef`)
are shared across one decode session: a whole tree holds millions of facts
and most of them repeat the same few names.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from functools import lru_cache
from typing import Any, Callable, Union


class CodecError(ValueError):
    """A value does not have the shape its type says."""


_Dec = Callable[[Any, dict], Any]
_Enc = Callable[[Any], Any]

# Dataclasses whose instances are immutable values that repeat within one file
# (`page`, `rx->page`, `struct page *`): shared within one decode call.  Strings
# are shared across calls through the caller's memo.  (Not Loc: unique by offset,
# so sharing it would only cost a key per location.)
_SHARED = {"Val", "TypeRef"}
_OBJS = object()  # memo slot holding the per-call table of shared values


def encode(obj: Any, typ: Any) -> Any:
    return _encoder(typ)(obj)


def decode(data: Any, typ: Any, memo: dict | None = None) -> Any:
    """Build a `typ` from its encoding; `memo` shares strings across calls."""
    memo = {} if memo is None else memo
    memo[_OBJS] = {}
    try:
        return _decoder(typ)(data, memo)
    except CodecError:
        raise
    except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
        raise CodecError(f"bad {getattr(typ, '__name__', typ)}: {type(exc).__name__}: {exc}") from None
    finally:
        del memo[_OBJS]


def _hints(cls) -> dict:
    module = sys.modules.get(cls.__module__)
    return typing.get_type_hints(cls, vars(module) if module else None)


def _is_union(typ) -> bool:
    return typing.get_origin(typ) is Union or isinstance(typ, types.UnionType)


@lru_cache(maxsize=None)
def _encoder(typ) -> _Enc:
    """An encoding function for `typ`, generated as Python source once per type
    (a closure per field costs a call per value, as in _decoder)."""
    if typ in (str, int, float, bool, type(None), Any):
        return lambda v: v
    env: dict = {"list": list}
    if dataclasses.is_dataclass(typ):
        hints = _hints(typ)
        counter = [0]
        parts = [_encode_expr(hints[f.name], f"v.{f.name}", env, counter) for f in dataclasses.fields(typ)]
        body = f"[{', '.join(parts)}]"
    else:
        body = _encode_expr(typ, "v", env, [0])
    src = f"def enc(v):\n    return {body}\n"
    exec(compile(src, f"<codec enc {getattr(typ, '__name__', typ)!s}>", "exec"), env)
    return env["enc"]


def _encode_expr(typ, var: str, env: dict, counter: list) -> str:
    """A Python expression encoding `var` (a name or attribute access) as `typ`."""
    if typ in (str, int, float, bool, type(None), Any):
        return var
    counter[0] += 1
    n = counter[0]
    if dataclasses.is_dataclass(typ):
        env[f"_enc{n}"] = _encoder(typ)
        return f"_enc{n}({var})"
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if _is_union(typ):
        alts = [a for a in args if a is not type(None)]
        if len(alts) != 1:
            raise CodecError(f"unsupported union {typ}")
        return f"(None if {var} is None else {_encode_expr(alts[0], var, env, counter)})"
    if origin in (tuple, list) and (origin is list or (len(args) == 2 and args[1] is Ellipsis)):
        inner = _encode_expr(args[0], f"x{n}", env, counter)
        return f"list({var})" if inner == f"x{n}" else f"[{inner} for x{n} in {var}]"
    if origin is tuple:
        return f"[{', '.join(_encode_expr(a, f'{var}[{i}]', env, counter) for i, a in enumerate(args))}]"
    if origin is dict and args and args[0] is str:
        return f"{{k{n}: {_encode_expr(args[1], f'x{n}', env, counter)} for k{n}, x{n} in {var}.items()}}"
    if typ is dict or origin is dict:
        return var  # free-form JSON (stats)
    raise CodecError(f"unsupported type {typ!r}")


@lru_cache(maxsize=None)
def _decoder(typ) -> _Dec:
    """A decoding function for `typ`, generated as Python source once per type.

    Closures per field cost a call per value, and a tree holds millions of
    values; the generated function checks and builds a whole dataclass inline.
    """
    if dataclasses.is_dataclass(typ):
        return _dataclass_decoder(typ)
    env: dict = {"CodecError": CodecError}
    expr = _decode_expr(typ, "v", env, [0])
    src = f"def dec(v, memo):\n    return {expr}\n"
    exec(compile(src, f"<codec {typ!r}>", "exec"), env)
    return env["dec"]


def _dataclass_decoder(cls) -> _Dec:
    hints = _hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    env: dict = {"CodecError": CodecError, "cls": cls}
    counter = [0]
    lines = ["def dec(v, memo):",
             f"    if type(v) is not list or len(v) != {len(names)}:",
             f"        raise CodecError('expected {len(names)} fields for {cls.__name__}')"]
    args = []
    for i, n in enumerate(names):
        args.append(_decode_expr(hints[n], f"v[{i}]", env, counter))
    call = f"cls({', '.join(args)})"
    if cls.__name__ in _SHARED:
        # immutable values repeat: share them, keyed by their JSON shape (hashing a
        # tuple is C; hashing a dataclass is a Python call)
        lines.append("    objs = memo[_OBJS]")
        lines.append("    k = (cls, _freeze(v))")
        lines.append("    o = objs.get(k)")
        lines.append("    if o is None:")
        lines.append(f"        o = objs[k] = {call}")
        lines.append("    return o")
        env["_freeze"] = _freeze
        env["_OBJS"] = _OBJS
    else:
        lines.append(f"    return {call}")
    exec(compile("\n".join(lines) + "\n", f"<codec {cls.__name__}>", "exec"), env)
    return env["dec"]


def _freeze(v):
    if type(v) is not list:
        return v
    return tuple([_freeze(x) if type(x) is list else x for x in v])


def _check_str(v, memo):
    if type(v) is not str:
        raise CodecError(f"expected str, got {type(v).__name__}")
    return memo.setdefault(v, v)


def _check_int(v):
    if type(v) is not int:
        raise CodecError(f"expected int, got {type(v).__name__}")
    return v


def _check_bool(v):
    if type(v) is not bool:
        raise CodecError(f"expected bool, got {type(v).__name__}")
    return v


def _check_list(v):
    if type(v) is not list:
        raise CodecError(f"expected list, got {type(v).__name__}")
    return v


def _check_dict(v):
    if type(v) is not dict:
        raise CodecError(f"expected object, got {type(v).__name__}")
    return v


def _check_none(v):
    if v is not None:
        raise CodecError("expected null")


def _check_float(v):
    if type(v) not in (int, float):
        raise CodecError(f"expected number, got {type(v).__name__}")
    return float(v)


def _decode_expr(typ, var: str, env: dict, counter: list) -> str:
    """A Python expression decoding `var` as `typ` (names it needs go into env)."""
    def name(obj, hint: str) -> str:
        counter[0] += 1
        n = f"_{hint}{counter[0]}"
        env[n] = obj
        return n

    for t, fn in ((str, _check_str), (int, _check_int), (bool, _check_bool), (float, _check_float),
                  (type(None), _check_none)):
        if typ is t:
            f = name(fn, t.__name__)
            return f"{f}({var}, memo)" if t is str else f"{f}({var})"
    if typ is Any:
        return var
    if dataclasses.is_dataclass(typ):
        return f"{name(_decoder(typ), typ.__name__)}({var}, memo)"
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if _is_union(typ):
        alts = [a for a in args if a is not type(None)]
        if len(alts) != 1:
            raise CodecError(f"unsupported union {typ}")
        inner = name(_decoder(alts[0]), "opt")
        return f"(None if {var} is None else {inner}({var}, memo))"
    if origin in (tuple, list) and (origin is list or (len(args) == 2 and args[1] is Ellipsis)):
        inner = _decode_expr(args[0], "x", env, counter)
        build = "tuple" if origin is tuple else "list"
        return f"{build}([{inner} for x in {name(_check_list, 'seq')}({var})])"
    if origin is tuple:
        parts = [_decode_expr(a, f"{var}[{i}]", env, counter) for i, a in enumerate(args)]
        return (f"(({', '.join(parts)},) if type({var}) is list and len({var}) == {len(args)} "
                f"else {name(_bad_tuple, 'bad')}({len(args)}))")
    if origin is dict and args and args[0] is str:
        inner = _decode_expr(args[1], "x", env, counter)
        return f"{{k: {inner} for k, x in {name(_check_dict, 'dict')}({var}).items()}}"
    if typ is dict or origin is dict:
        return f"{name(_check_dict, 'dict')}({var})"
    raise CodecError(f"unsupported type {typ!r}")


def _bad_tuple(n):
    raise CodecError(f"expected a {n}-tuple")
