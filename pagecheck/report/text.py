"""--format text: `path:line:col: PG### message` with the evidence lines under it.

Colour comes from rich when writing to a terminal; plain text otherwise.
NO_COLOR (https://no-color.org) turns it off and FORCE_COLOR turns it on
when not a terminal (CI logs); NO_COLOR wins when both are set.  The first
line of each finding is stable for editors and grep.

--statistics prints a count per rule instead of the findings (as ruff does):
on a whole kernel tree that is the view you want first.
"""

from __future__ import annotations

import io
import os
from collections import Counter

from rich.console import Console
from rich.markup import escape

from ..runner import PARTIAL_REASONS
from .json_report import _rel

_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan"}


def render(result, rules, color: bool = False, statistics: bool = False, quiet: bool = False, **_kw) -> str:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=color, no_color=not color, highlight=False, width=400,
                      soft_wrap=True)
    root = result.root
    for f in () if statistics else result.findings:
        style = _STYLE.get(f.severity, "")
        console.print(f"[bold]{escape(_rel(f.path, root))}:{f.line}:{f.col}:[/bold] "
                      f"[{style}]{f.rule}[/{style}] {escape(f.message)}")
        if not quiet:
            for s in f.evidence:
                console.print(f"    [dim]{escape(_rel(s.path, root))}:{s.line}:[/dim] {escape(s.message)}")
    for ig, why in () if statistics else result.unused_ignores:
        console.print(f"[bold]{escape(_rel(ig.path, root))}:{ig.line}:1:[/bold] [yellow]PG001[/yellow] "
                      f"inline ignore[{','.join(ig.ids)}] {why}")
    if statistics:
        counts = Counter(f.rule for f in result.findings)
        for rid, n in sorted(counts.items()):
            r = rules.get(rid)
            console.print(f"{n:6d}  {rid}  {r.name if r else ''}")
        if result.unused_ignores:
            console.print(f"{len(result.unused_ignores):6d}  PG001  unused-ignore")
    if not quiet:
        for d in result.diagnostics:
            how = "partly analysed" if d.reason in PARTIAL_REASONS else "not analysed"
            console.print(f"[dim]{escape(_rel(d.path, root))}: {how}: {d.reason}"
                          f"{(' (' + escape(d.detail) + ')') if d.detail else ''}[/dim]")
        s = result.stats
        n = len(result.findings)
        # every input file is in exactly one of the three counts; the reasons break down the third
        partly = f" ({s['partly_parsed']} only in part)" if s.get("partly_parsed") else ""
        reasons = ", ".join(f"{k} {v}" for k, v in s.get("not_analysed", {}).items())
        console.print(
            f"[bold]{n} finding{'s' if n != 1 else ''}[/bold] in {s.get('files', 0)} files "
            f"({s.get('analysed', 0)} analysed{partly}, {s.get('prefiltered', 0)} with nothing page-related, "
            f"{s.get('skipped', 0)} not analysed{(': ' + reasons) if reasons else ''})"
        )
        hidden = [f"{s[k]} {what}" for k, what in _HIDDEN if s.get(k)]
        if hidden:
            console.print(f"[dim]not shown: {', '.join(hidden)}[/dim]")
        if s.get("baseline_stale"):
            console.print(f"[dim]{s['baseline_stale']} baselined findings no longer occur; "
                          f"rewrite the baseline with --write-baseline to drop them[/dim]")
    return buf.getvalue()


# counts suppress.apply() leaves in stats, for the summary
_HIDDEN = (("per_path_ignored", "ignored by per-path-ignores"), ("baselined", "in the baseline"),
           ("outside_diff", "outside the diff"))


def use_color(stream, environ=None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):  # any non-empty value, per no-color.org
        return False
    if env.get("FORCE_COLOR", "") not in ("", "0", "false"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()
