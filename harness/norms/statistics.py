"""What the analyzer knows of a normalization layer: its traits (read and write its population statistics,
its clip limits, whether it uses batch statistics), for any layer a scenario can name.

Why one place: the analyzer (mismatch, PreciseBN, clip fractions) must not know each layer's variable
conventions. Keras BN keeps a moving variance and divides by sqrt(variance + epsilon); Keras renorm keeps a
moving stddev and derives the variance from it; our BatchRenormalization keeps sigma itself.

`traits(layer)` finds them, in this order:
1. the traits class its kind's registry entry names (set on the layer by `build_normalizer`);
2. the layer's own hooks (what a plugin layer may define, and what `BatchRenormalization` defines):
   `uses_batch_statistics` (bool), `population_statistics()`, `set_population_statistics(mean, variance)`,
   `clip_limits()`, `renorm_clip_reference()`, with the meanings of the functions below, and `tracks_stddev`
   (bool: its moving average tracks sigma_B rather than the batch variance; PreciseBN's own estimator needs it);
3. a duck-typed check: a layer with `moving_mean` and `moving_variance` variables is read as Keras BN;
4. otherwise nothing is known: the analyzer leaves out what would need it (r/d, clip, PreciseBN).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from harness.runtime import heavy

# (mean, std) as float64 arrays, and (mean, std, r_max, d_max) as tensors or floats
Statistics = tuple[NDArray[np.float64], ...]
ClipReference = tuple[Any, Any, Any, Any]

HOOKS = ("uses_batch_statistics", "population_statistics", "set_population_statistics", "clip_limits",
         "renorm_clip_reference", "tracks_stddev")


class LayerTraits:
    """A layer the analyzer knows nothing of: `batch_dependent` None, no statistics, no clip."""

    batch_dependent: bool | None = None
    settable: bool = False  # can PreciseBN set its population statistics
    tracks_stddev = False  # does its moving average track sigma_B (Batch Renorm) rather than var_B (BN)

    def __init__(self, layer: Any) -> None:
        """Traits of the Keras layer `layer`."""
        self.layer = layer

    def population_statistics(self) -> Statistics | None:
        """(mean, std) that inference normalizes with, or None (see the module function)."""
        return None

    def set_population_statistics(self, mean: npt.ArrayLike, variance: npt.ArrayLike) -> None:
        """Make inference normalize with `mean` and `variance` (without epsilon); TypeError when not settable."""
        raise TypeError(f"{type(self.layer).__name__} has no population statistics to set")

    def clip_limits(self) -> tuple[float, float] | None:
        """(r_max, d_max) for the next training step, or None without renorm clipping."""
        return None

    def renorm_clip_reference(self) -> ClipReference | None:
        """(mean, std, r_max, d_max) r and d are clipped against next, or None without renorm clipping."""
        return None


class NoBatchStatistics(LayerTraits):
    """GroupNorm, LayerNorm, identity: every example is normalized on its own."""

    batch_dependent = False


class KerasBatchNormTraits(LayerTraits):
    """Keras BatchNormalization (and microbatch BN, and `renorm=True`) or any layer with its variables."""

    batch_dependent = True
    settable = True

    def population_statistics(self) -> Statistics:
        """(moving_mean, sqrt(moving_variance + epsilon)) as float64 arrays."""
        layer = self.layer
        variance = np.asarray(layer.moving_variance.numpy(), np.float64)
        return np.asarray(layer.moving_mean.numpy(), np.float64), np.sqrt(variance + layer.epsilon)

    def set_population_statistics(self, mean: npt.ArrayLike, variance: npt.ArrayLike) -> None:
        """Assign the moving mean and variance (and, for Keras renorm, the moving stddev)."""
        layer = self.layer
        layer.moving_mean.assign(np.asarray(mean, np.float32))
        layer.moving_variance.assign(np.asarray(variance, np.float32))
        if getattr(layer, "renorm", False):
            # Keras renorm derives moving_variance from moving_stddev at each update.
            layer.moving_stddev.assign(np.sqrt(np.asarray(variance, np.float32) + layer.epsilon).astype(np.float32))

    @property
    def tracks_stddev(self) -> bool:  # type: ignore[override]  # a property over the base's class attribute
        """True for Keras renorm, whose moving average tracks a stddev."""
        return bool(getattr(self.layer, "renorm", False))  # Keras renorm keeps a moving stddev

    def _clip(self) -> tuple[float, float]:
        clipping = self.layer.renorm_clipping or {}
        return float(clipping.get("rmax", math.inf)), float(clipping.get("dmax", math.inf))

    def clip_limits(self) -> tuple[float, float] | None:
        """Keras renorm's fixed (rmax, dmax) (inf where missing); None without renorm."""
        return self._clip() if getattr(self.layer, "renorm", False) else None

    def renorm_clip_reference(self) -> ClipReference | None:
        """Keras renorm's (renorm_mean, renorm_stddev floored at sqrt(epsilon), rmax, dmax); None without renorm."""
        # Keras renorm's separate renorm_mean/renorm_stddev (stddev floored at sqrt(epsilon)) equal the
        # inference statistics only when momentum == renorm_momentum; its clip is fixed.
        if not getattr(self.layer, "renorm", False):
            return None
        tf = heavy.tensorflow()

        layer = self.layer
        std = tf.maximum(tf.convert_to_tensor(layer.renorm_stddev.value), math.sqrt(layer.epsilon))
        return (tf.convert_to_tensor(layer.renorm_mean.value), std, *self._clip())


class HookTraits(LayerTraits):
    """A layer that describes itself through the hooks (see the module docstring); missing hooks mean
    'not applicable'. `uses_batch_statistics` defaults to True when it has population statistics."""

    def __init__(self, layer: Any) -> None:
        """Read which hooks `layer` defines."""
        super().__init__(layer)
        declared = getattr(layer, "uses_batch_statistics", None)
        has_statistics = callable(getattr(layer, "population_statistics", None))
        self.batch_dependent = bool(declared) if declared is not None else (True if has_statistics else None)
        self.settable = callable(getattr(layer, "set_population_statistics", None))
        self.tracks_stddev = bool(getattr(layer, "tracks_stddev", False))

    def _call(self, hook: str, *args: Any) -> Any:
        method = getattr(self.layer, hook, None)
        return method(*args) if callable(method) else None

    def population_statistics(self) -> Statistics | None:
        """The layer's hook, as float64 arrays; None without the hook."""
        found = self._call("population_statistics")
        return None if found is None else tuple(np.asarray(v, np.float64) for v in found)

    def set_population_statistics(self, mean: npt.ArrayLike, variance: npt.ArrayLike) -> None:
        """The layer's hook, with float32 arrays; TypeError without the hook."""
        if not callable(getattr(self.layer, "set_population_statistics", None)):
            super().set_population_statistics(mean, variance)
        self.layer.set_population_statistics(np.asarray(mean, np.float32), np.asarray(variance, np.float32))

    def clip_limits(self) -> tuple[float, float] | None:
        """The layer's hook; None without it."""
        return self._call("clip_limits")

    def renorm_clip_reference(self) -> ClipReference | None:
        """The layer's hook; None without it."""
        return self._call("renorm_clip_reference")


def traits(layer: Any) -> LayerTraits:
    """The analyzer traits of `layer` (see the module docstring for how they are found)."""
    declared = getattr(layer, "_harness_traits", None)
    if declared is not None:
        return declared(layer)
    if any(hasattr(layer, hook) for hook in HOOKS):
        return HookTraits(layer)
    if hasattr(layer, "moving_mean") and hasattr(layer, "moving_variance") and hasattr(layer, "epsilon"):
        return KerasBatchNormTraits(layer)
    return LayerTraits(layer)


def population_statistics(layer: Any) -> Statistics | None:
    """(mean, std) as float64 numpy arrays that inference normalizes with; None when it has none (GN/LN/none).

    std includes epsilon: inference computes (x - mean) / std.
    """
    return traits(layer).population_statistics()


def set_population_statistics(layer: Any, mean: npt.ArrayLike, variance: npt.ArrayLike) -> None:
    """Make inference normalize with population `mean` and `variance` (variance without epsilon; PreciseBN)."""
    traits(layer).set_population_statistics(mean, variance)


def clip_limits(layer: Any) -> tuple[float, float] | None:
    """(r_max, d_max) in force for the next training step, or None for layers without renorm clipping.

    BatchRenormalization: the scheduled values. Keras renorm: its fixed clip (inf where a key is missing).
    """
    return traits(layer).clip_limits()


def renorm_clip_reference(layer: Any) -> ClipReference | None:
    """(mean, std, r_max, d_max) that r and d are computed and clipped against in the next training step,
    as tensors (inside a compiled function, read when it runs), or None for layers without renorm clipping."""
    return traits(layer).renorm_clip_reference()


def is_batch_dependent(layer: Any) -> bool | None:
    """True when a training-mode output depends on the other examples in the batch; None when unknown."""
    return traits(layer).batch_dependent


def tracks_stddev(layer: Any) -> bool:
    """True for layers whose moving average tracks the batch standard deviation sigma_B (our Batch Renorm,
    Keras renorm); False for BN, whose moving variance tracks the batch variance, and for unknown layers."""
    return bool(traits(layer).tracks_stddev)
