"""Shared C snippets and a CLI runner for the workflow tests (config, baseline, diff, suppression)."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from pagecheck.cli import main

# a page_pool page released with put_page(): PG401 on line 5
BAD = """\
#include <linux/mm.h>
static void rx_drop(struct page_pool *pool)
{
	struct page *page = page_pool_dev_alloc_pages(pool);
	put_page(page);
}
"""

# kzalloc -> virt_to_page -> get_page: PG301 on line 6
SLAB = """\
#include <linux/slab.h>
static void pin_header(size_t len)
{
	void *hdr = kzalloc(len, GFP_KERNEL);
	struct page *page = virt_to_page(hdr);
	get_page(page);
}
"""

CLEAN = """\
#include <linux/mm.h>
static void rx_recycle(struct page_pool *pool)
{
	struct page *page = page_pool_dev_alloc_pages(pool);
	page_pool_put_full_page(pool, page, false);
}
"""


def check(*args, env=None):
    """`pagecheck check --jobs 1 ARGS` in-process; returns the click Result."""
    return CliRunner().invoke(main, ["check", "--jobs", "1", *map(str, args)], env=env, catch_exceptions=False)


def findings(*args) -> list[tuple[str, int, str]]:
    r = check("--format", "json", *args)
    assert r.exit_code in (0, 1), r.output
    return sorted((f["path"].rsplit("/", 1)[-1], f["line"], f["rule"]) for f in json.loads(r.stdout)["findings"])


def run_process(args, cwd, env=None) -> subprocess.CompletedProcess:
    """The real console entry point in a child process (exit code and stderr as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "pagecheck.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True)
