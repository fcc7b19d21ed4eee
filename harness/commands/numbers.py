"""Numeric command-line options, checked like scenario fields: finite, in range, one line and exit 2.

Each option's `type=` is `integer(low, high)` or `real(low, high)`: argparse turns the ArgumentTypeError into
`error: argument --workers: ...` (one line, exit 2 through `cli._Parser`), before anything is imported or written.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import cast


def _parse(text: str, kind: type, low: float | None, high: float | None) -> int | float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not finite")
    if low is not None and value < low:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= {low}")
    if high is not None and value > high:
        raise argparse.ArgumentTypeError(f"{text!r} must be <= {high}")
    return value


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse `type` for an integer option in [low, high] (either bound optional)."""
    def parse(text: str) -> int:
        return cast(int, _parse(text, int, low, high))  # an int: int(text) parsed it

    parse.__name__ = "integer"
    return parse


def real(low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    """An argparse `type` for a finite real option in [low, high] (either bound optional)."""
    def parse(text: str) -> float:
        return _parse(text, float, low, high)

    parse.__name__ = "number"
    return parse


MAX_WORKERS = 1024  # far above any machine this runs on; a typo such as 10**9 is refused, not tried
MAX_RETRIES = 100
MAX_GPUS_PER_TRIAL = 1024
