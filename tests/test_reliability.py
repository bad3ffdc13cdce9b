"""Reliability: hostile input never crashes or hangs a run, and every input file is accounted for.

Each class of hostile input from issue 6 has a test here.  The shared yardstick
is a small kernel-style file with one known finding (PG301 at GOOD_LINE): a run
over a directory holding it and any amount of trouble must still report that
finding, and its counts must add up to the number of .c/.h entries on disk.
Interrupts (SIGINT, SIGTERM) are tested on a real subprocess.  The hypothesis
test at the end feeds random and mutated C to extract → infer → engine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pagecheck import cli, runner, source
from pagecheck.runner import Options, run

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"

GOOD = b"""\
#include <linux/mm.h>

static int pin_header(size_t len)
{
\tvoid *hdr = kzalloc(len, GFP_KERNEL);
\tstruct page *page;

\tpage = virt_to_page(hdr);
\tget_page(page);
\treturn 0;
}
"""
GOOD_FINDING = ("PG301", 9)  # get_page() on a slab page


def _run(paths, model, ruleset, **opts):
    return run([str(p) for p in paths], model, ruleset, Options(jobs=opts.pop("jobs", 1), **opts))


def _found(result) -> set[tuple[str, int]]:
    return {(f.rule, f.line) for f in result.findings}


def _reasons(result) -> dict[str, str]:
    return {Path(d.path).name: d.reason for d in result.diagnostics}


def _accounted(result) -> int:
    s = result.stats
    assert s["files"] == s["analysed"] + s["prefiltered"] + s["skipped"]
    assert s["skipped"] == sum(s["not_analysed"].values())
    return s["files"]


def _on_disk(tree: Path) -> int:
    """What `find TREE -name '*.[ch]'` counts (without descending into hidden dirs)."""
    n = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        n += sum(1 for x in dirnames + filenames if x.endswith((".c", ".h")))
    return n


def _cli(args, env=None):
    res = CliRunner().invoke(cli.main, [str(a) for a in args], env=env, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


# --- every file accounted for ---------------------------------------------------------

@pytest.fixture
def hostile_tree(tmp_path):
    t = tmp_path / "tree"
    t.mkdir()
    (t / "good.c").write_bytes(GOOD)
    (t / "binary.c").write_bytes(b"\x7fELF\x02\x01\x01\0\0\0" + bytes(range(256)))
    (t / "empty.c").write_bytes(b"")
    (t / "big.h").write_bytes(b"#define REG_%d 0x1\n" * 1000)  # over the --max-file-size used below
    (t / "dir.c").mkdir()
    (t / "dir.c" / "inner.c").write_bytes(GOOD)
    (t / "dangling.h").symlink_to(t / "nowhere.h")
    (t / "loop1.c").symlink_to(t / "loop2.c")
    (t / "loop2.c").symlink_to(t / "loop1.c")
    (t / "sub").mkdir()
    (t / "sub" / "up").symlink_to(t, target_is_directory=True)  # a directory loop, never followed
    (t / "broken.c").write_bytes(b"static void f(struct page *p)\n{\n\tif (p) {\n/* unterminated comment\n")
    return t


def test_every_file_is_accounted_for_and_good_findings_survive(hostile_tree, model, ruleset):
    res = _run([hostile_tree], model, ruleset, max_file_size=8192)
    assert _accounted(res) == _on_disk(hostile_tree) == 10
    assert {(Path(f.path).name, f.rule, f.line) for f in res.findings} == {
        ("good.c", *GOOD_FINDING), ("inner.c", *GOOD_FINDING)}
    assert _reasons(res) == {
        "broken.c": "parse-errors",  # analysed, but little of it parsed: reported, not counted as skipped
        "binary.c": "not-text", "big.h": "too-large", "dir.c": "not-a-file", "dangling.h": "unreadable",
        "loop1.c": "unreadable", "loop2.c": "unreadable",
    }
    details = {Path(d.path).name: d.detail for d in res.diagnostics}
    assert details["dangling.h"] == "broken symbolic link"
    assert "--max-file-size" in details["big.h"]
    assert res.stats["not_analysed"] == {"not-a-file": 1, "not-text": 1, "too-large": 1, "unreadable": 3}


def test_accounting_in_every_format(hostile_tree):
    code, out, err = _cli(["check", "-j1", "--isolated", "--max-file-size", "8192", "--format", "json", hostile_tree])
    assert code == 1, err
    doc = json.loads(out)
    assert doc["files"]["files"] == 10 and doc["files"]["skipped"] == 6
    assert {Path(d["path"]).name: d["reason"] for d in doc["diagnostics"]}["big.h"] == "too-large"
    assert sorted((f["rule"], f["line"]) for f in doc["findings"]) == [GOOD_FINDING] * 2

    code, out, _ = _cli(["check", "-j1", "--isolated", "--max-file-size", "8192", "--format", "sarif", hostile_tree])
    inv = json.loads(out)["runs"][0]["invocations"][0]
    ids = sorted(n["descriptor"]["id"] for n in inv["toolExecutionNotifications"])
    assert ids == sorted(["pagecheck/not-text", "pagecheck/too-large", "pagecheck/not-a-file",
                          "pagecheck/parse-errors"] + ["pagecheck/unreadable"] * 3)
    assert inv["properties"]["files"]["files"] == 10

    code, out, _ = _cli(["check", "-j1", "--isolated", "--max-file-size", "8192", hostile_tree])
    assert code == 1
    assert "10 files" in out and "6 not analysed" in out and "too-large 1" in out
    assert out.count("not analysed: unreadable") == 3


def test_max_file_size_is_configurable(tmp_path, model, ruleset):
    f = tmp_path / "gen.c"
    f.write_bytes(GOOD + b"/* generated */\n" * 200)
    small = _run([f], model, ruleset, max_file_size=1024)
    assert _reasons(small) == {"gen.c": "too-large"} and not small.findings
    assert _found(_run([f], model, ruleset, max_file_size=1 << 20)) == {GOOD_FINDING}
    code, out, _ = _cli(["check", "-j1", "--isolated", "--max-file-size", "1024", f])
    assert code == 0 and "too-large" in out


def test_default_limit_skips_huge_generated_header_without_reading_it(tmp_path, model, ruleset):
    big = tmp_path / "asic_reg.h"
    line = b"#define mmREG_%05d_OFFSET 0x%05x /* struct page */\n"
    with open(big, "wb") as fh:
        for i in range(source.DEFAULT_MAX_FILE_SIZE // len(line) + 10):
            fh.write(line)
    (tmp_path / "good.c").write_bytes(GOOD)
    res = _run([tmp_path], model, ruleset)
    assert _reasons(res) == {"asic_reg.h": "too-large"}
    assert _found(res) == {GOOD_FINDING}


def test_hidden_directories_are_not_walked_unless_named(tmp_path, model, ruleset):
    # quilt keeps pre-patch copies in .pc/: walking it would double every finding
    (tmp_path / ".pc" / "p1").mkdir(parents=True)
    (tmp_path / ".pc" / "p1" / "good.c").write_bytes(GOOD)
    (tmp_path / "good.c").write_bytes(GOOD)
    assert _run([tmp_path], model, ruleset).stats["files"] == 1
    assert _run([tmp_path / ".pc"], model, ruleset).stats["files"] == 1


def test_missing_command_line_path_is_a_diagnostic(tmp_path, model, ruleset):
    (tmp_path / "good.c").write_bytes(GOOD)
    res = _run([tmp_path / "good.c", tmp_path / "missing.c"], model, ruleset)
    assert _reasons(res) == {"missing.c": "unreadable"}
    assert _found(res) == {GOOD_FINDING} and _accounted(res) == 2


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_symlink_loop_named_on_the_command_line(tmp_path, monkeypatch, fmt):
    (tmp_path / "loop1.c").symlink_to(tmp_path / "loop2.c")
    (tmp_path / "loop2.c").symlink_to(tmp_path / "loop1.c")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the files lie outside the report's root
    code, out, err = _cli(["check", "-j1", "--format", fmt, tmp_path / "loop1.c", tmp_path])
    assert code == 0, err
    assert "unreadable" in out and "Too many levels of symbolic links" in out


# --- encodings and odd bytes ------------------------------------------------------------

@pytest.mark.parametrize("transform", [
    pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="utf8-bom"),
    pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="crlf"),
    # the first line (an #include) replaced by a comment in another encoding: lines stay where they were
    pytest.param(lambda b: b"/* Copyright \xa9 J\xf6rg */" + b[b.index(b"\n"):], id="latin1"),
    pytest.param(lambda b: b"/* \xe2\x80\x94 utf-8, then \xff\xfe latin-1 \x80 */" + b[b.index(b"\n"):],
                 id="mixed-encodings"),
    pytest.param(lambda b: b.replace(b"return 0;", b"return 0; /* \x01\x02\x1b[31m */"), id="control-bytes"),
])
def test_encodings_do_not_change_findings(tmp_path, model, ruleset, transform):
    f = tmp_path / "enc.c"
    f.write_bytes(transform(GOOD))
    res = _run([f], model, ruleset)
    assert res.stats["analysed"] == 1
    assert _found(res) == {GOOD_FINDING}


def test_nul_bytes(tmp_path, model, ruleset):
    # NUL near the start: a binary file (as git decides); a stray NUL further on is parsed around
    (tmp_path / "early.c").write_bytes(b"\0" + GOOD)
    (tmp_path / "late.c").write_bytes(GOOD + b" " * 70000 + b"\0\n")
    res = _run([tmp_path], model, ruleset)
    assert _reasons(res) == {"early.c": "not-text"}
    assert {(Path(f.path).name, f.rule, f.line) for f in res.findings} == {("late.c", *GOOD_FINDING)}


def test_empty_and_whitespace_files(tmp_path, model, ruleset):
    (tmp_path / "empty.c").write_bytes(b"")
    (tmp_path / "blank.h").write_bytes(b"\n\n  \r\n\t")
    (tmp_path / "just-a-word.c").write_bytes(b"struct page")
    res = _run([tmp_path], model, ruleset)
    assert _accounted(res) == 3 and not res.diagnostics and not res.findings


@pytest.mark.parametrize("tail", [
    b"/* never closed struct page *p; put_page(p);\n",
    b'static const char *s = "never closed struct page *p;\n',
    b"static const char c = 'x\n",
    b"#if 1\nstatic void f(struct page *p) {\n",
    b"static void g(struct page *p) { if (p) { put_page(p); \n",
    b"#define X(a) \\\n",
])
def test_unterminated_constructs_keep_earlier_findings(tmp_path, model, ruleset, tail):
    f = tmp_path / "trunc.c"
    f.write_bytes(GOOD + tail)
    res = _run([f], model, ruleset)
    assert res.stats["analysed"] == 1
    assert _found(res) == {GOOD_FINDING}


def test_parse_damage_is_reported_with_the_recovered_share(tmp_path, model, ruleset):
    f = tmp_path / "damaged.c"
    # damage where it matters (the prefilter blanks, and so forgives, damage far from any page code)
    f.write_bytes(GOOD + b"static void broken(struct page *page)\n{\n" + b"))( ;; @@@ put_page(page) ``\n" * 400)
    res = _run([f], model, ruleset)
    assert res.stats["analysed"] == 1 and res.stats["partly_parsed"] == 1
    (d,) = res.diagnostics
    assert d.reason == "parse-errors"
    share = res.files[0].facts.parsed_share
    assert 0 < share < runner.PARSE_REPORT_BELOW and f"{share:.0%}" in d.detail
    assert _found(res) == {GOOD_FINDING}  # what parsed is still analysed
    code, out, _ = _cli(["check", "-j1", "--isolated", f])
    assert "partly analysed: parse-errors" in out and "(1 only in part)" in out


@pytest.mark.parametrize("head", [
    pytest.param(b'static struct m ms[] = {\n#ifdef X\n\t{ 1, "a" },\n#endif\n\t{ 2, "b" },\n};\n',
                 id="ifdef-in-initializer"),
    pytest.param(b"#if A\nstatic int f(void) {\n#else\nstatic int f(int x) {\n#endif\n\treturn 0;\n}\n",
                 id="two-headers-one-body"),
])
def test_functions_recovered_inside_an_error_node_are_not_parse_damage(tmp_path, model, ruleset, head):
    from pagecheck import parse

    # tree-sitter wraps the rest of such a file in one ERROR node, with good functions inside it
    data = head + GOOD * 3
    tree = parse.parse(data)
    (outer,) = [c for c in tree.root_node.children if c.type == "ERROR"]
    assert outer.end_byte - outer.start_byte > 0.9 * len(data)
    # the damage is the head (give or take the blank lines between items), not the functions after it
    assert parse.error_bytes(tree) < 2 * len(head) < 0.3 * len(data)
    f = tmp_path / "wrapped.c"
    f.write_bytes(data)
    res = _run([f], model, ruleset)
    assert res.diagnostics == []
    assert (GOOD_FINDING[0], GOOD_FINDING[1] + head.count(b"\n")) in _found(res)


# --- deep nesting, long lines: no recursion, no blow-up -----------------------------------

DEPTH = 20_000
_FN = b"\nstatic void deep(struct page *page)\n{\n"


@pytest.mark.parametrize("body", [
    pytest.param(b"x = " + b"(" * DEPTH + b"page" + b")" * DEPTH + b";\n}\n", id="parentheses"),
    pytest.param(b"{" * DEPTH + b"page->lru.next = 0;" + b"}" * DEPTH + b"\n}\n", id="braces"),
    pytest.param(b"if (PageSlab(page))\n" * DEPTH + b"put_page(page);\n}\n", id="ifs"),
    pytest.param(b"if (a) b(); else " * DEPTH + b"put_page(page);\n}\n", id="else-if-chain"),
    pytest.param(b"x = F(" * DEPTH + b"page" + b")" * DEPTH + b";\n}\n", id="macro-calls"),
    pytest.param(b"x = " + b"!" * DEPTH + b"PageSlab(page) && " * 10 + b"1;\n}\n", id="unary"),
    pytest.param(b"x = " + b"(" * DEPTH + b"page;\n", id="unbalanced-parentheses"),
    pytest.param(b"{" * DEPTH + b"\n", id="unbalanced-braces"),
    pytest.param(b"#if A\n" * DEPTH + b"put_page(page);\n}\n", id="preprocessor"),
])
def test_deep_nesting_without_python_recursion(tmp_path, model, ruleset, body):
    f = tmp_path / "deep.c"
    f.write_bytes(GOOD + _FN + body)
    # Far less stack than the nesting depth: any recursion over the tree would raise.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(_stack()) + 250)
    try:
        res = _run([f], model, ruleset)
    finally:
        sys.setrecursionlimit(limit)
    assert res.stats["analysed"] == 1, res.diagnostics
    assert GOOD_FINDING in _found(res)


def _stack():
    import inspect

    return inspect.stack(0)


def test_megabyte_lines(tmp_path, model, ruleset):
    f = tmp_path / "table.c"
    table = b"static const u8 fw[] = \"" + b"\\x00" * 500_000 + b"\";\n"  # 2 MB on one line
    comment = b"/* " + b"struct page " * 100_000 + b"*/\n"
    f.write_bytes(table + comment + GOOD)
    t0 = time.monotonic()
    res = _run([f], model, ruleset)
    assert time.monotonic() - t0 < 30
    lines = table.count(b"\n") + comment.count(b"\n")
    assert _found(res) == {(GOOD_FINDING[0], GOOD_FINDING[1] + lines)}


def test_many_inline_ignores_stay_linear(tmp_path):
    data = b"/* pagecheck: ignore[PG301] */\n" * 100_000
    t0 = time.monotonic()
    ignores = runner._scan_ignores("x.c", data)
    assert time.monotonic() - t0 < 5
    assert len(ignores) == 100_000 and ignores[-1].line == 100_000


# --- the file system moving under us -----------------------------------------------------

def _discover_then(action):
    real = runner.discover

    def wrapped(paths, exclude=()):
        found, skipped = real(paths, exclude)
        action()
        return found, skipped

    return wrapped


def test_files_vanishing_or_changing_after_discovery(tmp_path, model, ruleset, monkeypatch):
    for name in ("good.c", "gone.c", "grows.c", "now-dir.c", "now-empty.c", "now-binary.c"):
        (tmp_path / name).write_bytes(GOOD)

    def churn():
        (tmp_path / "gone.c").unlink()
        with open(tmp_path / "grows.c", "ab") as fh:
            fh.write(b"/* regenerated */\n" * 2000)
        (tmp_path / "now-dir.c").unlink()
        (tmp_path / "now-dir.c").mkdir()
        (tmp_path / "now-empty.c").write_bytes(b"")
        (tmp_path / "now-binary.c").write_bytes(b"\0\0\0")

    monkeypatch.setattr(runner, "discover", _discover_then(churn))
    res = _run([tmp_path], model, ruleset, max_file_size=16384)
    assert _accounted(res) == 6
    assert _reasons(res) == {"gone.c": "unreadable", "grows.c": "too-large", "now-dir.c": "not-a-file",
                             "now-binary.c": "not-text"}
    assert {(Path(f.path).name, f.rule, f.line) for f in res.findings} == {("good.c", *GOOD_FINDING)}


def test_file_growing_while_read(tmp_path, monkeypatch):
    f = tmp_path / "racy.c"
    f.write_bytes(GOOD)
    real_stat = os.stat

    def stale_stat(path, *a, **kw):  # stat saw the small file; by the read it is big
        st = real_stat(path, *a, **kw)
        if str(path) == str(f):
            f.write_bytes(GOOD * 100)
        return st

    monkeypatch.setattr(source.os, "stat", stale_stat)
    got = source.read_source(str(f), max_size=len(GOOD) * 10)
    assert isinstance(got, source.Skipped) and got.reason == "too-large"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_with_a_c_name_does_not_block(tmp_path, model, ruleset, monkeypatch):
    (tmp_path / "good.c").write_bytes(GOOD)
    os.mkfifo(tmp_path / "pipe.c")
    (tmp_path / "late.c").write_bytes(GOOD)
    assert _reasons(_run([tmp_path], model, ruleset)) == {"pipe.c": "not-a-file"}

    def fifo_after_stat():  # a FIFO takes a file's place between stat() and open()
        (tmp_path / "late.c").unlink()
        os.mkfifo(tmp_path / "late.c")

    real_stat = os.stat

    def stat_then_swap(path, *a, **kw):
        st = real_stat(path, *a, **kw)
        if str(path).endswith("late.c") and not os.path.exists(str(path) + ".swapped"):
            Path(str(path) + ".swapped").touch()
            fifo_after_stat()
        return st

    monkeypatch.setattr(os, "stat", stat_then_swap)
    got = source.read_source(str(tmp_path / "late.c"))
    assert isinstance(got, source.Skipped) and got.reason == "not-a-file"


def test_permission_denied_simulated(tmp_path, model, ruleset, monkeypatch):
    (tmp_path / "good.c").write_bytes(GOOD)
    (tmp_path / "secret.c").write_bytes(GOOD)
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "hidden.c").write_bytes(GOOD)
    real_open, real_scandir = os.open, os.scandir

    def fake_open(path, *a, **kw):
        if str(path).endswith("secret.c"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **kw)

    def fake_scandir(path="."):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "scandir", fake_scandir)
    res = _run([tmp_path], model, ruleset)
    assert _reasons(res) == {"secret.c": "unreadable", "locked": "unreadable"}
    details = {Path(d.path).name: d.detail for d in res.diagnostics}
    assert details["secret.c"] == "Permission denied"
    assert details["locked"].startswith("cannot list directory")
    assert _found(res) == {GOOD_FINDING}


def _as_unprivileged() -> list[str] | None:
    """A command prefix that runs as an unprivileged user, or None if we cannot."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    ok = subprocess.run(prefix + [sys.executable, "-c", "import pagecheck.cli"], capture_output=True)
    return prefix if ok.returncode == 0 else None


def test_permission_denied_for_real(tmp_path_factory):
    prefix = _as_unprivileged()
    if prefix is None:
        pytest.skip("cannot run the interpreter as an unprivileged user here (root, python under /root)")
    import tempfile

    tree = Path(tempfile.mkdtemp(prefix="pagecheck-perm-"))
    try:
        tree.chmod(0o755)
        (tree / "good.c").write_bytes(GOOD)
        (tree / "secret.c").write_bytes(GOOD)
        (tree / "secret.c").chmod(0)
        (tree / "locked").mkdir()
        (tree / "locked" / "x.c").write_bytes(GOOD)
        (tree / "locked").chmod(0)
        p = subprocess.run(prefix + [sys.executable, "-m", "pagecheck.cli", "check", "-j1", "--isolated",
                                     "--format", "json", str(tree)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 1, p.stderr
        doc = json.loads(p.stdout)
        assert {Path(d["path"]).name: d["reason"] for d in doc["diagnostics"]} == {
            "secret.c": "unreadable", "locked": "unreadable"}
        assert [(f["rule"], f["line"]) for f in doc["findings"]] == [GOOD_FINDING]
    finally:
        (tree / "locked").chmod(0o755)
        shutil.rmtree(tree)


# --- bad rules and roles: one line, file and key, exit 2 ------------------------------------

@pytest.fixture
def rules_copy(tmp_path):
    dst = tmp_path / "rules"
    shutil.copytree(RULES, dst)
    return dst


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def _first_rule(rules_dir: Path) -> Path:
    return sorted(rules_dir.glob("*/PG*.toml"))[0]


BROKEN_DATA = {
    "toml-syntax": (lambda d: _edit(d / "roles" / "slab.toml", "\n", "\nthis is = = not toml\n"),
                    "slab.toml", "line 2"),
    "not-utf8": (lambda d: (d / "roles" / "slab.toml").write_bytes(b'id = "slab"\ntitle = "\xff"\n'),
                 "slab.toml", "UTF-8"),
    "unknown-role-key": (lambda d: _edit(d / "roles" / "slab.toml", "\n", '\ncolour = "blue"\n'),
                         "slab.toml", "colour"),
    "wrong-type": (lambda d: _rewrite_key(d / "roles" / "slab.toml", "owners", "3"), "slab.toml", "owners"),
    "unknown-capability": (lambda d: _edit(d / "roles" / "slab.toml", "[capabilities]", "[capabilities]\nfly = true"),
                           "slab.toml", "capabilities.fly"),
    "unknown-rule-key": (lambda d: _edit(_first_rule(d), "\n", '\nsevertiy = "error"\n'),
                         "PG", "severtiy"),
    "bad-severity": (lambda d: _rewrite_key(_first_rule(d), "severity", '"fatal"'), "PG", "severity"),
    "unknown-role-in-rule": (lambda d: _edit(_first_rule(d), 'roles = ["', 'roles = ["nosuchrole", "'),
                             "PG", "nosuchrole"),
    "duplicate-id": (lambda d: _duplicate_rule(d), "PG", "already used"),
    "misnamed-rule-file": (lambda d: _first_rule(d).rename(_first_rule(d).parent / "PG9-bad.toml"),
                           "PG9-bad.toml", "PG###-name.toml"),
    "missing-operations": (lambda d: (d / "operations.toml").unlink(), "operations.toml", "cannot read"),
    "missing-roles": (lambda d: shutil.rmtree(d / "roles"), "roles", "missing"),
}


def _rewrite_key(path: Path, key: str, value: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(f"{key} ="):
            lines[i] = f"{key} = {value}\n"
            path.write_text("".join(lines))
            return
    raise AssertionError(f"{path} has no top-level {key}")


def _duplicate_rule(d: Path) -> None:
    first = _first_rule(d)
    rid, name = first.stem.split("-", 1)
    copy = first.parent / f"{rid}-{name}-again.toml"
    copy.write_text(first.read_text().replace(f'name = "{name}"', f'name = "{name}-again"'))


@pytest.mark.parametrize("case", sorted(BROKEN_DATA))
def test_broken_rule_data_is_one_clear_line(case, rules_copy, tmp_path):
    breaker, names_file, says = BROKEN_DATA[case]
    breaker(rules_copy)
    (tmp_path / "good.c").write_bytes(GOOD)
    for args in (["check", "-j1", "--isolated", tmp_path / "good.c"], ["rules"]):
        code, out, err = _cli(args, env={"PAGECHECK_RULES_DIR": str(rules_copy)})
        assert code == 2, (case, args, out, err)
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("pagecheck: error: ") and names_file in lines[0] and says in lines[0], lines[0]


def test_rules_dir_override_is_used(rules_copy, tmp_path):
    # a copy that disables every rule but PG301 changes what `pagecheck rules` lists
    for p in rules_copy.glob("*/PG*.toml"):
        if not p.name.startswith("PG301"):
            p.unlink()
    code, out, _ = _cli(["rules"], env={"PAGECHECK_RULES_DIR": str(rules_copy)})
    assert code == 0 and [ln.split()[0] for ln in out.splitlines()] == ["PG301"]


def test_bad_config_file_is_one_clear_line(tmp_path):
    cfg = tmp_path / ".pagecheck.toml"
    cfg.write_text("jobs = 'many'\n")
    (tmp_path / "good.c").write_bytes(GOOD)
    code, _, err = _cli(["check", "--config", cfg, tmp_path / "good.c"])
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and ".pagecheck.toml" in err and "jobs" in err
    cfg.write_text("[tool\n")
    code, _, err = _cli(["check", "--config", cfg, tmp_path / "good.c"])
    assert code == 2 and "line 1" in err and len(err.strip().splitlines()) == 1


# --- internal errors ------------------------------------------------------------------------

def test_internal_error_is_one_line_with_debug_hint(tmp_path, monkeypatch):
    (tmp_path / "good.c").write_bytes(GOOD)

    def boom(*a, **kw):
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr(cli, "run", boom)
    code, _, err = _cli(["check", "--isolated", tmp_path])
    assert code == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert "internal error" in line and "the engine fell over" in line and "--debug" in line
    code, _, err = _cli(["check", "--isolated", "--debug", tmp_path])
    assert code == 2 and "Traceback" in err and "the engine fell over" in err


def test_internal_error_in_one_file_keeps_the_others(tmp_path, model, ruleset, monkeypatch):
    (tmp_path / "good.c").write_bytes(GOOD)
    (tmp_path / "cursed.c").write_bytes(GOOD)
    real_extract = runner.facts_mod.extract

    def extract(src, *a, **kw):
        if src.path.endswith("cursed.c"):
            raise ValueError("bad luck")
        return real_extract(src, *a, **kw)

    monkeypatch.setattr(runner.facts_mod, "extract", extract)
    res = _run([tmp_path], model, ruleset)
    assert _reasons(res) == {"cursed.c": "internal-error"}
    assert {(Path(f.path).name, f.rule, f.line) for f in res.findings} == {("good.c", *GOOD_FINDING)}
    assert _accounted(res) == 2


def test_internal_error_in_analysis_of_one_file_keeps_the_others(tmp_path, model, ruleset, monkeypatch):
    (tmp_path / "good.c").write_bytes(GOOD)
    (tmp_path / "cursed.c").write_bytes(GOOD)
    real = runner.Engine.evaluate

    def evaluate(self, functions, *a, **kw):
        if any(fr.path.endswith("cursed.c") for fr in functions):
            raise KeyError("bad luck")
        return real(self, functions, *a, **kw)

    monkeypatch.setattr(runner.Engine, "evaluate", evaluate)
    res = _run([tmp_path], model, ruleset)
    assert _reasons(res) == {"cursed.c": "internal-error"}
    assert {Path(f.path).name for f in res.findings} == {"good.c"}
    assert _accounted(res) == 2 and res.stats["analysed"] == 1


# --- outputs are never half-written ------------------------------------------------------------

def test_write_atomic_replaces_whole_file(tmp_path):
    out = tmp_path / "report.json"
    out.write_text("old report\n")
    cli.write_atomic(str(out), "new report\n")
    assert out.read_text() == "new report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_write_atomic_failure_keeps_old_file_and_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "report.json"
    out.write_text("old report\n")

    def fail(*a, **kw):
        raise KeyboardInterrupt  # Ctrl-C while renaming

    monkeypatch.setattr(cli.os, "replace", fail)
    with pytest.raises(KeyboardInterrupt):
        cli.write_atomic(str(out), "new report\n" * 1000)
    assert out.read_text() == "old report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_write_atomic_unencodable_text_leaves_nothing(tmp_path):
    out = tmp_path / "report.txt"
    with pytest.raises(UnicodeEncodeError):
        cli.write_atomic(str(out), "half \ud800 written")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_one_line_exit_2(tmp_path):
    (tmp_path / "good.c").write_bytes(GOOD)
    code, _, err = _cli(["check", "-j1", "--isolated", "-o", tmp_path / "no" / "such" / "dir.json", tmp_path])
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [f"pagecheck: error: cannot write {tmp_path / 'no' / 'such' / 'dir.json'}: "
                                        "No such file or directory"]
    (tmp_path / "taken").mkdir()  # the target became a directory after the options were checked
    with pytest.raises(cli.OutputError):
        cli.write_atomic(str(tmp_path / "taken"), "report\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.c", "taken"]


def test_output_file_is_complete(tmp_path):
    (tmp_path / "good.c").write_bytes(GOOD)
    out = tmp_path / "out" / "r.json"
    out.parent.mkdir()
    code, _, _ = _cli(["check", "-j1", "--isolated", "--format", "json", "-o", out, tmp_path / "good.c"])
    assert code == 1 and json.loads(out.read_text())["findings"][0]["rule"] == GOOD_FINDING[0]
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]


def _children(pid: int) -> set[int]:
    kids = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.add(int(d))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _slow_files(t: Path, n: int) -> Path:
    body = GOOD + _FN + b"if (PageSlab(page))\n" * 12000 + b"put_page(page);\n}\n"  # ~0.3 s each
    for i in range(n):
        (t / f"f{i:03d}.c").write_bytes(body)
    return t


def _start_check(args: list[str]) -> subprocess.Popen:
    """`pagecheck check -j2 --isolated ARGS` in a new session (so its group can be signalled)."""
    return subprocess.Popen([sys.executable, "-m", "pagecheck.cli", "check", "-j2", "--isolated", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_pool(proc: subprocess.Popen, timeout: float = 60) -> set[int]:
    """The run's child processes once there are two (its worker pool), or what there is at the timeout."""
    deadline = time.monotonic() + timeout
    workers: set[int] = set()
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.05)
    return workers


@pytest.fixture(scope="module")
def slow_tree(tmp_path_factory):
    """Enough work that a two-worker run lasts well past the moment we interrupt it."""
    return _slow_files(tmp_path_factory.mktemp("slow"), 120)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find worker processes")
@pytest.mark.parametrize("sig,code,group", [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, False)],
                         ids=["ctrl-c", "sigterm"])
def test_interrupt_leaves_no_output_and_no_workers(slow_tree, tmp_path, sig, code, group):
    out = tmp_path / "report.sarif"
    proc = _start_check(["--format", "sarif", "-o", str(out), str(slow_tree)])
    try:
        workers = _wait_for_pool(proc)
        assert len(workers) >= 2, "the pool never started"
        time.sleep(0.5)  # let them get into the work
        assert proc.poll() is None, "the run finished before we could interrupt it; make slow_tree bigger"
        t0 = time.monotonic()
        if group:  # Ctrl-C: the terminal signals the whole foreground process group
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=15)
        assert time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    deadline = time.monotonic() + 5
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "worker processes outlived the run"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find worker processes")
def test_worker_killed_mid_run_is_reported_not_waited_for(tmp_path):
    """multiprocessing.Pool would wait forever for the file of a worker killed by the OOM killer."""
    (tmp_path / "tree").mkdir()
    slow_tree = _slow_files(tmp_path / "tree", 24)
    out = tmp_path / "report.json"
    proc = _start_check(["--format", "json", "-o", str(out), str(slow_tree)])
    try:
        deadline = time.monotonic() + 60
        workers = _wait_for_pool(proc)
        assert len(workers) >= 2, "the pool never started"
        time.sleep(0.5)
        # a run has two pools (scan, then facts: runner._map_files); kill a worker
        # that is alive now, whichever phase it serves
        while True:
            workers = _children(proc.pid) or workers
            try:
                os.kill(min(workers), signal.SIGKILL)
                break
            except ProcessLookupError:
                assert proc.poll() is None and time.monotonic() < deadline, "no worker left to kill"
                time.sleep(0.02)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 2, err  # a file went unanalysed because of us: not a clean bill of health
    assert "Traceback" not in err
    doc = json.loads(out.read_text())
    died = [d for d in doc["diagnostics"] if d["reason"] == "internal-error"]
    assert len(died) == 1 and died[0]["detail"] == "worker process died: killed by SIGKILL"
    assert doc["files"]["files"] == 24 and doc["files"]["analysed"] == 23
    assert len(doc["findings"]) == 23  # every other file's finding is there


def test_workers_imap_survives_deaths_and_keeps_order():
    from pagecheck import workers

    got = list(workers.imap(_die_on_some, range(300), jobs=2, chunk=8,
                            on_death=lambda item, why: ("died", item, why)))
    assert got == [("died", x, {7: "killed by SIGKILL", 13: "exit code 3"}[x]) if x in (7, 13) else x * x
                   for x in range(300)]


def _die_on_some(x: int) -> int:
    if x == 7:
        os.kill(os.getpid(), signal.SIGKILL)
    if x == 13:
        os._exit(3)
    return x * x


# --- property: random and mutated C never breaks extract → infer → engine ------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SEEDS = [GOOD] + [p.read_bytes() for p in sorted((ROOT / "fixtures").glob("*/PG*.c"))]
_TOKENS = [b"struct page *", b"page", b"->", b"(", b")", b"{", b"}", b";", b",", b"*", b"&", b"!", b"if (",
           b"else", b"return ", b"=", b"==", b"\n", b"/*", b"*/", b"\"", b"'", b"#define ", b"#if 0\n", b"\\\n",
           b"PageSlab(", b"put_page(", b"get_page(", b"virt_to_page(", b"kmalloc(", b"vmalloc(", b"kfree(",
           b"page_address(", b"->lru", b"->mapping", b"->pp_magic", b"folio", b"static ", b"void ",
           b"list_for_each_entry(", b"__rcu ", b"__printf(1, 2) ", b"\xff", b"\0", b"\r\n", b"[", b"]", b"?", b":"]


@st.composite
def _mutated_c(draw):
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "truncate", "flip", "swap"]))
        n = len(data)
        i = draw(st.integers(0, max(0, n)))
        j = draw(st.integers(i, min(n, i + 400)))
        if op == "delete":
            del data[i:j]
        elif op == "duplicate":
            data[i:i] = data[i:j]
        elif op == "insert":
            data[i:i] = b"".join(draw(st.lists(st.sampled_from(_TOKENS), max_size=30)))
        elif op == "truncate":
            del data[i:]
        elif op == "flip" and n:
            data[min(i, n - 1)] = draw(st.integers(0, 255))
        elif op == "swap":
            k = draw(st.integers(0, max(0, n)))
            data[i:j], data[k:k] = b"", data[i:j]
    return bytes(data)


_ANY_C = st.one_of(
    _mutated_c(),
    st.lists(st.sampled_from(_TOKENS), max_size=200).map(b"".join),
    st.binary(max_size=2000),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=_ANY_C)
def test_pipeline_never_raises_on_random_and_mutated_c(model, ruleset, tmp_path, data):
    from pagecheck import facts
    from pagecheck.engine import Engine

    # the whole file, every function analysed ...
    ff = facts.extract(source.SourceFile("fuzz.c", data))
    assert 0.0 <= ff.parsed_share <= 1.0
    tree = runner.global_phase(model, [ff], [])
    for f in Engine(model, ruleset).evaluate(tree.roles_of(ff)):
        assert 1 <= f.line <= data.count(b"\n") + 1
    # ... and what a run does: read, prefilter, parse the kept parts, infer, rules, ignores
    (tmp_path / "fuzz.c").write_bytes(data)
    res = _run([tmp_path / "fuzz.c"], model, ruleset)
    assert [d for d in res.diagnostics if d.reason == "internal-error"] == []
    assert _accounted(res) == 1
