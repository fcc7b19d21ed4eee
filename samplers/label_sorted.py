"""Label-sorted shards: the extreme non-i.i.d. case."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from samplers._epochs import EpochSampler
from samplers.base import check_bool


class LabelSortedSampler(EpochSampler):
    """Batches cut from label-sorted data (shards): the extreme case.

    Each epoch the examples are sorted by label (random order within a
    class) and cut into consecutive batches, so a batch holds one class, or
    two where it straddles a class boundary. `shuffle_batches=True` serves
    the shards in random order (correlation inside batches only);
    `False` serves them in label order (also correlated across steps).
    """

    name = "label_sorted"

    def __init__(self, labels: npt.ArrayLike, batch_size: int, *, seed: int, features: npt.ArrayLike | None = None,
                 shuffle_batches: bool = True) -> None:
        """Validate the arguments (see the class docstring); `SamplerParameterError` names a bad one."""
        super().__init__(labels, batch_size, seed=seed, features=features)
        self.shuffle_batches = shuffle_batches
        self._shuffle_batches = check_bool("shuffle_batches", shuffle_batches)

    def _epoch_order(self) -> NDArray[np.int64]:
        shuffled = self.rng.permutation(self.n_examples_)
        return shuffled[np.argsort(self.label_codes_[shuffled], kind="stable")]
