"""Command line.  The only module that touches argv, output files and exit codes.

Exit codes (contract): 0 no findings, 1 findings, 2 usage / configuration /
internal error.  A file that cannot be read or parsed is a diagnostic, never
an exit 2.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import traceback

import click

from . import __version__
from . import baseline as baseline_mod, config as config_mod, diffmode, suppress
from .model import DataError, load_model
from .report import FORMATTERS
from .report.text import use_color
from .rules import load_rules, select as select_rules
from . import progress as progress_mod, shard as shard_mod
from .runner import Options, run

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class OutputError(click.ClickException):
    """An output file that cannot be written: one line, exit 2 (not a traceback, not exit 1)."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"pagecheck: error: {self.format_message()}", err=True)


def write_atomic(path: str, text: str) -> None:
    """Write to a temp file beside the target and rename: never a half-written report."""
    d = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pagecheck-", suffix=".tmp", dir=d)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):  # disk full, target is a directory, ...
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def _split_ids(values) -> list[str]:
    out = []
    for v in values or ():
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def _selectors(flag: str, values) -> list[str]:
    ids = _split_ids(values)
    for s in ids:
        if not config_mod.SELECTOR_RE.match(s):
            raise click.BadParameter(f"{s!r} is not a rule ID or prefix (like PG301 or PG3)", param_hint=flag)
    return ids


def _git_dir(paths) -> str:
    """Where to ask git: the directory of the first path (pre-commit and CI run at the top anyway)."""
    first = os.path.abspath(paths[0])
    return first if os.path.isdir(first) else os.path.dirname(first)


# PG001 reports an inline ignore that names an unknown rule or suppresses nothing.  It is
# not a rule file; `--ignore PG001` silences it.  --select does not: the runner already
# judges "suppresses nothing" only for the selected rules.
UNUSED_IGNORE_ID = "PG001"


class _Terminated(KeyboardInterrupt):
    """SIGTERM as an exception: unwinding terminates the worker pool and drops temp files."""


def _on_sigterm(signum, frame):
    raise _Terminated()


class _Fail(Exception):
    pass


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pagecheck")
def main() -> None:
    """Find struct page role misuse in Linux kernel C source."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATTERS)), default=None,
              help="Output format [default: text].")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to FILE (atomically).")
@click.option("--kernel-tree", type=click.Path(file_okay=False, exists=True),
              help="Kernel tree to take layouts and helper knowledge from (for out-of-tree code).")
@click.option("--jobs", "-j", type=click.IntRange(0), default=None, help="Worker processes (0 = all cores) [default: 0].")
@click.option("--select", multiple=True, help="Only these rule IDs or prefixes (PG1, PG301); comma-separated.")
@click.option("--ignore", "ignore_ids", multiple=True, help="Skip these rule IDs or prefixes; comma-separated.")
@click.option("--exclude", multiple=True, help="Glob of paths to leave out (repeatable).")
@click.option("--max-file-size", type=click.IntRange(1), default=None,
              help="Skip (and report) files larger than this many bytes [default: 4 MiB].")
@click.option("--statistics", is_flag=True, help="Print the number of findings per rule instead of each finding.")
@click.option("--quiet", "-q", is_flag=True, help="Only the findings, no evidence or summary.")
@click.option("--diff", "diff_rev", metavar="REV",
              help="Only findings on lines added or changed since git revision REV (whole files are still analysed).")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False),
              help="Only findings not recorded in this baseline file.")
@click.option("--write-baseline", type=click.Path(dir_okay=False),
              help="Record the current findings in FILE (to use with --baseline) and exit 0.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Configuration file [default: nearest .pagecheck.toml or pyproject.toml with [tool.pagecheck]].")
@click.option("--isolated", is_flag=True, help="Ignore all configuration files.")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Cache directory [default: $XDG_CACHE_HOME/pagecheck or ~/.cache/pagecheck].")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option("--shard", metavar="K/N",
              help="Report only shard K of N (files split by path hash; the analysis stays whole-tree). "
                   "Combine the shards' --format json reports with `pagecheck merge`.")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
def check(paths, fmt, output, kernel_tree, jobs, select, ignore_ids, exclude, max_file_size, statistics, quiet,
          diff_rev, baseline_file, write_baseline, config_file, isolated, cache_dir, no_cache, shard, debug):
    """Check C files and directories (walked for .c and .h) for struct page role misuse."""
    prev_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        # a flag given on the command line replaces the configuration file's value
        cfg = config_mod.resolve(config_file, isolated, paths)
        fmt = fmt or cfg.format or "text"
        selected = _selectors("--select", select) or list(cfg.select)
        ignored = _selectors("--ignore", ignore_ids) or list(cfg.ignore)
        if write_baseline and diff_rev:
            raise click.UsageError("--write-baseline records every finding; it cannot be combined with --diff")
        # --write-baseline records everything: an existing baseline is neither needed nor read
        baseline_file = None if write_baseline else (baseline_file or cfg.baseline)
        base = baseline_mod.load(baseline_file) if baseline_file else None
        changed = diffmode.changed_lines(diff_rev, _git_dir(paths)) if diff_rev else None
        model = load_model()
        all_rules = load_rules(model)
        rules = select_rules(all_rules, selected, ignored)
        opts = Options(jobs=jobs if jobs is not None else (cfg.jobs or 0),
                       exclude=tuple(exclude) or config_mod.exclude_patterns(cfg),
                       kernel_tree=kernel_tree or cfg.kernel_tree)
        if max_file_size or cfg.max_file_size:
            opts.max_file_size = max_file_size or cfg.max_file_size
        if shard:
            try:
                opts.shard = shard_mod.parse_shard(shard)
            except shard_mod.ShardError as exc:
                raise click.UsageError(str(exc)) from None
        result = _run_cached(list(paths), model, rules, opts, set(all_rules.rules), cache_dir, no_cache)
        if write_baseline:
            result = suppress.apply(result, cfg, report_unused_ignores=False)
            write_atomic(write_baseline, baseline_mod.dumps(result.findings, result.root))
            if not quiet:
                click.echo(f"{len(result.findings)} findings recorded in {write_baseline}", err=True)
            sys.exit(EXIT_CLEAN)
        report_unused = not any(UNUSED_IGNORE_ID.startswith(s.upper()) for s in ignored)
        result = suppress.apply(result, cfg, base, changed, report_unused_ignores=report_unused,
                                rule_ids=set(rules.rules))
        color = fmt == "text" and output is None and use_color(sys.stdout)
        text = FORMATTERS[fmt](result, rules, color=color, statistics=statistics, quiet=quiet)
        if output:
            write_atomic(output, text)
            if fmt != "text" and not quiet:
                click.echo(f"{len(result.findings)} findings written to {output}", err=True)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
    except (DataError, diffmode.DiffError) as exc:
        click.echo(f"pagecheck: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: workers are gone, no output file was written
        terminated = isinstance(exc, _Terminated)
        click.echo(f"pagecheck: {'terminated' if terminated else 'interrupted'}", err=True)
        sys.exit(128 + (signal.SIGTERM if terminated else signal.SIGINT))
    except click.ClickException:  # usage errors: click prints them, exit 2
        raise
    except Exception as exc:  # internal error: one line, traceback on --debug
        if debug:
            traceback.print_exc()
        click.echo(f"pagecheck: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                   err=True)
        sys.exit(EXIT_ERROR)
    finally:
        signal.signal(signal.SIGTERM, prev_sigterm)
    # A pagecheck bug while analysing a file is reported like an unreadable file
    # (the other files' findings are all there), but the run is not a clean bill
    # of health: exit 2 so pre-commit and CI do not pass silently.
    crashed = [d for d in result.diagnostics if d.reason == "internal-error"]
    if crashed:
        click.echo(f"pagecheck: internal error while analysing {len(crashed)} file(s), e.g. {crashed[0].path}: "
                   f"{crashed[0].detail} (rerun with --debug for the traceback)", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if result.findings or result.unused_ignores else EXIT_CLEAN)


def _run_cached(paths, model, rules, opts, known_ids, cache_dir, no_cache):
    """The run, through the cache unless --no-cache; a progress bar on a terminal."""
    if no_cache:
        bar = None
        if sys.stderr.isatty():
            from .source import discover

            bar = progress_mod.for_run(len(discover(paths, opts.exclude)[0]))
        try:
            return run(paths, model, rules, opts, progress=bar, known_ids=known_ids)
        finally:
            if bar is not None:
                bar.close()
    from .cache import run_with_cache

    opts.cache_dir = cache_dir
    return run_with_cache(paths, model, rules, opts, progress_for=progress_mod.for_run, known_ids=known_ids, run=run)


@main.command("merge")
@click.argument("reports", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATTERS)), default="json", show_default=True,
              help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report to FILE (atomically).")
@click.option("--select", multiple=True, help="The --select the shards ran with (the rule list in SARIF).")
@click.option("--ignore", "ignore_ids", multiple=True, help="The --ignore the shards ran with.")
def merge_cmd(reports, fmt, output, select, ignore_ids):
    """Combine `check --shard K/N --format json` reports into the report of a single run.

    Each shard's report must be there exactly once.  The result is rendered by
    the same reporters as `check`, in any format (SARIF for code scanning).
    Exit codes as for `check`: 1 when the merged report has findings.
    """
    try:
        model = load_model()
        rules = select_rules(load_rules(model), _selectors("--select", select), _selectors("--ignore", ignore_ids))
        docs = [shard_mod.load_report(p) for p in reports]
        result = shard_mod.merge_documents(docs, list(reports))
    except (DataError, shard_mod.ShardError) as exc:
        click.echo(f"pagecheck: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    text = FORMATTERS[fmt](result, rules, color=False, statistics=False, quiet=False)
    if output:
        write_atomic(output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    sys.exit(EXIT_FINDINGS if result.findings or result.unused_ignores else EXIT_CLEAN)


def _rules_or_exit():
    """The rule set for `rules` / `rule`: a broken rule file or a bug is one line and exit 2."""
    try:
        return load_rules(load_model())
    except DataError as exc:
        click.echo(f"pagecheck: error: {exc}", err=True)
    except Exception as exc:  # internal error: one line, like `check`
        click.echo(f"pagecheck: internal error: {type(exc).__name__}: {exc}", err=True)
    sys.exit(EXIT_ERROR)


@main.command("rules")
def rules_cmd():
    """List every rule."""
    rs = _rules_or_exit()
    for r in sorted(rs, key=lambda r: r.id):
        click.echo(f"{r.id}  {r.name:38s} {r.severity:8s} {r.summary}")


@main.command("rule")
@click.argument("rule_id")
def rule_cmd(rule_id):
    """Show one rule's documentation."""
    r = _rules_or_exit().get(rule_id)
    if r is None:
        click.echo(f"pagecheck: error: no rule {rule_id!r} (see `pagecheck rules`)", err=True)
        sys.exit(EXIT_ERROR)
    click.echo(f"# {r.id} {r.name}\n\n{r.summary}\n\nSeverity: {r.severity}   Confidence: {r.confidence}\n")
    click.echo(r.doc)


def entry() -> None:
    """The console script: `main`, then a hard exit once the output is flushed.

    A whole-tree run ends holding millions of small fact objects; letting the
    interpreter free them one by one at shutdown took about 7 s on Linux 6.12
    and changes nothing the user sees (mypy exits the same way).  Tests call
    `main` itself, which returns normally.
    """
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`pagecheck ... | head`)
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
