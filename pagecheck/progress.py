"""A progress bar for long runs: rich, on stderr, only when stderr is a terminal.

Files done, files per second and time left.  When stderr is not a terminal
(CI logs, pre-commit, pipes) nothing is printed at all, and rich is not even
imported, so short runs start fast.
"""

from __future__ import annotations

import sys

# Below this many files a run is over before a bar is worth drawing.
MIN_FILES = 200


class Progress:
    def __init__(self, total: int, stream=None):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn

        self._bar = Bar(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("[progress.data.speed]{task.fields[rate]}"),
                        TimeRemainingColumn(), console=Console(file=stream or sys.stderr), transient=True)
        self._task = self._bar.add_task("files", total=total, rate="")
        self._bar.start()

    def __call__(self, _result) -> None:
        task = self._bar.tasks[0]
        speed = task.speed
        self._bar.update(self._task, advance=1, rate=f"{speed:,.0f} files/s" if speed else "")

    def close(self) -> None:
        self._bar.stop()


def for_run(total: int, stream=None) -> Progress | None:
    """A bar for `total` files, or None when stderr is not a TTY or the run is small."""
    stream = stream if stream is not None else sys.stderr
    if total < MIN_FILES or not getattr(stream, "isatty", lambda: False)():
        return None
    return Progress(total, stream)
