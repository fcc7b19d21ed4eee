"""Normalizer parameter rules and config validation (each kind's entry is in `harness.norms.kinds`).

Pure Python on purpose: scenario validation imports this module and must not
pay for importing TensorFlow. The argument rules of `BatchRenormalization`
live here too, so the layer and a scenario file reject the same values with the
same message.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from harness.errors import ParameterError


class NormalizerConfigError(ParameterError):
    """A bad normalizer parameter; `.param`, `.value`, `.reason` let callers prefix a field path."""

    def __init__(self, param: str, value: object, reason: str) -> None:
        """As `ParameterError`, with Keras's message form: "Argument `param` reason. Received: ..."."""
        super().__init__(param, value, reason)
        self.args = (f"Argument `{param}` {reason}. Received: {param}={value!r}",)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_number(param: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, allow_none: bool = False) -> None:
    """Raise NormalizerConfigError unless `value` is a finite real in the given range."""
    if value is None and allow_none:
        return
    if not _is_number(value) or not math.isfinite(value):
        raise NormalizerConfigError(param, value, "must be a finite number")
    if low is not None and (value <= low if low_open else value < low):
        raise NormalizerConfigError(param, value, f"must be {'>' if low_open else '>='} {low}")
    if high is not None and (value >= high if high_open else value > high):
        raise NormalizerConfigError(param, value, f"must be {'<' if high_open else '<='} {high}")


def check_int(param: str, value: Any, *, low: int | None = None, allow_none: bool = False) -> None:
    """Raise NormalizerConfigError unless `value` is an integer >= low."""
    if value is None and allow_none:
        return
    if not _is_int(value):
        raise NormalizerConfigError(param, value, "must be an integer")
    if low is not None and value < low:
        raise NormalizerConfigError(param, value, f"must be >= {low}")


def check_common(cfg: Mapping[str, Any]) -> None:
    """Rules shared by the batch-statistics kinds (axis, momentum, epsilon)."""
    if "axis" in cfg:
        check_int("axis", cfg["axis"])
    if "momentum" in cfg:
        check_number("momentum", cfg["momentum"], low=0, high=1, low_open=True, high_open=True)
    if "renorm_momentum" in cfg:
        check_number("renorm_momentum", cfg["renorm_momentum"], low=0, high=1, low_open=True, high_open=True)
    if "epsilon" in cfg:
        check_number("epsilon", cfg["epsilon"], low=0, low_open=True)
    if "microbatch_size" in cfg:
        check_int("microbatch_size", cfg["microbatch_size"], low=1, allow_none=True)


def check_batch_renorm_arguments(
    *, axis: Any, momentum: Any, epsilon: Any, r_max: Any, d_max: Any, warmup_steps: Any, r_max_ramp_end: Any,
    d_max_ramp_end: Any, microbatch_size: Any
) -> None:
    """Validate BatchRenormalization's constructor arguments (also used for scenario configs)."""
    check_common({"axis": axis, "momentum": momentum, "epsilon": epsilon, "microbatch_size": microbatch_size})
    check_number("r_max", r_max, low=1)
    check_number("d_max", d_max, low=0)
    check_int("warmup_steps", warmup_steps, low=0)
    for name, value in (("r_max_ramp_end", r_max_ramp_end), ("d_max_ramp_end", d_max_ramp_end)):
        check_int(name, value, low=0, allow_none=True)
        if value is not None and value < warmup_steps:
            raise NormalizerConfigError(name, value, f"must be >= warmup_steps ({warmup_steps}) or None")


def schedule_fraction(step: Any, warmup_steps: Any, ramp_end: Any) -> Any:
    """How far (0..1) a clip limit has relaxed after `step` completed training steps.

    0 during the warm-up, then linear, reaching 1 at `ramp_end` (None: right
    after the warm-up) and clamped there, so the limit never overshoots.
    """
    if step < warmup_steps:
        return 0.0
    if ramp_end is None or ramp_end <= warmup_steps:
        return 1.0
    return min(1.0, (step - warmup_steps) / (ramp_end - warmup_steps))


def scheduled_limits(step: Any, *, r_max: Any, d_max: Any, warmup_steps: Any, r_max_ramp_end: Any,
                     d_max_ramp_end: Any) -> tuple[Any, Any]:
    """(r_max, d_max) in force at training step `step` (0-based count of earlier training calls)."""
    r = 1.0 + (r_max - 1.0) * schedule_fraction(step, warmup_steps, r_max_ramp_end)
    d = d_max * schedule_fraction(step, warmup_steps, d_max_ramp_end)
    return r, d
