"""Numeric command-line options, checked like scenario fields: finite, in range, one line and exit 2.

Each option's `type=` is `integer(low, high)` or `real(low, high)`: argparse turns the ArgumentTypeError into
`error: argument --workers: ...` (one line, exit 2 through `cli._Parser`), before anything is imported or written.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import cast

from harness.params.fields import MAX_SEED  # a seed option takes what a scenario's seed field takes


def _parse(text: str, kind: type, low: float | None, high: float | None, open_low: bool = False) -> int | float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not finite")
    if low is not None and (value <= low if open_low else value < low):
        raise argparse.ArgumentTypeError(f"{text!r} must be {'>' if open_low else '>='} {low}")
    if high is not None and value > high:
        raise argparse.ArgumentTypeError(f"{text!r} must be <= {high}")
    return value


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse `type` for an integer option in [low, high] (either bound optional)."""
    def parse(text: str) -> int:
        return cast(int, _parse(text, int, low, high))  # an int: int(text) parsed it

    parse.__name__ = "integer"
    parse.bounds = (low, high)  # type: ignore[attr-defined]  # read by the tests that derive bad values
    return parse


def real(low: float | None = None, high: float | None = None, *, open_low: bool = False) -> Callable[[str], float]:
    """An argparse `type` for a finite real option in [low, high] (either bound optional); `open_low`: in
    (low, high], for a quantity that must be positive (a duration)."""
    def parse(text: str) -> float:
        return _parse(text, float, low, high, open_low)

    parse.__name__ = "number"
    parse.bounds = (low, high)  # type: ignore[attr-defined]
    parse.open_low = open_low  # type: ignore[attr-defined]
    return parse


__all__ = ["MAX_BATCH_SIZE", "MAX_CHUNK", "MAX_GPUS_PER_TRIAL", "MAX_LABELS", "MAX_REPEATS", "MAX_RETRIES",
           "MAX_SECONDS", "MAX_SEED", "MAX_SEEDS", "MAX_STEPS", "MAX_THREADS", "MAX_WORKERS", "integer", "real"]

MAX_WORKERS = 1024  # far above any machine this runs on; a typo such as 10**9 is refused, not tried
MAX_RETRIES = 100
MAX_GPUS_PER_TRIAL = 1024
MAX_STEPS = 10_000_000  # training steps of one command-line trial or benchmark call: weeks of training, not a typo
MAX_REPEATS = 1000  # timing rounds of a benchmark
MAX_BATCH_SIZE = 65_536
MAX_THREADS = 1024  # TensorFlow intra/inter-op threads
MAX_SEEDS = 1000  # seeds of a profile (a count, not a seed value)
MAX_SECONDS = 600.0  # a benchmark's timed window
MAX_CHUNK = 100_000  # batches drawn per sampler call
MAX_LABELS = 50_000_000  # labels of a sampler benchmark's synthetic data set (its int64 array: 400 MB)
