"""Deliberately broken Batch Renormalization layers, one known public mistake each, for the verifier's tests.

`SimpleBRN` is a small independent Algorithm 1 (channels-last) that should pass
every check; each subclass changes exactly one thing.
"""

import keras
import tensorflow as tf


class SimpleBRN(keras.layers.Layer):
    """Straightforward Algorithm 1 with the paper's schedule driven by a step variable."""

    def __init__(self, momentum=0.99, epsilon=1e-3, r_max=3.0, d_max=5.0, warmup_steps=0, ramp_end=None, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon
        self.r_max = r_max
        self.d_max = d_max
        self.warmup_steps = warmup_steps
        self.ramp_end = ramp_end

    def build(self, input_shape):
        c = (input_shape[-1],)
        self.gamma = self.add_weight(shape=c, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=c, initializer="zeros", name="beta")
        self.mu = self.add_weight(shape=c, initializer="zeros", trainable=False, name="mu")
        self.sigma = self.add_weight(shape=c, initializer="ones", trainable=False, name="sigma")
        self.make_step()

    def make_step(self):
        self.step = self.add_weight(shape=(), initializer="zeros", trainable=False, name="step")

    def step_value(self):
        return tf.convert_to_tensor(self.step)

    def advance(self):
        self.step.assign_add(1.0)

    def limits(self):
        step = self.step_value()
        end = self.ramp_end if self.ramp_end is not None else self.warmup_steps
        frac = tf.where(
            step < self.warmup_steps,
            0.0,
            tf.clip_by_value((step - self.warmup_steps + 1e-9) / max(end - self.warmup_steps, 1e-9), 0.0, 1.0),
        )
        return 1.0 + (self.r_max - 1.0) * frac, self.d_max * frac

    def corrections(self, mean, sigma_b):
        r_max, d_max = self.limits()
        r = tf.clip_by_value(sigma_b / self.sigma, 1.0 / r_max, r_max)
        d = tf.clip_by_value((mean - self.mu) / self.sigma, -d_max, d_max)
        return tf.stop_gradient(r), tf.stop_gradient(d)

    def normalize(self, x, mean, variance):
        return (x - mean) / tf.sqrt(variance + self.epsilon)

    def update(self, mean, sigma_b):
        a = 1.0 - self.momentum
        self.mu.assign(self.mu + a * (mean - self.mu))
        self.sigma.assign(self.sigma + a * (sigma_b - self.sigma))

    def call(self, x, training=None):
        if not training:
            return self.inference(x)
        mean, variance = tf.nn.moments(x, axes=list(range(len(x.shape) - 1)))
        sigma_b = tf.sqrt(variance + self.epsilon)
        r, d = self.corrections(mean, sigma_b)
        y = self.gamma * (self.normalize(x, mean, variance) * r + d) + self.beta
        self.update(tf.stop_gradient(mean), tf.stop_gradient(sigma_b))
        self.advance()
        return y

    def inference(self, x):
        return self.gamma * (x - self.mu) / self.sigma + self.beta

    def get_config(self):
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "r_max": self.r_max,
            "d_max": self.d_max,
            "warmup_steps": self.warmup_steps,
            "ramp_end": self.ramp_end,
        }


def scheduled_simple_brn():
    """SimpleBRN with a warm-up and ramp short enough for the verifier's budgets: passes everything."""
    return SimpleBRN(warmup_steps=20, ramp_end=60)


class TrainableRD(SimpleBRN):
    """r and d created as trainable weights (the widely copied tutorial answer)."""

    def build(self, input_shape):
        super().build(input_shape)
        c = (input_shape[-1],)
        self.r = self.add_weight(shape=c, initializer="ones", name="r")
        self.d = self.add_weight(shape=c, initializer="zeros", name="d")

    def corrections(self, mean, sigma_b):
        return self.r, self.d


class GradientThroughRD(SimpleBRN):
    """r and d without stop_gradient: forward pass identical, gradient wrong."""

    def corrections(self, mean, sigma_b):
        r_max, d_max = self.limits()
        r = tf.clip_by_value(sigma_b / self.sigma, 1.0 / r_max, r_max)
        d = tf.clip_by_value((mean - self.mu) / self.sigma, -d_max, d_max)
        return r, d


class TraceTimeSchedule(SimpleBRN):
    """Schedule computed from a Python counter: advances in eager mode, frozen inside tf.function
    (keras-contrib #127)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("warmup_steps", 20)
        kwargs.setdefault("ramp_end", 60)
        super().__init__(**kwargs)

    def make_step(self):
        self.python_step = 0

    def step_value(self):
        return tf.constant(float(self.python_step))

    def advance(self):
        self.python_step += 1


class DoubleEpsilon(SimpleBRN):
    """sigma_B already includes epsilon and is passed on as a variance to a normalization that adds it again."""

    def normalize(self, x, mean, variance):
        return (x - mean) / tf.sqrt(variance + self.epsilon + self.epsilon)


class RateAsMomentum(SimpleBRN):
    """Update rate passed where momentum was meant: the moving statistics are mostly the last batch's."""

    def update(self, mean, sigma_b):
        a = self.momentum  # should be 1 - momentum
        self.mu.assign(self.mu + a * (mean - self.mu))
        self.sigma.assign(self.sigma + a * (sigma_b - self.sigma))


class BatchStatsAtInference(SimpleBRN):
    """Normalizes with the batch statistics at inference too."""

    def inference(self, x):
        mean, variance = tf.nn.moments(x, axes=list(range(len(x.shape) - 1)))
        return self.gamma * self.normalize(x, mean, variance) + self.beta


class UnsavedStep(SimpleBRN):
    """Step counter kept in a plain tf.Variable, which a .keras file does not store: a loaded model restarts
    its warm-up."""

    def __init__(self, **kwargs):
        kwargs.setdefault("warmup_steps", 20)
        kwargs.setdefault("ramp_end", 60)
        super().__init__(**kwargs)

    def make_step(self):
        self._raw_step = tf.Variable(0.0, trainable=False)

    def step_value(self):
        return self._raw_step.read_value()

    def advance(self):
        self._raw_step.assign_add(1.0)


NOT_A_LAYER = 42


def returns_not_a_layer():
    return "not a layer"
