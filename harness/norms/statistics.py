"""Read and write what a normalizer normalizes with, for any layer the factory builds.

Why one place: the analyzer (mismatch, PreciseBN, clip fractions) must not
know each layer's variable conventions. Keras BN keeps a moving variance and
divides by sqrt(variance + epsilon); Keras renorm keeps a moving stddev and
derives the variance from it; our BatchRenormalization keeps sigma itself.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from harness.norms.batch_renorm import BatchRenormalization


def _is_keras_bn(layer):
    return isinstance(layer, keras.layers.BatchNormalization)


def population_statistics(layer):
    """(mean, std) as float64 numpy arrays that inference normalizes with; None for GN/LN/none.

    std includes epsilon: inference computes (x - mean) / std.
    """
    if isinstance(layer, BatchRenormalization):
        return np.asarray(layer.moving_mean.numpy(), np.float64), np.asarray(layer.moving_stddev.numpy(), np.float64)
    if _is_keras_bn(layer):
        variance = np.asarray(layer.moving_variance.numpy(), np.float64)
        return np.asarray(layer.moving_mean.numpy(), np.float64), np.sqrt(variance + layer.epsilon)
    return None


def set_population_statistics(layer, mean, variance):
    """Make inference normalize with population `mean` and `variance` (variance without epsilon; PreciseBN)."""
    mean = np.asarray(mean, np.float32)
    variance = np.asarray(variance, np.float32)
    if isinstance(layer, BatchRenormalization):
        layer.moving_mean.assign(mean)
        layer.moving_stddev.assign(np.sqrt(variance + layer.epsilon).astype(np.float32))
    elif _is_keras_bn(layer):
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(variance)
        if layer.renorm:
            # Keras renorm derives moving_variance from moving_stddev at each update.
            layer.moving_stddev.assign(np.sqrt(variance + layer.epsilon).astype(np.float32))
    else:
        raise TypeError(f"{type(layer).__name__} has no population statistics to set")


def clip_limits(layer):
    """(r_max, d_max) in force for the next training step, or None for layers without renorm clipping.

    BatchRenormalization: the scheduled values. Keras renorm: its fixed clip
    (inf where a key is missing).
    """
    if isinstance(layer, BatchRenormalization):
        return layer.current_clip_limits()
    if _is_keras_bn(layer) and layer.renorm:
        return _keras_renorm_clip(layer)
    return None


def _keras_renorm_clip(layer):
    clipping = layer.renorm_clipping or {}
    return float(clipping.get("rmax", math.inf)), float(clipping.get("dmax", math.inf))


def renorm_clip_reference(layer):
    """(mean, std, r_max, d_max) that r and d are computed and clipped against in the next training step,
    as tensors (inside a compiled function, read when it runs), or None for layers without renorm clipping.

    Our BatchRenormalization uses its one pair of moving statistics (as Algorithm 1)
    and its scheduled limits; Keras renorm uses its separate renorm_mean/renorm_stddev
    (stddev floored at sqrt(epsilon)), which equal the inference statistics only when
    momentum == renorm_momentum, and its fixed clip.
    """
    if isinstance(layer, BatchRenormalization):
        r_max, d_max = layer.limits_tensor()
        return (tf.convert_to_tensor(layer.moving_mean.value), tf.convert_to_tensor(layer.moving_stddev.value),
                r_max, d_max)
    if _is_keras_bn(layer) and layer.renorm:
        std = tf.maximum(tf.convert_to_tensor(layer.renorm_stddev.value), math.sqrt(layer.epsilon))
        return (tf.convert_to_tensor(layer.renorm_mean.value), std, *_keras_renorm_clip(layer))
    return None


def is_batch_dependent(layer):
    """True when a training-mode output depends on the other examples in the batch."""
    return isinstance(layer, (BatchRenormalization, keras.layers.BatchNormalization))


def tracks_stddev(layer):
    """True for layers whose moving average tracks the batch standard deviation sigma_B (our Batch Renorm,
    Keras renorm); False for BN, whose moving variance tracks the batch variance."""
    return isinstance(layer, BatchRenormalization) or (_is_keras_bn(layer) and bool(layer.renorm))
