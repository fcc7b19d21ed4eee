"""Non-i.i.d. minibatch samplers as plugins, with measures of how non-i.i.d. a stream is.

Imports NumPy only (scikit-learn when the `cluster` sampler is built;
seaborn/matplotlib in `samplers.plots`; TensorFlow inside
`Sampler.as_tf_dataset`). See `samplers.base.Sampler` for the protocol.
"""

from __future__ import annotations

from samplers.base import REQUIRED, Sampler, SamplerParameterError
from samplers.registry import available, get

__all__ = ["REQUIRED", "Sampler", "SamplerParameterError", "available", "get"]
