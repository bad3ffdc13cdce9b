"""[tool.pagecheck] in pyproject.toml and .pagecheck.toml: discovery, validation, precedence."""

from __future__ import annotations

import json

import pytest

from helpers_workflow import BAD, SLAB, check, findings, run_process
from pagecheck.config import FORMATS, find_config, load_config
from pagecheck.model import DataError
from pagecheck.report import FORMATTERS


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project with one PG401 and one PG301 file; the cwd is its top."""
    (tmp_path / "drivers" / "net").mkdir(parents=True)
    (tmp_path / "drivers" / "staging").mkdir(parents=True)
    (tmp_path / "drivers" / "net" / "rx.c").write_text(BAD)
    (tmp_path / "drivers" / "staging" / "hdr.c").write_text(SLAB)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_formats_list_matches_the_registry():
    assert set(FORMATS) == set(FORMATTERS)


def test_no_config_means_defaults(project):
    assert findings("drivers") == [("hdr.c", 6, "PG301"), ("rx.c", 5, "PG401")]


def test_pyproject_table_is_found_walking_up_and_applied(project, monkeypatch):
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.pagecheck]\nignore = ["PG3"]\n')
    assert findings("drivers") == [("rx.c", 5, "PG401")]
    monkeypatch.chdir(project / "drivers" / "net")  # from below the file's directory
    assert findings(".") == [("rx.c", 5, "PG401")]


def test_config_is_found_from_the_paths_when_not_from_the_cwd(project, tmp_path_factory, monkeypatch):
    (project / ".pagecheck.toml").write_text('select = ["PG3"]\n')
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    assert findings(project / "drivers") == [("hdr.c", 6, "PG301")]


def test_dedicated_file_beats_pyproject_and_pyproject_without_table_is_skipped(project):
    (project / "drivers" / "pyproject.toml").write_text('[project]\nname = "unrelated"\n[tool.black]\n')
    (project / "pyproject.toml").write_text('[tool.pagecheck]\nignore = ["PG4"]\n')
    assert find_config([str(project / "drivers")]) == project / "pyproject.toml"
    (project / ".pagecheck.toml").write_text('ignore = ["PG3"]\n')
    assert find_config([str(project / "drivers")]) == project / ".pagecheck.toml"
    assert findings("drivers") == [("rx.c", 5, "PG401")]


def test_command_line_flags_win(project):
    (project / ".pagecheck.toml").write_text('select = ["PG3"]\nformat = "json"\n')
    r = check("drivers")
    assert json.loads(r.stdout)["findings"][0]["rule"] == "PG301"  # format and select from the file
    assert findings("--select", "PG4", "drivers") == [("rx.c", 5, "PG401")]
    r = check("--format", "text", "drivers")
    assert r.stdout.startswith("drivers/staging/hdr.c:6:")


def test_isolated_and_explicit_config(project):
    (project / ".pagecheck.toml").write_text('ignore = ["PG"]\n')
    (project / "other.toml").write_text('select = ["PG401"]\n')
    assert findings("drivers") == []
    assert findings("--isolated", "drivers") == [("hdr.c", 6, "PG301"), ("rx.c", 5, "PG401")]
    assert findings("--config", "other.toml", "drivers") == [("rx.c", 5, "PG401")]


def test_per_path_ignores_and_exclude(project):
    (project / ".pagecheck.toml").write_text(
        'exclude = ["drivers/net/*"]\n[per-path-ignores]\n"drivers/staging/" = ["PG301"]\n')
    assert findings("drivers") == []
    (project / ".pagecheck.toml").write_text('[per-path-ignores]\n"drivers/staging/*.c" = ["PG4"]\n')
    assert findings("drivers") == [("hdr.c", 6, "PG301"), ("rx.c", 5, "PG401")]
    r = check("drivers")
    assert "not shown" not in r.stdout


def test_per_path_ignores_are_anchored_at_the_config_not_the_cwd(project, monkeypatch):
    (project / ".pagecheck.toml").write_text('exclude = ["drivers/net"]\n'
                                             '[per-path-ignores]\n"drivers/staging" = ["PG301"]\n')
    (project / "drivers" / "other" / "net").mkdir(parents=True)
    (project / "drivers" / "other" / "net" / "keep.c").write_text(BAD)
    monkeypatch.chdir(project / "drivers")
    assert findings(".") == [("keep.c", 5, "PG401")]  # only the top's drivers/net is excluded
    monkeypatch.chdir(project / "drivers" / "staging")
    assert findings("hdr.c") == []


def test_kernel_tree_jobs_and_max_file_size_from_config(project):
    tree = project / "linux"
    tree.mkdir()
    (project / ".pagecheck.toml").write_text('kernel-tree = "linux"\njobs = 2\nmax-file-size = 10\n')
    cfg = load_config(project / ".pagecheck.toml")
    assert cfg.kernel_tree == str(tree) and cfg.jobs == 2 and cfg.max_file_size == 10
    r = check("--format", "json", "drivers")
    doc = json.loads(r.stdout)
    assert {d["reason"] for d in doc["diagnostics"]} == {"too-large"}  # 10 bytes is too small for both
    assert findings("--max-file-size", "100000", "drivers")  # the flag wins


@pytest.mark.parametrize("text, key", [
    ('selct = ["PG1"]\n', "selct"),
    ('max_file_size = 10\n', "max_file_size"),
    ('jobs = "4"\n', "jobs"),
    ('jobs = -1\n', "jobs"),
    ('jobs = true\n', "jobs"),
    ('format = "xml"\n', "format"),
    ('select = "PG1"\n', "select"),
    ('ignore = ["E501"]\n', "ignore"),
    ('kernel-tree = "no/such/dir"\n', "kernel-tree"),
    ('[per-path-ignores]\n"drivers/*" = "PG1"\n', "per-path-ignores.'drivers/*'"),
    ('[per-path-ignores]\n"drivers/*" = []\n', "per-path-ignores.'drivers/*'"),
    ('max-file-size = 0\n', "max-file-size"),
])
def test_bad_config_names_file_and_key(tmp_path, text, key):
    cfg = tmp_path / ".pagecheck.toml"
    cfg.write_text(text)
    with pytest.raises(DataError) as exc:
        load_config(cfg)
    assert exc.value.path == str(cfg) and exc.value.key == key


def test_bad_config_is_exit_2_with_one_line_and_no_traceback(project):
    (project / "pyproject.toml").write_text('[tool.pagecheck]\nselect = ["PG1"]\nworkers = 3\n')
    p = run_process(["check", "drivers"], cwd=project)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        f"pagecheck: error: {project / 'pyproject.toml'}: tool.pagecheck.workers: unknown key; known keys: "
        "baseline, exclude, format, ignore, jobs, kernel-tree, max-file-size, per-path-ignores, select"]
    assert "Traceback" not in p.stderr and p.stdout == ""


def test_invalid_toml_is_exit_2(project):
    (project / ".pagecheck.toml").write_text("select = [\n")
    p = run_process(["check", "drivers"], cwd=project)
    assert p.returncode == 2 and "not valid TOML" in p.stderr and "Traceback" not in p.stderr


def test_unrelated_broken_pyproject_is_not_read(project):
    (project / "pyproject.toml").write_text("this is [not toml\n")
    assert findings("drivers") == [("hdr.c", 6, "PG301"), ("rx.c", 5, "PG401")]


def test_missing_explicit_config_and_bad_selector_flag_are_exit_2(project):
    assert check("--config", "nope.toml", "drivers").exit_code == 2
    r = check("--select", "E501", "drivers")
    assert r.exit_code == 2 and "--select" in r.output
