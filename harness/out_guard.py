"""The run directory a `run` may write into: never a folder holding files that no run wrote.

A run writes scenario.yaml, summary.md, index.html, ... into `--out`; given the user's own folder
(`--out .`) it would replace their scenario file and pages. So a run writes only into a new or empty
folder, or one an earlier run wrote (marked by the file MARKER; a run directory from before the marker
existed is recognised by its trials/ folder and provenance.json).
"""

import os

from harness.errors import UsageError
from harness.run.rundir import MARKER, PROVENANCE, TRIALS


def claim(out_dir):
    """Make sure `out_dir` is a run directory this run may write (creating and marking it); UsageError if not."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"--out: {out_dir!r} exists and is not a directory")
    if os.path.isdir(out_dir):
        try:
            entries = set(os.listdir(out_dir))
        except OSError as error:
            raise UsageError(f"--out: {out_dir!r} cannot be read ({error.strerror})") from None
        earlier_run = {TRIALS, PROVENANCE} <= entries and os.path.isdir(os.path.join(out_dir, TRIALS))
        if entries and MARKER not in entries and not earlier_run:
            shown = ", ".join(sorted(entries)[:3]) + (", ..." if len(entries) > 3 else "")
            raise UsageError(f"--out: {out_dir!r} holds files no run wrote ({shown}); a run would overwrite them: "
                             "choose a new or empty folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, MARKER), "a", encoding="utf-8"):
            pass
    except OSError as error:
        raise UsageError(f"--out: {out_dir!r} cannot be written ({error.strerror or error})") from None
