"""Normalization layers and helpers (Batch Renormalization and the layers it is compared with).

Imports TensorFlow/Keras lazily: `harness.norms.spec` is pure Python and is
imported by scenario validation, which must stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "BatchRenormalization": "harness.norms.batch_renorm",
    "MicrobatchBatchNormalization": "harness.norms.microbatch_bn",
    "build_normalizer": "harness.norms.factory",
    "population_statistics": "harness.norms.statistics",
    "set_population_statistics": "harness.norms.statistics",
    "clip_limits": "harness.norms.statistics",
    "renorm_clip_reference": "harness.norms.statistics",
    "is_batch_dependent": "harness.norms.statistics",
    "tracks_stddev": "harness.norms.statistics",
    "traits": "harness.norms.statistics",
    "NormalizerKind": "harness.norms.kinds",
    "NORMALIZER_KINDS": "harness.norms.kinds",
    "NormalizerConfigError": "harness.norms.spec",
    "validate_normalizer_config": "harness.norms.kinds",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """The package's names, imported from their modules (TensorFlow with them) when first asked for."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness.norms' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The package's lazily imported names."""
    return __all__
