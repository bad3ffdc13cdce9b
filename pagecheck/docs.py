"""Generate the README rule table from the rule files: `python -m pagecheck.docs`.

tests/test_meta.py keeps README.md in sync with rules/.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from .model import load_model
from .rules import RuleSet, load_rules

START, END = "<!-- rules-table:start -->", "<!-- rules-table:end -->"
DEMO_START, DEMO_END = "<!-- demo-output:start -->", "<!-- demo-output:end -->"
ROOT = Path(__file__).resolve().parent.parent  # the checkout, when run from one


def demo_output(root: Path = ROOT) -> str:
    """What `pagecheck check fixtures/demo` prints, run from the repository root `root`."""
    import os

    from .report.text import render
    from .runner import Options, run

    model = load_model()
    rules = load_rules(model)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = run(["fixtures/demo"], model, rules, Options(jobs=1))
    finally:
        os.chdir(cwd)
    return render(result, rules).rstrip() + "\n"


def rule_table(rules: RuleSet) -> str:
    lines = ["| ID | name | severity | confidence | what it finds |", "|---|---|---|---|---|"]
    for r in sorted(rules, key=lambda r: r.id):
        lines.append(f"| {r.id} | `{r.name}` | {r.severity} | {r.confidence} | {r.summary} |")
    return "\n".join(lines) + "\n"


def update_readme(path: Path) -> bool:
    text = path.read_text()
    table = rule_table(load_rules(load_model()))
    new = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _m: f"{START}\n{table}{END}", text, flags=re.S)
    demo = demo_output()
    new = re.sub(re.escape(DEMO_START) + r".*?" + re.escape(DEMO_END),
                 lambda _m: f"{DEMO_START}\n```text\n{demo}```\n{DEMO_END}", new, flags=re.S)
    if new != text:
        path.write_text(new)
        return True
    return False


if __name__ == "__main__":
    readme = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "README.md"
    print("updated" if update_readme(readme) else "up to date", readme)
