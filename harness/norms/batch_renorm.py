"""Batch Renormalization (Ioffe 2017, arXiv 1702.03275), Algorithm 1 exactly.

Why a layer of our own: Keras's `BatchNormalization(renorm=True)` has fixed
clipping only (no warm-up, no r_max/d_max schedule, no microbatches) and keeps
two sets of moving statistics, while the paper keeps one (mu, sigma) used both
for r/d and for inference. Common third-party mistakes this layer avoids:
r and d are never weights and never carry gradients; the schedule reads a
step-counter variable, so it advances inside compiled training; epsilon is
added once; sigma is an EMA of sigma_B (not of the variance); the relaxation
is clamped so the limits never overshoot their final values.

TensorFlow backend only (the harness is TF-based); the training path is written
with `tf` ops, r and d folded into one per-channel scale and offset so the
layer costs about what plain BatchNormalization costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import numpy.typing as npt
import tensorflow as tf
from keras import constraints, initializers, regularizers
from numpy.typing import NDArray

from harness.norms import spec
from harness.norms.microbatches import group_microbatches


@keras.saving.register_keras_serializable(package="harness")
class BatchRenormalization(keras.layers.Layer):
    """Batch Renormalization with the paper's warm-up and r_max/d_max schedule.

    Training (statistics over every axis but `axis`):
        sigma_B = sqrt(var_B + epsilon)
        r = stop_gradient(clip(sigma_B / sigma, 1 / r_max, r_max))
        d = stop_gradient(clip((mu_B - mu) / sigma, -d_max, d_max))
        y = gamma * ((x - mu_B) / sigma_B * r + d) + beta
        mu += (1 - momentum) * (mu_B - mu); sigma += (1 - momentum) * (sigma_B - sigma)
    with r, d computed from the moving statistics before this step's update.
    Inference: y = gamma * (x - mu) / sigma + beta.

    Schedule: for the first `warmup_steps` training calls r_max = 1 and
    d_max = 0 (plain BN); then both relax linearly to their final values,
    reached at step `r_max_ramp_end` / `d_max_ramp_end` (None: right after the
    warm-up). The paper uses warmup_steps=5000, r_max_ramp_end=40000,
    d_max_ramp_end=25000. The step counter is the non-trainable variable
    `step`, advanced by every training call.

    `microbatch_size=k` normalizes each contiguous group of k examples with its
    own statistics (and its own r, d); the moving statistics move towards the
    average of the group statistics. The batch size must be a multiple of k.

    As with Keras BatchNormalization, a layer with `trainable=False` runs in
    inference mode.
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        r_max: float = 3.0,
        d_max: float = 5.0,
        warmup_steps: int = 0,
        r_max_ramp_end: int | None = None,
        d_max_ramp_end: int | None = None,
        microbatch_size: int | None = None,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_stddev_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        beta_constraint: Any = None,
        gamma_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        """Check the arguments (`spec.check_batch_renorm_arguments`) and store them; weights come in `build`.

        The initializer, regularizer and constraint arguments are those of Keras BatchNormalization
        (`moving_stddev_initializer` plays the role of its `moving_variance_initializer`).

        Args:
            axis: the normalized (channel) axis.
            momentum: the moving statistics' decay (they move by `1 - momentum` per training call).
            epsilon: added to the batch variance before the square root.
            r_max: final upper clip of r (its lower clip is `1 / r_max`).
            d_max: final clip of |d|.
            warmup_steps: training calls with r_max = 1 and d_max = 0 (plain BN).
            r_max_ramp_end: step at which r_max reaches its final value (None: right after the warm-up).
            d_max_ramp_end: step at which d_max reaches its final value (None: right after the warm-up).
            microbatch_size: size of the contiguous groups normalized on their own (None: the whole batch).
            center: add the learned offset beta.
            scale: multiply by the learned scale gamma.
            **kwargs: the base `keras.layers.Layer` arguments (name, dtype, trainable, ...).
        """
        super().__init__(**kwargs)
        spec.check_batch_renorm_arguments(
            axis=axis,
            momentum=momentum,
            epsilon=epsilon,
            r_max=r_max,
            d_max=d_max,
            warmup_steps=warmup_steps,
            r_max_ramp_end=r_max_ramp_end,
            d_max_ramp_end=d_max_ramp_end,
            microbatch_size=microbatch_size,
        )
        self.axis = axis
        self.momentum = momentum
        self.epsilon = epsilon
        self.r_max = r_max
        self.d_max = d_max
        self.warmup_steps = warmup_steps
        self.r_max_ramp_end = r_max_ramp_end
        self.d_max_ramp_end = d_max_ramp_end
        self.microbatch_size = microbatch_size
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_stddev_initializer = initializers.get(moving_stddev_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.gamma = None
        self.beta = None

    @property
    def has_schedule(self) -> bool:
        """True when r_max/d_max depend on the step (warm-up or ramp)."""
        return self.warmup_steps > 0 or bool(self.r_max_ramp_end) or bool(self.d_max_ramp_end)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create gamma, beta, the moving mean and stddev (one value per channel) and the step counter."""
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"Argument `axis` is out of bounds for input rank {rank}. Received: axis={self.axis}")
        self._channel_axis = self.axis % rank
        if self.microbatch_size is not None and self._channel_axis == 0:
            raise ValueError(
                "Argument `microbatch_size` needs a batch axis 0 distinct from the normalized axis. "
                f"Received: axis={self.axis}"
            )
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ValueError(f"The normalized axis {self.axis} of the input must be known. Received: {input_shape}")
        shape = (channels,)
        if self.scale:
            self.gamma = self.add_weight(
                shape=shape,
                name="gamma",
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                constraint=self.gamma_constraint,
                trainable=True,
                autocast=False,
            )
        if self.center:
            self.beta = self.add_weight(
                shape=shape,
                name="beta",
                initializer=self.beta_initializer,
                regularizer=self.beta_regularizer,
                constraint=self.beta_constraint,
                trainable=True,
                autocast=False,
            )
        self.moving_mean = self.add_weight(
            shape=shape, name="moving_mean", initializer=self.moving_mean_initializer, trainable=False, autocast=False
        )
        self.moving_stddev = self.add_weight(
            shape=shape,
            name="moving_stddev",
            initializer=self.moving_stddev_initializer,
            trainable=False,
            autocast=False,
        )
        self.step = self.add_weight(shape=(), name="step", initializer="zeros", dtype="int64", trainable=False)
        self._reduction_axes = [i for i in range(rank) if i != self._channel_axis]
        # Per-channel vectors broadcast as-is when the channel axis is last.
        self._param_shape = (
            None
            if self._channel_axis == rank - 1
            else [channels if i == self._channel_axis else 1 for i in range(rank)]
        )
        self.input_spec = keras.layers.InputSpec(ndim=rank, axes={self._channel_axis: channels})

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> Sequence[int | None]:
        """The input shape: the layer is elementwise."""
        return input_shape

    @staticmethod
    def _param(vector: tf.Tensor, shape: list[int] | None) -> tf.Tensor:
        return vector if shape is None else tf.reshape(vector, shape)

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        """Normalize `inputs`.

        Call arguments:
            inputs: the input tensor (computed in float32, or float64 for float64 inputs).
            training: Algorithm 1 with batch statistics (and an update of the moving statistics and the
                step) when truthy and the layer is trainable; otherwise inference with the moving statistics.
        """
        x = tf.cast(inputs, tf.float32) if inputs.dtype != tf.float64 else inputs
        if training and self.trainable:
            y = self._train(x)
        else:
            y = self._infer(x)
        return tf.cast(y, self.compute_dtype)

    def _affine_params(self, dtype: tf.DType) -> tuple[tf.Tensor | None, tf.Tensor | None]:
        gamma = tf.cast(self.gamma, dtype) if self.scale else None
        beta = tf.cast(self.beta, dtype) if self.center else None
        return gamma, beta

    def _infer(self, x: tf.Tensor) -> tf.Tensor:
        gamma, beta = self._affine_params(x.dtype)
        scale = 1.0 / tf.cast(self.moving_stddev, x.dtype)
        if gamma is not None:
            scale = gamma * scale
        offset = -tf.cast(self.moving_mean, x.dtype) * scale
        if beta is not None:
            offset = offset + beta
        return x * self._param(scale, self._param_shape) + self._param(offset, self._param_shape)

    def limits_tensor(self) -> tuple[float | tf.Tensor, float | tf.Tensor]:
        """(r_max, d_max) for the current training step, as graph values (Python floats without a schedule)."""
        if not self.has_schedule:
            return self.r_max, self.d_max
        step = tf.cast(self.step, tf.float32)

        def fraction(end: int | None) -> tf.Tensor:
            if end is None or end <= self.warmup_steps:
                return tf.cast(step >= self.warmup_steps, tf.float32)
            return tf.clip_by_value((step - self.warmup_steps) / float(end - self.warmup_steps), 0.0, 1.0)

        r_max = 1.0 + (self.r_max - 1.0) * fraction(self.r_max_ramp_end)
        d_max = self.d_max * fraction(self.d_max_ramp_end)
        return r_max, d_max

    def current_clip_limits(self) -> tuple[float, float]:
        """(r_max, d_max) the next training call will use, as Python floats."""
        step = int(self.step.numpy()) if self.built else 0
        return spec.scheduled_limits(
            step,
            r_max=self.r_max,
            d_max=self.d_max,
            warmup_steps=self.warmup_steps,
            r_max_ramp_end=self.r_max_ramp_end,
            d_max_ramp_end=self.d_max_ramp_end,
        )

    # -- the analyzer's hooks (harness.norms.statistics), the same a plugin layer may define ----------
    uses_batch_statistics = True
    tracks_stddev = True  # moving_stddev is the moving average of sigma_B (Algorithm 1)

    def population_statistics(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(mean, sigma) that inference normalizes with, as float64 arrays (sigma includes epsilon)."""
        return np.asarray(self.moving_mean.numpy(), np.float64), np.asarray(self.moving_stddev.numpy(), np.float64)

    def set_population_statistics(self, mean: npt.ArrayLike, variance: npt.ArrayLike) -> None:
        """Make inference normalize with `mean` and `variance` (without epsilon): PreciseBN."""
        self.moving_mean.assign(np.asarray(mean, np.float32))
        self.moving_stddev.assign(np.sqrt(np.asarray(variance, np.float32) + self.epsilon).astype(np.float32))

    def clip_limits(self) -> tuple[float, float]:
        """(r_max, d_max) the next training call will use (the schedule's values)."""
        return self.current_clip_limits()

    def renorm_clip_reference(self) -> tuple[tf.Tensor, tf.Tensor, float | tf.Tensor, float | tf.Tensor]:
        """(mean, sigma, r_max, d_max) the next training step computes and clips r and d against, as tensors:
        the one pair of moving statistics (as Algorithm 1) and the scheduled limits."""
        r_max, d_max = self.limits_tensor()
        return (tf.convert_to_tensor(self.moving_mean.value), tf.convert_to_tensor(self.moving_stddev.value),
                r_max, d_max)

    def _train(self, x: tf.Tensor) -> tf.Tensor:
        if self.microbatch_size is None:
            return self._train_groups(x, self._reduction_axes, self._param_shape, keepdims=False)
        grouped = group_microbatches(x, self.microbatch_size)
        rank = len(x.shape)
        axes = [1] + [i + 1 for i in self._reduction_axes if i != 0]
        shape = [1] * (rank + 1)
        shape[self._channel_axis + 1] = x.shape[self._channel_axis]
        y = self._train_groups(grouped, axes, shape, keepdims=True)
        return tf.reshape(y, tf.shape(x))

    def _train_groups(self, x: tf.Tensor, axes: list[int], param_shape: list[int] | None, keepdims: bool
                      ) -> tf.Tensor:
        """Algorithm 1 on `x`; statistics over `axes` (one set, or one per microbatch group with keepdims)."""
        dtype = x.dtype
        mean, variance = tf.nn.moments(x, axes, keepdims=keepdims)
        sigma_b = tf.sqrt(variance + self.epsilon)
        # Statistics are (C,) without groups and broadcastable `param_shape` with them.
        stat_shape = param_shape if keepdims else None
        mu = self._param(tf.cast(self.moving_mean, dtype), stat_shape)
        sigma = self._param(tf.cast(self.moving_stddev, dtype), stat_shape)
        r_max, d_max = self.limits_tensor()
        r = tf.stop_gradient(tf.clip_by_value(sigma_b / sigma, 1.0 / r_max, r_max))
        d = tf.stop_gradient(tf.clip_by_value((mean - mu) / sigma, -d_max, d_max))
        gamma, beta = self._affine_params(dtype)
        # y = gamma * ((x - mu_B) / sigma_B * r + d) + beta, folded into y = x * a + b.
        a = r / sigma_b
        b = d
        if gamma is not None:
            g = self._param(gamma, stat_shape)
            a = g * a
            b = g * b
        if beta is not None:
            b = b + self._param(beta, stat_shape)
        b = b - mean * a
        if not keepdims:
            a, b = self._param(a, self._param_shape), self._param(b, self._param_shape)
        y = x * a + b
        self._update(mean, sigma_b, keepdims)
        return y

    def _update(self, mean: tf.Tensor, sigma_b: tf.Tensor, grouped: bool) -> None:
        if grouped:
            axes = [i for i in range(len(mean.shape)) if i != self._channel_axis + 1]
            mean = tf.reduce_mean(mean, axes)
            sigma_b = tf.reduce_mean(sigma_b, axes)
        alpha = 1.0 - self.momentum
        mu = tf.cast(self.moving_mean, mean.dtype)
        sigma = tf.cast(self.moving_stddev, mean.dtype)
        self.moving_mean.assign(tf.cast(mu + alpha * (tf.stop_gradient(mean) - mu), self.moving_mean.dtype))
        self.moving_stddev.assign(
            tf.cast(sigma + alpha * (tf.stop_gradient(sigma_b) - sigma), self.moving_stddev.dtype)
        )
        self.step.assign_add(1)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (initializers, regularizers, constraints serialized) and the base config."""
        config = {
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "r_max": self.r_max,
            "d_max": self.d_max,
            "warmup_steps": self.warmup_steps,
            "r_max_ramp_end": self.r_max_ramp_end,
            "d_max_ramp_end": self.d_max_ramp_end,
            "microbatch_size": self.microbatch_size,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_stddev_initializer": initializers.serialize(self.moving_stddev_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }
        return {**super().get_config(), **config}
