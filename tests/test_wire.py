"""The worker → parent wire (wire.py): the facts a worker sends are exactly the facts the parent gets."""

from __future__ import annotations

import marshal
import shutil
from pathlib import Path

import pytest

from pagecheck import facts as facts_mod, runner, wire
from pagecheck.cache import FactsCache
from pagecheck.facts import Branch, Call, Copy, FieldUse, FileFacts, Function, Loc, Return, StructDef, TypeRef, Val
from pagecheck.prefilter import Terms
from pagecheck.runner import Options
from pagecheck.source import DEFAULT_MAX_FILE_SIZE, SourceFile

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def _round_trip(ff: FileFacts) -> FileFacts:
    data = wire.dumps(ff, FileFacts)
    assert type(data) is bytes
    return wire.loads(data, FileFacts)


def _edge_facts() -> FileFacts:
    page = TypeRef("struct page", 1)
    v = Val("rx->pâge", "rx", ("pâge",))
    fn = Function(
        name="ñame_页", static=True, loc=Loc(0, 1, 1), start=0, end=2**40, ret=TypeRef("void", 0),
        params=(("rx", TypeRef("struct rx_ring", 1)), ("", TypeRef("", 0))),
        locals=(("page", page),),
        fields=(FieldUse(Loc(5, 2, 3), v, "pâge", True, True), FieldUse(Loc(9, 2, 7), Val("p", "p"), "index", False)),
        calls=(Call(Loc(12, 3, 1), "put_page", (None, Val("@12", None), Val("rx->pâge", "rx", ("pâge",))),
                    ("", "a  b", "🙂"), "@12"),
               Call(Loc(30, 4, 1), "f", (), (), "@30")),
        copies=(Copy(Loc(40, 5, 1), Val("p", "p"), Val("@41", None), 50),),
        returns=(Return(Loc(60, 6, 1), Val("pages[]", "pages", ("[]",))),),
        tests=(facts_mod.Test("pp_magic==PP_SIGNATURE", v, False, 1, 2, 7),),
        branches=(Branch(1, 2, 3, 4), Branch(5, 6, 7, 8, guard=True)),
        cond_arms=((1, 2), (3, 4)),
    )
    empty = Function("g", False, Loc(100, 9, 1), 100, 120, page, (), (), (), (), (), (), ())
    return FileFacts("drivers/net/é.c", (fn, empty), (StructDef("rx_ring", (("page", page),)), StructDef("e", ())),
                     2, 2, 1, has_error=True, notes=("nöte", ""), size=123, error_bytes=4)


def test_every_fixture_round_trips():
    files = sorted(FIXTURES.rglob("*.c"))
    assert files
    for p in files:
        ff = facts_mod.extract(SourceFile(str(p), p.read_bytes()))
        assert _round_trip(ff) == ff


def test_none_args_empty_tuples_and_unicode_round_trip():
    ff = _edge_facts()
    got = _round_trip(ff)
    assert got == ff  # == tells a tuple from a list, None from "", and every field
    assert repr(got) == repr(ff)
    assert type(got.functions[0].params[0]) is tuple and type(got.functions[1].calls) is tuple
    empty = FileFacts("x.c", (), (), 0, 0, 0)
    assert _round_trip(empty) == empty


def test_values_and_strings_are_shared():
    ff = _edge_facts()
    got = _round_trip(ff)
    uses = got.functions[0].fields
    assert got.functions[0].tests[0].arg is uses[0].obj  # equal values of one payload: one object
    again = _round_trip(ff)
    assert again.functions[0].name is got.functions[0].name  # strings: one copy per run (interned)
    assert again.functions[0].calls[0].callee is got.functions[0].calls[0].callee


@pytest.mark.parametrize("bad", [b"", b"garbage", marshal.dumps(None), marshal.dumps((1, 2)), marshal.dumps([]),
                                 "truncated", "shifted"])
def test_bad_payloads_raise_wire_error(bad):
    good = wire.dumps(_edge_facts(), FileFacts)
    if bad == "truncated":
        bad = good[: len(good) // 2]
    elif bad == "shifted":
        bad = marshal.dumps(marshal.loads(good)[1:])
    with pytest.raises(wire.WireError):
        wire.loads(bad, FileFacts)


@pytest.fixture
def worker(model, monkeypatch):
    """This process set up as a worker (and parent) is."""
    monkeypatch.setattr(runner, "_WORKER", {})

    def setup(cache=None):
        runner._init_worker(Terms.from_model(model), DEFAULT_MAX_FILE_SIZE, cache)

    setup()
    return setup


def _a_file_with_facts(tmp_path) -> Path:
    src = next(p for p in sorted(FIXTURES.rglob("*.c")) if b"struct page" in p.read_bytes())
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    return dst


def test_a_payload_that_does_not_decode_is_recomputed(tmp_path, worker):
    path = str(_a_file_with_facts(tmp_path))
    res, payload = runner._process_for_parent(path)
    assert res.facts is None and type(payload) is bytes
    good = runner._with_facts(res, payload, {}).facts
    assert good is not None and good.functions
    res, payload = runner._process_for_parent(path)
    again = runner._with_facts(res, payload[: len(payload) // 2], {})  # damaged on the way
    assert again.status == "analysed" and again.facts == good


def test_a_cache_hit_is_validated_in_the_worker(tmp_path, worker):
    """Cache entries are decoded (checked) in the worker: the parent only ever gets a wire payload."""
    path = str(_a_file_with_facts(tmp_path))
    cache = FactsCache(str(tmp_path / "cache"), "salt")
    worker(cache)
    res, payload = runner._process_for_parent(path)  # cold: computes, stores the JSON entry
    fresh = runner._with_facts(res, payload, {}).facts
    entries = list((tmp_path / "cache").rglob("*.json"))
    assert len(entries) == 1
    res, payload = runner._process_for_parent(path)  # warm
    assert type(payload) is bytes and runner._with_facts(res, payload, {}).facts == fresh
    import json

    doc = json.loads(entries[0].read_text())
    doc["value"]["facts"][1] = "not a tuple of functions"  # right key, wrong shape
    entries[0].write_text(json.dumps(doc))
    res, payload = runner._process_for_parent(path)
    assert type(payload) is bytes and runner._with_facts(res, payload, {}).facts == fresh


def test_worker_processes_give_the_in_process_facts(model, ruleset, monkeypatch):
    """The pool path (facts over the wire) and the in-process path agree, file by file."""
    one = runner.run([str(FIXTURES)], model, ruleset, Options(jobs=1))
    decoded = []
    real = wire.loads

    def counting(data, typ):
        decoded.append(typ)
        return real(data, typ)

    monkeypatch.setattr(wire, "loads", counting)
    two = runner.run([str(FIXTURES)], model, ruleset, Options(jobs=2))
    assert len(decoded) == sum(1 for r in two.files if r.facts is not None) >= 8  # all came over the wire
    assert [(r.path, r.status, r.facts) for r in two.files] == [(r.path, r.status, r.facts) for r in one.files]
    assert two.findings == one.findings and two.findings
