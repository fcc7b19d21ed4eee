"""The i.i.d. control."""

from samplers._epochs import EpochSampler


class IIDSampler(EpochSampler):
    """Uniform random batches, epoch-wise without replacement (the i.i.d. control).

    Each epoch is a fresh random permutation of the examples cut into
    batches; the last `N mod batch_size` examples of each epoch's
    permutation are dropped.
    """

    def __init__(self, labels, batch_size, *, seed, features=None):
        super().__init__(labels, batch_size, seed=seed, features=features)

    def _epoch_order(self):
        return self.rng.permutation(self.n_examples_)
