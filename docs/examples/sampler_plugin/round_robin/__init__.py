"""A sampler plugin: each batch holds `param` consecutive classes, moving on one class per step."""

import numpy as np

import samplers
from samplers.base import SamplerParameterError


class RoundRobin(samplers.Sampler):
    """Each batch holds `param` consecutive classes, moving on one class per step."""

    def __init__(self, labels, batch_size, *, seed, features=None, param=1):
        super().__init__(labels, batch_size, seed=seed, features=features)
        self.param = param  # stored as given (scikit-learn style)
        if not isinstance(param, int) or not 1 <= param <= len(self.classes_):
            raise SamplerParameterError("param", param, f"must be in [1, {len(self.classes_)}]")
        self._step = 0

    def batches(self, n):
        steps = self._step + np.arange(n)                   # this call's batches
        self._step += n                                     # the stream continues
        slot = np.arange(self.batch_size) % self.param      # class slot of each position
        codes = (steps[:, None] + slot) % len(self.classes_)
        order = np.argsort(self.label_codes_, kind="stable")  # examples grouped by class
        start = np.cumsum(self.class_counts_) - self.class_counts_
        pick = self.rng.integers(0, self.class_counts_[codes])  # a random example of each class
        return order[start[codes] + pick].astype(np.int64)
