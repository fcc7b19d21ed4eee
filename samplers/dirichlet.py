"""Per-batch class proportions from a Dirichlet: the federated-learning convention."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from samplers._streams import GroupStreams
from samplers.base import Sampler, check_real


class DirichletSampler(Sampler):
    """Each batch's class proportions drawn from Dirichlet(alpha): large alpha i.i.d., small alpha one class.

    The concentration is `alpha * C * prior` (C classes, prior the dataset's
    class frequencies), which is the usual symmetric Dirichlet(alpha) for
    balanced data and tends to the dataset's own histogram as alpha grows
    (`alpha=inf` is allowed and means exactly that). The batch's labels are
    then drawn from those proportions and its examples from per-class
    streams, laid out class by class; an example repeats inside a batch only
    when a class holds fewer examples than the batch asks of it.
    """

    name = "dirichlet"

    def __init__(self, labels: npt.ArrayLike, batch_size: int, *, seed: int, features: npt.ArrayLike | None = None,
                 alpha: float = 1.0) -> None:
        """Validate the arguments (see the class docstring); `SamplerParameterError` names a bad one."""
        super().__init__(labels, batch_size, seed=seed, features=features)
        self.alpha = alpha
        self._alpha = check_real("alpha", alpha, low=0.0, low_open=True, allow_inf=True)
        n_classes = self.classes_.size
        self._prior = self.class_counts_ / self.n_examples_
        # one generator per purpose: the stream does not depend on how batches are requested
        self._proportion_rng, self._draw_rng, stream_rng = self.rng.spawn(3)
        self._streams = GroupStreams(self.label_codes_, n_classes, stream_rng.integers(2 ** 63))

    def batches(self, n: int) -> NDArray[np.int64]:
        """Return the next `n` batches of the stream: int64 array (n, batch_size)."""
        n = self._check_batches_arg(n)
        size, n_classes = self.batch_size, self.classes_.size
        if np.isinf(self._alpha):
            proportions = np.broadcast_to(self._prior, (n, n_classes))
        else:
            proportions = self._proportion_rng.dirichlet(self._alpha * n_classes * self._prior, size=n)
        # labels by inverse CDF, all batches at once: rows offset by their index
        cdf = np.cumsum(proportions, axis=1)
        cdf[:, -1] = 1.0
        rows = np.arange(n, dtype=np.float64)[:, None]
        draws = self._draw_rng.random((n, size))
        cls = np.searchsorted((cdf + rows).ravel(), (draws + rows).ravel(), side="right")
        cls = np.minimum(cls - np.repeat(np.arange(n) * n_classes, size), n_classes - 1)
        counts = np.bincount(np.repeat(np.arange(n) * n_classes, size) + cls,
                             minlength=n * n_classes).reshape(n, n_classes)
        batch, klass = np.nonzero(counts)  # row-major: batch by batch, class by class
        return self._streams.take(klass, counts[batch, klass]).reshape(n, size)
