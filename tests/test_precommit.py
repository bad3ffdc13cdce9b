"""The real pre-commit framework runs our .pre-commit-hooks.yaml from a git commit.

`pre-commit try-repo` installs this repository (as it is in the working tree)
into a fresh virtualenv with pip and runs both hooks on the staged files; a
git pre-commit hook calls it, so what is tested is a real `git commit` being
refused or let through.  Each try-repo run installs afresh (try-repo always
uses a temporary store), about 20-30 s with a warm pip cache.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers_workflow import BAD, CLEAN

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                                reason="needs git and a git checkout of pagecheck")


def _env(tmp_path: Path) -> dict:
    return {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PRE_COMMIT_COLOR": "never",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }


def _git(cwd: Path, env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)


def _snapshot(dest: Path, env: dict) -> Path:
    """This working tree (committed, modified and new files, minus ignored ones) as a clean repo.

    try-repo on a dirty checkout would leave untracked files out; a snapshot tests
    exactly what is on disk."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "snapshot")):
        p = _git(dest, env, *args)
        assert p.returncode == 0, p.stderr
    return dest


def test_commit_with_misuse_is_refused_and_clean_commit_passes(tmp_path):
    env = _env(tmp_path)
    hooks_repo = _snapshot(tmp_path / "pagecheck-src", env)
    work = tmp_path / "driver"
    work.mkdir()
    assert _git(work, env, "init", "-q").returncode == 0
    hook = work / ".git" / "hooks" / "pre-commit"
    hook.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pre_commit try-repo "{hooks_repo}"\n')
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)

    (work / "rx.c").write_text(BAD)
    (work / "notes.txt").write_text("not C: the hooks never see it\n")
    _git(work, env, "add", "rx.c", "notes.txt")
    refused = _git(work, env, "commit", "-m", "rx: drop page")
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0, out
    # both hooks ran and failed (the first commit: --diff HEAD means every line is new)
    assert "pagecheck (struct page role misuse)" in out and "pagecheck (changed lines only)" in out
    assert out.count("rx.c:5:2: PG401") == 2, out
    assert "notes.txt" not in out
    assert _git(work, env, "rev-parse", "--verify", "-q", "HEAD").returncode != 0  # nothing committed

    (work / "rx.c").write_text(CLEAN)
    _git(work, env, "add", "rx.c")
    accepted = _git(work, env, "commit", "-m", "rx: recycle page")
    out = accepted.stdout + accepted.stderr
    assert accepted.returncode == 0, out
    assert out.count("Passed") == 2, out
    assert _git(work, env, "rev-parse", "--verify", "-q", "HEAD").returncode == 0
