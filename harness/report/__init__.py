"""The HTML report of a run directory: `write_report(run_dir)` (see render.py).

Importing this package is cheap (no matplotlib, pandas or Jinja2 until a report is written), because the
CLI imports every command module to build its parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import os
    from pathlib import Path


def write_report(run_dir: str | Path, out: str | os.PathLike | None = None,
                 compare_dir: str | Path | None = None) -> Path:
    """Write `<run_dir>/index.html` (or `out`; a comparison when `compare_dir` is given); return its Path."""
    from harness.report.render import write_report as _write_report

    return _write_report(run_dir, out=out, compare_dir=compare_dir)


__all__ = ["write_report"]
