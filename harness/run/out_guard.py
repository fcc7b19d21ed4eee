"""The one guard of every path the command line writes: nothing the harness did not create is written over,
deleted or written through.

- A run directory (`run --out`) is a new or empty folder, or one an earlier run wrote (marked by the file
  MARKER; a run directory from before the marker existed is recognised by its trials/ folder and
  provenance.json). Never a symbolic link, never one whose trials/ is a link, never the home or root folder.
- A file target (`report --out`, the comparison page, screenshots) that exists must have been written by the
  harness (`ours` tells, e.g. the report's generator tag); never a link, never a folder.
- `~` is expanded in every path the command line takes (`expand_user_paths`), so `--out "~/x"` means the home
  folder's x everywhere, never a literal `./~`.

Each refusal is a one-line UsageError (exit 2) before anything is written.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from harness.errors import UsageError
from harness.results.rundir import MARKER, PROVENANCE, REPORT, TRIALS

REPORT_GENERATOR = b'<meta name="generator" content="minibatch-harness report">'
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCREENSHOT_TAG = b"tEXtSoftware\x00minibatch-harness"  # the tEXt chunk the screenshot writer puts after IHDR
"""The tag every report page carries (templates/base.html.j2): an existing page with it was written by us."""


def expand_user_paths(args: argparse.Namespace) -> None:
    """Expand a leading `~` in every string argument of a parsed command line (in place): paths mean the same
    whether or not the shell expanded them."""
    for name, value in vars(args).items():
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, name, os.path.expanduser(value))


def _special_folder(path: str) -> str | None:
    """'the root folder' or 'the home folder' when `path` is one of them (links resolved), else None."""
    real = os.path.realpath(path)
    if os.path.dirname(real) == real:
        return "the root folder"
    home = os.path.expanduser("~")
    if home != "~" and os.path.isdir(home) and real == os.path.realpath(home):
        return "the home folder"
    return None


def claim(out_dir: str, option: str = "--out") -> None:
    """Make sure `out_dir` is a run directory this run may write (creating and marking it); UsageError if not."""
    special = _special_folder(out_dir)
    if special is not None:
        raise UsageError(f"{option}: {out_dir!r} is {special}; a run writes its files there: choose a new folder")
    if os.path.islink(out_dir):
        raise UsageError(f"{option}: {out_dir!r} is a symbolic link; a run writes only into a folder of its own "
                         "(give the real folder)")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"{option}: {out_dir!r} exists and is not a directory")
    if os.path.isdir(out_dir):
        try:
            entries = set(os.listdir(out_dir))
        except OSError as error:
            raise UsageError(f"{option}: {out_dir!r} cannot be read ({error.strerror})") from None
        trials = os.path.join(out_dir, TRIALS)
        if os.path.islink(trials):
            raise UsageError(f"{option}: {trials!r} is a symbolic link; a run would write through it into "
                             "another folder")
        earlier_run = {TRIALS, PROVENANCE} <= entries and os.path.isdir(trials)
        if entries and MARKER not in entries and not earlier_run:
            shown = ", ".join(sorted(entries)[:3]) + (", ..." if len(entries) > 3 else "")
            raise UsageError(f"{option}: {out_dir!r} holds files no run wrote ({shown}); a run would overwrite them: "
                             "choose a new or empty folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, MARKER), "a", encoding="utf-8"):
            pass
    except OSError as error:
        raise UsageError(f"{option}: {out_dir!r} cannot be written ({error.strerror or error})") from None


def is_report_page(path: str) -> bool:
    """True when the file at `path` is a report page the harness wrote (its generator tag near the top)."""
    try:
        with open(path, "rb") as handle:
            return REPORT_GENERATOR in handle.read(4096)
    except OSError:
        return False


def is_screenshot(path: str) -> bool:
    """True when the file at `path` is a PNG screenshot the harness wrote (its tEXt chunk, right after IHDR)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return head.startswith(PNG_SIGNATURE) and SCREENSHOT_TAG in head


def check_file_target(path: str, option: str, ours: Callable[[str], bool], what: str) -> None:
    """`path` may be written: absent, or a plain file the harness wrote (`ours(path)`); never a link or a folder.

    `what` names the file kind in the message ("report page").
    """
    if os.path.islink(path):
        raise UsageError(f"{option}: {path!r} is a symbolic link; the harness writes no file through a link")
    if os.path.isdir(path):
        raise UsageError(f"{option}: {path!r} is a folder; give the file to write "
                         f"(e.g. {os.path.join(path, REPORT)!r})")
    if os.path.exists(path) and not ours(path):
        raise UsageError(f"{option}: {path!r} exists and is not a {what} the harness wrote; it is not replaced "
                         "(choose another file, or delete it yourself)")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"{option}: {path!r} lies under {parent!r}, which is a file, not a folder")
