"""The i.i.d. control."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from samplers._epochs import EpochSampler


class IIDSampler(EpochSampler):
    """Uniform random batches, epoch-wise without replacement (the i.i.d. control).

    Each epoch is a fresh random permutation of the examples cut into
    batches; the last `N mod batch_size` examples of each epoch's
    permutation are dropped.
    """

    name = "iid"

    def __init__(self, labels: npt.ArrayLike, batch_size: int, *, seed: int,
                 features: npt.ArrayLike | None = None) -> None:
        """Validate the arguments (see the class docstring); `SamplerParameterError` names a bad one."""
        super().__init__(labels, batch_size, seed=seed, features=features)

    def _epoch_order(self) -> NDArray[np.int64]:
        return self.rng.permutation(self.n_examples_)
