"""`python -m harness report RUN_DIR [OTHER_RUN_DIR] [--out FILE] [--screenshot DIR]`.

Rebuilds the report from the saved results alone (no retraining); with a second run directory it writes a
comparison of the two runs instead.
"""

from pathlib import Path

from harness.run import rundir


def add_arguments(parser):
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory written by `python -m harness run`")
    parser.add_argument("other_run_dir", metavar="OTHER_RUN_DIR", nargs="?", default=None,
                        help="a second run of the same scenario shape: write a comparison (B = this run)")
    parser.add_argument("--out", metavar="FILE", default=None,
                        help="HTML file to write (default RUN_DIR/index.html, or RUN_DIR/compare_<OTHER>.html)")
    parser.add_argument("--screenshot", metavar="DIR", default=None,
                        help="also save PNG screenshots of the report (top of page and the key figure) into DIR; "
                             "needs playwright and a Chromium (see the README)")


def _check_out(out):
    """--out names a file to write: not a folder, and not under a file (other failures: one line from the CLI)."""
    import os

    from harness.errors import UsageError

    if out is None:
        return
    if os.path.isdir(out):
        raise UsageError(f"--out: {out!r} is a folder; give the HTML file to write (e.g. {os.path.join(out, rundir.REPORT)!r})")
    parent = os.path.dirname(os.path.abspath(out))
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"--out: {out!r} lies under {parent!r}, which is a file, not a folder")


def main(args):
    from harness.api import Run
    from harness.report import write_report

    _check_out(args.out)
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
