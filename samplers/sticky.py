"""Correlation across steps: consecutive batches share their classes."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from samplers._groups import GroupBatches
from samplers.base import Sampler, check_real


class StickySampler(Sampler):
    """Consecutive batches share their classes with probability p (correlation across steps).

    Batches are laid out as in `class_correlated` (classes_per_batch classes x
    batch_size/classes_per_batch examples); each batch keeps the previous
    batch's class set with probability `p`, otherwise draws a fresh one, so
    runs of the same classes last 1 / (1 - p) batches on average, as in
    streaming data or RL replay. p=0 is `class_correlated`.
    """

    name = "sticky"

    def __init__(self, labels: npt.ArrayLike, batch_size: int, *, seed: int, features: npt.ArrayLike | None = None,
                 p: float = 0.9, classes_per_batch: int = 2, replace: bool = False) -> None:
        """Validate the arguments (see the class docstring); `SamplerParameterError` names a bad one."""
        super().__init__(labels, batch_size, seed=seed, features=features)
        self.p = p
        self.classes_per_batch = classes_per_batch
        self.replace = replace
        self._p = check_real("p", p, 0.0, 1.0)
        self._groups = GroupBatches(self.label_codes_, self.classes_, batch_size, self.rng,
                                    param="classes_per_batch", k=classes_per_batch,
                                    replace=replace, word="class")
        self._last: NDArray[np.int64] | None = None  # class set of the previous batch in the stream
        self._keep_rng = self.rng.spawn(1)[0]

    def batches(self, n: int) -> NDArray[np.int64]:
        """Return the next `n` batches of the stream: int64 array (n, batch_size)."""
        n = self._check_batches_arg(n)
        if n == 0:
            return np.empty((0, self.batch_size), dtype=np.int64)
        fresh = self._groups.choose(n)
        keep = self._keep_rng.random(n) < self._p
        if self._last is None:
            keep[0] = False
        # each batch uses the class set of the latest fresh draw at or before it
        source = np.maximum.accumulate(np.where(keep, -1, np.arange(n)))
        sets = fresh[np.maximum(source, 0)]
        if self._last is not None:
            sets[source < 0] = self._last
        self._last = sets[-1].copy()
        return self._groups.fill(sets)
