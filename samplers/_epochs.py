"""Shared machinery of samplers that cut each epoch's ordering of the data into batches."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from samplers.base import Sampler


class EpochSampler(Sampler):
    """Base of epoch-wise samplers: subclasses give `_epoch_order()`, a permutation of all examples.

    Each epoch's ordering is cut into `len(self)` consecutive batches (the
    remainder is dropped), optionally served in shuffled order; the stream is
    epoch after epoch, so every epoch covers the data without replacement.
    """

    _shuffle_batches = False
    _epoch: NDArray[np.int64] | None  # the current epoch's batches (set on first use)
    _position: int  # batches of `_epoch` already served

    def _epoch_order(self) -> NDArray[np.int64]:
        raise NotImplementedError

    def batches(self, n: int) -> NDArray[np.int64]:
        """Return the next `n` batches: consecutive slices of the epochs' orderings, epoch after epoch."""
        n = self._check_batches_arg(n)
        size, per_epoch = self.batch_size, len(self)
        out = np.empty((n, size), dtype=np.int64)
        if not hasattr(self, "_epoch"):
            self._epoch, self._position = None, per_epoch
        filled = 0
        while filled < n:  # one iteration per epoch touched, not per batch
            if self._position == per_epoch:
                epoch = self._epoch_order()[: per_epoch * size].reshape(per_epoch, size)
                if self._shuffle_batches:
                    epoch = epoch[self.rng.permutation(per_epoch)]
                self._epoch, self._position = epoch, 0
            take = min(n - filled, per_epoch - self._position)
            out[filled:filled + take] = self._epoch[self._position:self._position + take]  # type: ignore[index]  # set on the first epoch
            filled += take
            self._position += take
        return out
