"""One knob from i.i.d. to sorted, for sweeps."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from samplers._epochs import EpochSampler
from samplers.base import check_bool, check_real


class ContinuousSampler(EpochSampler):
    """One knob `strictness` in [0, 1] from i.i.d. (0) to label-sorted (1).

    Each epoch sorts the examples by `strictness * z + (1 - strictness) *
    noise`, with z the standardized class code and noise standard normal
    (Flower's ContinuousPartitioner convention), and cuts the result into
    batches. Intermediate values mix neighbouring classes smoothly.
    `shuffle_batches` as in `label_sorted`.
    """

    name = "continuous"

    def __init__(self, labels: npt.ArrayLike, batch_size: int, *, seed: int, features: npt.ArrayLike | None = None,
                 strictness: float = 0.5, shuffle_batches: bool = True) -> None:
        """Validate the arguments (see the class docstring); `SamplerParameterError` names a bad one."""
        super().__init__(labels, batch_size, seed=seed, features=features)
        self.strictness = strictness
        self.shuffle_batches = shuffle_batches
        self._strictness = check_real("strictness", strictness, 0.0, 1.0)
        self._shuffle_batches = check_bool("shuffle_batches", shuffle_batches)
        codes = self.label_codes_.astype(np.float64)
        spread = codes.std()
        self._z = (codes - codes.mean()) / spread if spread > 0 else np.zeros_like(codes)

    def _epoch_order(self) -> NDArray[np.int64]:
        # Keys are built on a random permutation so ties (strictness 1) break randomly.
        shuffled = self.rng.permutation(self.n_examples_)
        s = self._strictness
        keys = s * self._z[shuffled] + (1.0 - s) * self.rng.standard_normal(self.n_examples_)
        return shuffled[np.argsort(keys)]
