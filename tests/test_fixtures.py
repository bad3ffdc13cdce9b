"""One parametrised test over every fixture: inline ruleid / ok / todo / role annotations."""

from __future__ import annotations

from pathlib import Path

import pytest

import annotations as ann
from pagecheck import facts as facts_mod
from pagecheck.infer import IDENTITY_KINDS, TypeEnv, analyse
from pagecheck.runner import Options, run
from pagecheck.source import read_source

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def fixture_units() -> list[Path]:
    """Single-file fixtures, and directories that form one multi-file fixture."""
    units = []
    for family in sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name != "demo"):
        for p in sorted(family.iterdir()):
            if p.suffix in (".c", ".h") or (p.is_dir() and p.name.startswith("PG")):
                units.append(p)
    return units


def _files(unit: Path) -> list[Path]:
    if unit.is_dir():
        return sorted(q for q in unit.rglob("*") if q.suffix in (".c", ".h"))
    return [unit]


@pytest.mark.parametrize("unit", fixture_units(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture(unit: Path, model, ruleset):
    result = run([str(unit)], model, ruleset, Options(jobs=1, root=str(unit if unit.is_dir() else unit.parent)))
    assert not result.diagnostics, result.diagnostics
    found: dict[tuple[str, int], list] = {}
    for f in result.findings:
        found.setdefault((Path(f.path).resolve().as_posix(), f.line), []).append(f.rule)
    problems = []
    annotated_rules: set[str] = set()
    expected_hits: set[tuple[str, int, str]] = set()
    for path in _files(unit):
        key = path.resolve().as_posix()
        exps, _pins = ann.read(path)
        for e in exps:
            annotated_rules.add(e.rule)
            hit = e.rule in found.get((key, e.line), [])
            where = f"{path.name}:{e.line} (annotation at line {e.annot_line})"
            if e.kind == "ruleid":
                expected_hits.add((key, e.line, e.rule))
                if not hit:
                    problems.append(f"{where}: expected {e.rule}, not reported")
            elif e.kind == "ok" and hit:
                problems.append(f"{where}: {e.rule} reported but marked ok")
            elif e.kind == "todoruleid" and hit:
                problems.append(f"{where}: todoruleid {e.rule} now fires — promote it to ruleid")
            elif e.kind == "todook":
                expected_hits.add((key, e.line, e.rule))
                if not hit:
                    problems.append(f"{where}: todook {e.rule} no longer fires — promote it to ok")
    # every finding of a rule under test must be expected
    for f in result.findings:
        k = (Path(f.path).resolve().as_posix(), f.line, f.rule)
        if f.rule in annotated_rules and k not in expected_hits:
            problems.append(f"{Path(f.path).name}:{f.line}: unexpected {f.rule}: {f.message}")
    assert not problems, "\n".join(problems)


def _role_units():
    out = []
    for unit in fixture_units():
        for path in _files(unit):
            if ann.read(path)[1]:
                out.append(path)
    return out


@pytest.mark.parametrize("path", _role_units(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_role_pins(path: Path, model):
    src = read_source(str(path))
    ff = facts_mod.extract(src)
    frs = analyse(model, TypeEnv.build([ff]), ff)
    _exps, pins = ann.read(path)
    problems = []
    for pin in pins:
        roles: set[str] = set()
        for fr in frs:
            if not (fr.function.loc.line <= pin.line):
                continue
            for vc in fr.values:
                if pin.value in vc.keys:
                    roles |= {e.role for e in vc.evidence if e.strength == "strong" and e.kind in IDENTITY_KINDS}
        if pin.role not in roles:
            problems.append(f"{path.name}:{pin.line}: `{pin.value}` should be {pin.role}, inferred {sorted(roles)}")
    assert not problems, "\n".join(problems)
