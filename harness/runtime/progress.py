"""Run progress on stderr: a live bar on a terminal; one plain line per finished trial otherwise (CI logs,
`nohup`, a file), where a bar's carriage returns would make one unreadable line."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class PlainProgress:
    """The subset of tqdm's interface the runner uses, printing `name: k/N trials done (elapsed)` lines."""

    def __init__(self, total: int, initial: int = 0, desc: str = "", file: TextIO | None = None) -> None:
        """A counter of `total` trials, `initial` of them done already, printing to `file` (stderr)."""
        self.total, self.n, self.desc = total, initial, desc
        self.file = file or sys.stderr
        self.started = time.perf_counter()

    def update(self, n: int = 1) -> None:
        """Count `n` more trials done and print the progress line."""
        self.n += n
        elapsed = time.perf_counter() - self.started
        print(f"{self.desc}: {self.n}/{self.total} trials done ({elapsed:.0f} s)", file=self.file, flush=True)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        """Per-step detail is for a live bar only."""

    def close(self) -> None:
        """Nothing to close: each line is complete when printed."""


def progress_bar(total: int, initial: int, quiet: bool, desc: str) -> Any:
    """A tqdm bar on a terminal, PlainProgress when stderr is not one, a silent bar with `quiet`."""
    from tqdm import tqdm

    if quiet or sys.stderr.isatty():
        return tqdm(total=total, initial=initial, disable=quiet, unit="trial", desc=desc, file=sys.stderr,
                    dynamic_ncols=True)
    return PlainProgress(total, initial, desc)
