"""The paper's non-i.i.d. minibatches: few classes per batch, equal counts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from samplers._groups import GroupBatches
from samplers.base import Sampler


class ClassCorrelatedSampler(Sampler):
    """Each batch holds classes_per_batch classes with batch_size/classes_per_batch examples each.

    Ioffe (2017)'s non-i.i.d. experiment is batch_size=32,
    classes_per_batch=16, replace=True (16 labels sampled with replacement x
    2 images). `replace` is how a batch's classes are chosen: False gives
    exactly `classes_per_batch` distinct classes per batch; True may repeat a
    class (it then holds a multiple of batch_size/classes_per_batch
    examples). Classes are chosen uniformly, not by frequency. Examples of a
    class never repeat within its slot of a batch; every class needs at least
    batch_size/classes_per_batch examples.

    The batch is laid out class by class, so a normalizer with
    `microbatch_size = batch_size / classes_per_batch` sees one class per
    microbatch.
    """

    name = "class_correlated"

    def __init__(self, labels: npt.ArrayLike, batch_size: int, *, seed: int, features: npt.ArrayLike | None = None,
                 classes_per_batch: int = 2, replace: bool = False) -> None:
        """Validate the arguments (see the class docstring); `SamplerParameterError` names a bad one."""
        super().__init__(labels, batch_size, seed=seed, features=features)
        self.classes_per_batch = classes_per_batch
        self.replace = replace
        self._groups = GroupBatches(self.label_codes_, self.classes_, batch_size, self.rng,
                                    param="classes_per_batch", k=classes_per_batch,
                                    replace=replace, word="class")

    def batches(self, n: int) -> NDArray[np.int64]:
        """Return the next `n` batches of the stream: int64 array (n, batch_size)."""
        n = self._check_batches_arg(n)
        return self._groups.fill(self._groups.choose(n))
