"""How many kernel function definitions does pagecheck's parser recover?

Kernel style puts a function's opening brace alone in column 0, so the lines
that are exactly "{" are a compiler-free census of function definitions.  For
each sampled file we count those lines and how many of them open the body of a
`function_definition` that tree-sitter found — with and without pagecheck's
annotation-macro masking.

    python bench/parse_recovery.py /path/to/linux [--every 10]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from pagecheck import parse  # noqa: E402

BRACE = re.compile(rb"^\{[ \t]*\r?$", re.M)


def census(data: bytes, mask: bool) -> tuple[int, int]:
    braces = {m.start() for m in BRACE.finditer(data)}
    if not braces:
        return 0, 0
    tree = parse.parse(data, mask=mask)
    found = 0
    for _i, caps in parse.function_matches(tree):
        if "body" in caps and caps["body"][0].start_byte in braces:
            found += 1
    return len(braces), found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("tree")
    ap.add_argument("--every", type=int, default=10, help="sample every Nth .c file (1 = all)")
    args = ap.parse_args()
    files = []
    for d, dirs, names in os.walk(args.tree):
        dirs.sort()
        files.extend(os.path.join(d, n) for n in sorted(names) if n.endswith(".c"))
    files = files[:: args.every]
    totals = {True: [0, 0], False: [0, 0]}
    t0 = time.time()
    for p in files:
        try:
            with open(p, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        if len(data) > 4 << 20:
            continue
        for mask in (True, False):
            b, f = census(data, mask)
            totals[mask][0] += b
            totals[mask][1] += f
    for mask in (False, True):
        b, f = totals[mask]
        print(f"{'with' if mask else 'without'} annotation masking: {f}/{b} function definitions "
              f"recovered ({100.0 * f / max(b, 1):.2f}%)")
    print(f"{len(files)} .c files sampled in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
