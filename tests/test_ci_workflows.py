"""The CI jobs in docs/ run for real: their shell steps, against git repositories shaped
like a pull request and a push, produce the SARIF / Code Quality report they would upload.

Only the `pip install` step is not run (it installs pagecheck from GitHub); the steps
use the pagecheck installed in this environment instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from helpers_workflow import BAD, SLAB

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("git") is None,
                                reason="the CI steps are bash scripts over git")


def _bin_dir() -> str:
    here = Path(sys.executable).parent
    if (here / "pagecheck").exists():
        return str(here)
    found = shutil.which("pagecheck")
    assert found, "the pagecheck console script is not installed"
    return str(Path(found).parent)


def git(repo, *args) -> str:
    p = subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@pytest.fixture
def pr_repo(tmp_path):
    """main has old.c with an old PG401; the topic branch adds hdr.c (PG301), touches old.c
    harmlessly, and the CI checkout knows main as origin/main."""
    repo = tmp_path / "driver"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "old.c").write_text(BAD)
    (repo / "README").write_text("a driver\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "old")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(repo, "checkout", "-qb", "topic")
    (repo / "hdr.c").write_text(SLAB)
    (repo / "old.c").write_text("/* a comment */\n" + BAD)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "topic")
    return repo


def run_step(script: str, repo: Path, env: dict) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **GIT_ENV, **env, "PATH": _bin_dir() + os.pathsep + os.environ["PATH"]}
    # as GitHub runs a `shell: bash` step, and as GitLab's bash runs a script line
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=repo,
                          env=full_env, capture_output=True, text=True)


# --- GitHub Actions ---------------------------------------------------------------------------

def github_workflow() -> dict:
    return yaml.safe_load((ROOT / "docs" / "github-actions.yml").read_text())


def github_step(name: str) -> dict:
    [job] = github_workflow()["jobs"].values()
    [step] = [s for s in job["steps"] if s.get("name") == name]
    return step


def test_github_workflow_uploads_sarif_with_the_permission_it_needs():
    wf = github_workflow()
    assert wf["permissions"]["security-events"] == "write"
    [job] = wf["jobs"].values()
    uses = [s.get("uses", "") for s in job["steps"]]
    assert any(u.startswith("actions/checkout@") for u in uses)
    upload = github_step("Upload SARIF to code scanning")
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["with"]["sarif_file"] == "pagecheck.sarif"
    assert "pagecheck" in github_step("Install pagecheck")["run"]


def test_github_pull_request_uploads_only_new_findings(pr_repo):
    p = run_step(github_step("Run pagecheck")["run"], pr_repo,
                 {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_BASE_REF": "main"})
    assert p.returncode == 0, p.stderr
    doc = json.loads((pr_repo / "pagecheck.sarif").read_text())
    jsonschema.validate(doc, SCHEMA)
    got = [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in doc["runs"][0]["results"]]
    assert got == [("PG301", "hdr.c", 6)]  # old.c's old PG401 is not on a changed line


def test_github_push_uploads_the_whole_tree(pr_repo):
    p = run_step(github_step("Run pagecheck")["run"], pr_repo, {"GITHUB_EVENT_NAME": "push"})
    assert p.returncode == 0, p.stderr
    doc = json.loads((pr_repo / "pagecheck.sarif").read_text())
    jsonschema.validate(doc, SCHEMA)
    got = sorted((r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
                 for r in doc["runs"][0]["results"])
    assert got == [("PG301", "hdr.c"), ("PG401", "old.c")]


def test_github_pull_request_without_c_changes_skips(pr_repo):
    git(pr_repo, "reset", "-q", "--hard", "main")
    (pr_repo / "README").write_text("docs only\n")
    git(pr_repo, "commit", "-qam", "docs")
    p = run_step(github_step("Run pagecheck")["run"], pr_repo,
                 {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_BASE_REF": "main"})
    assert p.returncode == 0 and "nothing to check" in p.stdout
    assert not (pr_repo / "pagecheck.sarif").exists()


def test_github_step_fails_on_a_real_error(pr_repo):
    (pr_repo / ".pagecheck.toml").write_text("no-such-key = 1\n")
    p = run_step(github_step("Run pagecheck")["run"], pr_repo, {"GITHUB_EVENT_NAME": "push"})
    assert p.returncode == 2 and "no-such-key" in p.stderr


# --- GitLab CI ----------------------------------------------------------------------------------

def gitlab_job() -> dict:
    return yaml.safe_load((ROOT / "docs" / "gitlab-ci.yml").read_text())["pagecheck"]


def test_gitlab_merge_request_writes_code_quality_report(pr_repo):
    job = gitlab_job()
    report = job["artifacts"]["reports"]["codequality"]
    [script] = [line for line in job["script"] if "pagecheck check" in line]
    base = git(pr_repo, "merge-base", "main", "HEAD")
    p = run_step(script, pr_repo, {"CI_MERGE_REQUEST_DIFF_BASE_SHA": base})
    assert p.returncode == 0, p.stderr
    issues = json.loads((pr_repo / report).read_text())
    assert [(i["check_name"], i["location"]["path"], i["location"]["lines"]["begin"]) for i in issues] == \
        [("PG301", "hdr.c", 6)]
    [issue] = issues
    assert issue["severity"] in ("info", "minor", "major", "critical", "blocker")
    assert issue["description"] and len(issue["fingerprint"]) >= 16

    p = run_step(script, pr_repo, {})  # a branch pipeline: the whole tree
    assert p.returncode == 0, p.stderr
    assert sorted(i["check_name"] for i in json.loads((pr_repo / report).read_text())) == ["PG301", "PG401"]


def test_readme_shows_the_workflow_as_it_is_in_docs():
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- github-actions:start -->\n```yaml\n", "```\n<!-- github-actions:end -->"
    shown = readme[readme.index(start) + len(start):readme.index(end)]
    assert shown == (ROOT / "docs" / "github-actions.yml").read_text()
