"""Build any normalizer the harness compares from a small dict config."""

import keras

from harness.norms import spec
from harness.norms.batch_renorm import BatchRenormalization
from harness.norms.microbatch_bn import MicrobatchBatchNormalization


def build_normalizer(config, name):
    """Return a fresh Keras layer for `config` (which includes `kind`), named `name`.

    Raises `spec.NormalizerConfigError` (a ValueError) for a bad config.
    """
    cfg = spec.validate_normalizer_config(config)
    kind = cfg.pop("kind")
    if kind == "batchnorm":
        microbatch_size = cfg.pop("microbatch_size")
        if microbatch_size is None:
            return keras.layers.BatchNormalization(name=name, **cfg)
        return MicrobatchBatchNormalization(microbatch_size=microbatch_size, name=name, **cfg)
    if kind == "batchrenorm":
        return BatchRenormalization(name=name, **cfg)
    if kind == "keras_renorm":
        r_max, d_max = cfg.pop("r_max"), cfg.pop("d_max")
        clipping = {}
        if r_max is not None:
            clipping.update(rmax=float(r_max), rmin=1.0 / float(r_max))
        if d_max is not None:
            clipping["dmax"] = float(d_max)
        return keras.layers.BatchNormalization(renorm=True, renorm_clipping=clipping, name=name, **cfg)
    if kind == "groupnorm":
        return keras.layers.GroupNormalization(name=name, **cfg)
    if kind == "layernorm":
        return keras.layers.LayerNormalization(name=name, **cfg)
    return keras.layers.Identity(name=name)
