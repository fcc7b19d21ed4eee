"""Sampler plugins that break the sampler contract in the ways the hardening tests need (each one way)."""

import numpy as np

from samplers import Sampler
from samplers.iid import IIDSampler


class ShortSampler(IIDSampler):
    """batches(n) returns one row fewer than asked: the training loop must not wait for it forever."""

    def batches(self, n):
        return super().batches(n)[:-1]


class OutOfRangeSampler(IIDSampler):
    """batches(n) returns indices >= the number of examples."""

    def batches(self, n):
        return super().batches(n) + self.n_examples_


class NegativeSampler(IIDSampler):
    """batches(n) returns negative indices."""

    def batches(self, n):
        return -1 - super().batches(n)


class ExitingSampler(IIDSampler):
    """batches(n) calls sys.exit(0), as a careless plugin might."""

    def batches(self, n):
        raise SystemExit(0)


class RaisingInitSampler(Sampler):
    """The constructor itself fails (a plugin bug, not a SamplerParameterError)."""

    def __init__(self, labels, batch_size, *, seed, features=None):
        raise KeyError("plugin bug in __init__")

    def batches(self, n):
        return np.zeros((n, self.batch_size), np.int64)


class RequiredParamSampler(IIDSampler):
    """A parameter without a default."""

    def __init__(self, labels, batch_size, *, seed, features=None, strength):
        super().__init__(labels, batch_size, seed=seed, features=features)
        self.strength = strength
