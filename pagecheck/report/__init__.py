"""Stage 7 — report: formatters in a registry.  Each takes a RunResult and returns text."""

from __future__ import annotations

from typing import Callable

from . import gitlab, json_report, sarif, text

FORMATTERS: dict[str, Callable] = {
    "text": text.render,
    "json": json_report.render,
    "sarif": sarif.render,
    "gitlab": gitlab.render,  # GitLab Code Quality
}
