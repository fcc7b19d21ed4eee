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

import keras
import numpy as np
import tensorflow as tf
from keras import constraints, initializers, regularizers

from harness.norms.microbatches import group_microbatches

from harness.norms import spec


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
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        r_max=3.0,
        d_max=5.0,
        warmup_steps=0,
        r_max_ramp_end=None,
        d_max_ramp_end=None,
        microbatch_size=None,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_stddev_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        **kwargs,
    ):
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
    def has_schedule(self):
        """True when r_max/d_max depend on the step (warm-up or ramp)."""
        return self.warmup_steps > 0 or bool(self.r_max_ramp_end) or bool(self.d_max_ramp_end)

    def build(self, input_shape):
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

    def compute_output_shape(self, input_shape):
        return input_shape

    @staticmethod
    def _param(vector, shape):
        return vector if shape is None else tf.reshape(vector, shape)

    def call(self, inputs, training=None):
        x = tf.cast(inputs, tf.float32) if inputs.dtype != tf.float64 else inputs
        if training and self.trainable:
            y = self._train(x)
        else:
            y = self._infer(x)
        return tf.cast(y, self.compute_dtype)

    def _affine_params(self, dtype):
        gamma = tf.cast(self.gamma, dtype) if self.scale else None
        beta = tf.cast(self.beta, dtype) if self.center else None
        return gamma, beta

    def _infer(self, x):
        gamma, beta = self._affine_params(x.dtype)
        scale = 1.0 / tf.cast(self.moving_stddev, x.dtype)
        if gamma is not None:
            scale = gamma * scale
        offset = -tf.cast(self.moving_mean, x.dtype) * scale
        if beta is not None:
            offset = offset + beta
        return x * self._param(scale, self._param_shape) + self._param(offset, self._param_shape)

    def limits_tensor(self):
        """(r_max, d_max) for the current training step, as graph values (Python floats without a schedule)."""
        if not self.has_schedule:
            return self.r_max, self.d_max
        step = tf.cast(self.step, tf.float32)

        def fraction(end):
            if end is None or end <= self.warmup_steps:
                return tf.cast(step >= self.warmup_steps, tf.float32)
            return tf.clip_by_value((step - self.warmup_steps) / float(end - self.warmup_steps), 0.0, 1.0)

        r_max = 1.0 + (self.r_max - 1.0) * fraction(self.r_max_ramp_end)
        d_max = self.d_max * fraction(self.d_max_ramp_end)
        return r_max, d_max

    def current_clip_limits(self):
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

    def population_statistics(self):
        """(mean, sigma) that inference normalizes with, as float64 arrays (sigma includes epsilon)."""
        return np.asarray(self.moving_mean.numpy(), np.float64), np.asarray(self.moving_stddev.numpy(), np.float64)

    def set_population_statistics(self, mean, variance):
        """Make inference normalize with `mean` and `variance` (without epsilon): PreciseBN."""
        self.moving_mean.assign(np.asarray(mean, np.float32))
        self.moving_stddev.assign(np.sqrt(np.asarray(variance, np.float32) + self.epsilon).astype(np.float32))

    def clip_limits(self):
        """(r_max, d_max) the next training call will use (the schedule's values)."""
        return self.current_clip_limits()

    def renorm_clip_reference(self):
        """(mean, sigma, r_max, d_max) the next training step computes and clips r and d against, as tensors:
        the one pair of moving statistics (as Algorithm 1) and the scheduled limits."""
        r_max, d_max = self.limits_tensor()
        return (tf.convert_to_tensor(self.moving_mean.value), tf.convert_to_tensor(self.moving_stddev.value),
                r_max, d_max)

    def _train(self, x):
        if self.microbatch_size is None:
            return self._train_groups(x, self._reduction_axes, self._param_shape, keepdims=False)
        grouped = group_microbatches(x, self.microbatch_size)
        rank = len(x.shape)
        axes = [1] + [i + 1 for i in self._reduction_axes if i != 0]
        shape = [1] * (rank + 1)
        shape[self._channel_axis + 1] = x.shape[self._channel_axis]
        y = self._train_groups(grouped, axes, shape, keepdims=True)
        return tf.reshape(y, tf.shape(x))

    def _train_groups(self, x, axes, param_shape, keepdims):
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

    def _update(self, mean, sigma_b, grouped):
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

    def get_config(self):
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
