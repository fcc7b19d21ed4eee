"""Label-sorted shards: the extreme non-i.i.d. case."""

import numpy as np

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

    def __init__(self, labels, batch_size, *, seed, features=None, shuffle_batches=True):
        super().__init__(labels, batch_size, seed=seed, features=features)
        self.shuffle_batches = shuffle_batches
        self._shuffle_batches = check_bool("shuffle_batches", shuffle_batches)

    def _epoch_order(self):
        shuffled = self.rng.permutation(self.n_examples_)
        return shuffled[np.argsort(self.label_codes_[shuffled], kind="stable")]
