"""Normalization layers and helpers (Batch Renormalization and the layers it is compared with).

Imports TensorFlow/Keras lazily: `harness.norms.spec` is pure Python and is
imported by scenario validation, which must stay fast.
"""

import importlib

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


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness.norms' has no attribute {name!r}")


def __dir__():
    return __all__
