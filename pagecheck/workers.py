"""Worker processes that cannot hang a run, and that stop at once when told to.

`multiprocessing.Pool` loses the task of a worker that dies (the OOM killer, a
crash inside the C parser, a stray `kill -9`): `imap()` then waits for that
result forever.  Here each worker has its own pipe; the parent waits on the
pipes and on the process sentinels together, so a death is seen at once.  The
item the dead worker was on is handed to `on_death` (the runner reports the
file), the items it had not started go back to the queue, and a new worker
takes its place.  Every item yields exactly one result, in input order.

Leaving the generator (normally, on KeyboardInterrupt from Ctrl-C or SIGTERM,
or on any error) kills the workers and reaps them before returning: no worker
outlives the run.  Workers should ignore SIGINT (the parent decides), which is
what runner._init_pool_worker does.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import deque
from multiprocessing.connection import wait
from typing import Any, Callable, Iterable, Iterator


def _worker_main(conn, fn, initializer, initargs) -> None:
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        for idx, item in batch:
            conn.send((idx, fn(item)))


def describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class _Worker:
    def __init__(self, ctx, fn, initializer, initargs):
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, fn, initializer, initargs), daemon=True)
        self.proc.start()
        child.close()
        self.inflight: deque[tuple[int, Any]] = deque()


def imap(fn: Callable[[Any], Any], items: Iterable[Any], jobs: int, chunk: int,
         initializer: Callable | None = None, initargs: tuple = (),
         on_death: Callable[[Any, str], Any] | None = None) -> Iterator[Any]:
    """Like Pool.imap(fn, items, chunksize=chunk), robust to workers dying.

    `on_death(item, why)` returns the result to yield for an item whose worker
    died while on it; without it, RuntimeError is raised.
    """
    ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
    pending: deque[tuple[int, Any]] = deque(enumerate(items))
    total = len(pending)
    chunk = max(1, chunk)
    done: dict[int, Any] = {}
    next_out = 0
    workers: list[_Worker] = []
    finished = False
    try:
        for _ in range(max(1, min(jobs, total))):
            workers.append(_Worker(ctx, fn, initializer, initargs))
        while next_out < total:
            for w in workers:  # keep two batches in flight per worker, so none waits on the parent
                while pending and len(w.inflight) <= chunk:
                    batch = [pending.popleft() for _ in range(min(chunk, len(pending)))]
                    w.inflight.extend(batch)
                    try:
                        w.conn.send(batch)
                    except OSError:  # it died since we last looked: its sentinel says so below,
                        break  # and _bury requeues this batch behind the item it died on
            by_handle = {}
            for w in workers:
                by_handle[w.conn] = w
                by_handle[w.proc.sentinel] = w
            dead: list[_Worker] = []
            for ready in wait(list(by_handle)):
                w = by_handle[ready]
                if w in dead:
                    continue
                if ready is w.conn:
                    if not _collect(w, done):
                        dead.append(w)
                else:
                    dead.append(w)
            for w in dead:
                _bury(w, done, pending, on_death)
                workers.remove(w)
                if pending:  # a new worker takes the dead one's place
                    workers.append(_Worker(ctx, fn, initializer, initargs))
            while next_out in done:
                yield done.pop(next_out)
                next_out += 1
        finished = True
    finally:
        _stop(workers, graceful=finished)


def _collect(w: _Worker, done: dict) -> bool:
    """Move the results waiting in a worker's pipe into `done`; False if the pipe broke."""
    try:
        while w.conn.poll():
            idx, res = w.conn.recv()
            w.inflight.popleft()
            done[idx] = res
    except (EOFError, OSError):
        return False
    return True


def _bury(w: _Worker, done: dict, pending: deque, on_death) -> None:
    """Collect what a dead worker finished, blame the item it was on, requeue the rest."""
    _collect(w, done)
    w.proc.join(timeout=5)
    why = describe_exit(w.proc.exitcode)
    w.conn.close()
    if w.inflight:
        idx, item = w.inflight.popleft()
        if on_death is None:
            raise RuntimeError(f"worker process died ({why}) on {item!r}")
        done[idx] = on_death(item, why)
        pending.extendleft(reversed(w.inflight))
        w.inflight.clear()


def _stop(workers: list[_Worker], graceful: bool) -> None:
    """Reap every worker: idle ones are asked to leave, otherwise (interrupt, error)
    they are killed whatever they are doing (mid-parse, blocked on a pipe)."""
    if graceful:
        for w in workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in workers:
            w.proc.join(timeout=2)
    for w in workers:
        if w.proc.is_alive():
            w.proc.kill()
    for w in workers:
        w.proc.join(timeout=5)
        w.conn.close()
