"""--diff REV against a real git repository."""

from __future__ import annotations

import os
import subprocess

import pytest

from helpers_workflow import BAD, CLEAN, SLAB, check, findings
from pagecheck.diffmode import parse_diff

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo, *args):
    p = subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository whose first commit already has a PG401 (line 5 of rx.c)."""
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "rx.c").write_text(BAD)
    git(tmp_path, "add", "rx.c")
    git(tmp_path, "commit", "-q", "-m", "old code with an old finding")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_unchanged_tree_reports_nothing(repo):
    assert findings("--isolated", ".") == [("rx.c", 5, "PG401")]
    r = check("--isolated", "--diff", "HEAD", ".")
    assert r.exit_code == 0 and "not shown: 1 outside the diff" in r.stdout


def test_only_findings_on_changed_lines(repo):
    # a new misuse appended to the old file, and the whole file analysed for it
    (repo / "rx.c").write_text(BAD + "\n" + SLAB.split("\n", 1)[1])
    assert findings("--isolated", "--diff", "HEAD", ".") == [("rx.c", 12, "PG301")]
    git(repo, "commit", "-qam", "new misuse")
    assert findings("--isolated", "--diff", "HEAD", ".") == []
    assert findings("--isolated", "--diff", "HEAD~1", ".") == [("rx.c", 12, "PG301")]


def test_staged_and_untracked_files_count(repo):
    (repo / "staged.c").write_text(SLAB)
    git(repo, "add", "staged.c")
    (repo / "untracked.c").write_text(SLAB)
    (repo / ".gitignore").write_text("ignored.c\n")
    (repo / "ignored.c").write_text(SLAB)
    got = findings("--isolated", "--diff", "HEAD", "staged.c", "untracked.c", "ignored.c")
    assert got == [("staged.c", 6, "PG301"), ("untracked.c", 6, "PG301")]


def test_change_on_an_evidence_line_keeps_the_finding(repo):
    # the allocation changes from a page_pool page to a plain page: the finding
    # (put_page on line 5) is gone; changing it back to a pool page brings it back
    # even though line 5 itself is untouched
    git(repo, "rm", "-q", "rx.c")
    (repo / "rx.c").write_text(CLEAN.replace("page_pool_put_full_page(pool, page, false)", "put_page(page)")
                               .replace("page_pool_dev_alloc_pages(pool)", "alloc_page(GFP_KERNEL)"))
    git(repo, "add", "rx.c")
    git(repo, "commit", "-qm", "plain page")
    assert findings("--isolated", ".") == []
    src = (repo / "rx.c").read_text().replace("alloc_page(GFP_KERNEL)", "page_pool_dev_alloc_pages(pool)")
    (repo / "rx.c").write_text(src)
    assert findings("--isolated", "--diff", "HEAD", ".") == [("rx.c", 5, "PG401")]


def test_unused_ignores_only_on_changed_lines(repo):
    src = BAD.replace("\tput_page", "\t/* pagecheck: ignore[PG999] */\n\tput_page")
    (repo / "rx.c").write_text(src)
    git(repo, "commit", "-qam", "stale ignore")
    assert check("--isolated", "--diff", "HEAD", ".").exit_code == 0
    (repo / "new.c").write_text(src)
    r = check("--isolated", "--diff", "HEAD", ".")
    assert r.exit_code == 1 and "new.c:5:1: PG001" in r.stdout and "rx.c:5:1" not in r.stdout


def test_first_commit_head_is_the_empty_tree(tmp_path, monkeypatch):
    git(tmp_path, "init", "-q")
    (tmp_path / "rx.c").write_text(BAD)
    git(tmp_path, "add", "rx.c")
    monkeypatch.chdir(tmp_path)
    assert findings("--isolated", "--diff", "HEAD", ".") == [("rx.c", 5, "PG401")]


def test_paths_from_a_subdirectory_and_a_merge_base_range(repo, monkeypatch):
    git(repo, "checkout", "-qb", "topic")
    (repo / "drivers").mkdir()
    (repo / "drivers" / "hdr.c").write_text(SLAB)
    git(repo, "add", "drivers")
    git(repo, "commit", "-qm", "topic")
    monkeypatch.chdir(repo / "drivers")
    assert findings("--isolated", "--diff", "main...HEAD", ".") == [("hdr.c", 6, "PG301")]
    assert findings("--isolated", "--diff", "main...HEAD", "..") == [("hdr.c", 6, "PG301")]


def test_bad_revision_and_not_a_repository_are_exit_2(repo, tmp_path_factory, monkeypatch):
    r = check("--isolated", "--diff", "no-such-rev", ".")
    assert r.exit_code == 2 and "no-such-rev" in r.output
    elsewhere = tmp_path_factory.mktemp("not-a-repo")
    (elsewhere / "rx.c").write_text(BAD)
    monkeypatch.chdir(elsewhere)
    r = check("--isolated", "--diff", "HEAD", ".")
    assert r.exit_code == 2 and "not a git repository" in r.output


def test_parse_diff_is_not_fooled_by_content_that_looks_like_headers():
    text = (
        "diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n"
        "@@ -3,0 +4,2 @@ static void f(void)\n"
        "+++ not a header\n"
        "+@@ -1 +1 @@ not a hunk either\n"
        "@@ -10 +12 @@\n-old\n+new\n"
        "@@ -20,2 +21,0 @@\n-gone\n-gone\n"
        "diff --git a/old.c b/old.c\ndeleted file mode 100644\n--- a/old.c\n+++ /dev/null\n"
        "@@ -1,2 +0,0 @@\n-a\n-b\n"
        'diff --git "a/sp ace.c" "b/sp ace.c"\n--- "a/sp ace.c"\n+++ "b/sp ace\\303\\251.c"\n@@ -0,0 +1 @@\n+x\n'
    )
    assert parse_diff(text) == {"x.c": {4, 5, 12, 22}, "sp aceé.c": {1}}
