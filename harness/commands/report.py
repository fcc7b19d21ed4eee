"""`python -m harness report RUN_DIR [OTHER_RUN_DIR] [--out FILE] [--screenshot DIR]`.

Rebuilds the report from the saved results alone (no retraining); with a second run directory it writes a
comparison of the two runs instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.results import rundir

if TYPE_CHECKING:
    import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options and arguments, added to `parser` (its subcommand parser)."""
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by `python -m harness run`")
    parser.add_argument("other_run_dir", metavar="OTHER_RUN_DIR", nargs="?", default=None,
                        help="a second run of the same scenario shape: write a comparison (B = this run)")
    parser.add_argument("--out", metavar="FILE", default=None,
                        help="HTML file to write (default RUN_DIR/index.html, or RUN_DIR/compare_<OTHER>.html)")
    parser.add_argument("--screenshot", metavar="DIR", default=None,
                        help="also save PNG screenshots of the report (top of page and the key figure) into DIR; "
                             "needs playwright and a Chromium (see the README)")


def _check_targets(args: argparse.Namespace) -> None:
    """Every file this report would write is absent or a report page the harness wrote; the run is not in use."""
    from harness.errors import UsageError
    from harness.run import out_guard

    if rundir.RunDir(args.run_dir).in_use():
        raise UsageError(f"{args.run_dir!r} is in use by a running run; report it once that run has finished")
    damaged = [d for folder in (args.run_dir, args.other_run_dir) if folder is not None
               for d in rundir.RunDir(folder).damaged_trials()]
    if damaged:
        (path, problem), more = damaged[0], (f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else "")
        raise UsageError(f"{path}: damaged trial file ({problem}){more}; `python -m harness run` of this scenario "
                         "into this folder reruns it")
    if args.out is not None:
        target, option = args.out, "--out"
    else:
        name = rundir.REPORT if args.other_run_dir is None else f"compare_{Path(args.other_run_dir).name}.html"
        target, option = os.path.join(args.run_dir, name), "RUN_DIR"
    out_guard.check_file_target(target, option, out_guard.is_report_page, "report page")
    if args.screenshot:
        from harness.report.screenshot import FIGURE, TOP

        if os.path.exists(args.screenshot) and not os.path.isdir(args.screenshot):
            raise UsageError(f"--screenshot: {args.screenshot!r} is a file, not a folder")
        for name in (TOP, FIGURE):
            out_guard.check_file_target(os.path.join(args.screenshot, name), "--screenshot", out_guard.is_screenshot,
                                        "screenshot")


def main(args: argparse.Namespace) -> int:
    """Write the report (or the comparison) of the run directory, and its screenshots when asked."""
    from harness.api import Run
    from harness.report import write_report

    _check_targets(args)
    try:
        if args.other_run_dir is None:
            out = Run(args.run_dir).report(args.out)  # the Python API's Run.report
        else:
            out = write_report(args.run_dir, out=args.out, compare_dir=args.other_run_dir)
    except OSError as error:
        # the one atomic writer names the file it could not write: the report (HTML) is this command's to name
        if error.filename is not None and not str(error.filename).endswith(".html"):
            raise
        from harness.errors import UsageError

        target = error.filename or args.out or f"the report in {args.run_dir}"
        raise UsageError(f"{target}: cannot be written ({error.strerror or error})") from None
    print(f"report: {out}")
    if args.screenshot:
        from harness.report.screenshot import screenshot_report

        for path in screenshot_report(out, Path(args.screenshot)):
            print(f"screenshot: {path}")
    return 0
