"""Label-free correlation: batches from k-means clusters of the features."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray

from samplers._groups import GroupBatches
from samplers.base import Sampler, SamplerParameterError, check_int

# k-means is fitted on at most this many examples (a seeded random subset), then assigns all,
# in at most MAX_DIMS principal components: seconds rather than minutes on 1M rows or on images.
FIT_SAMPLE = 50_000
MAX_DIMS = 32
PCA_SAMPLE = 5_000  # principal components are estimated on this many of the fitted rows


class ClusterSampler(Sampler):
    """Batches drawn from k-means clusters of `features` (correlation not visible in labels).

    `features` (N, ...) are flattened per example and clustered into
    `n_clusters` with scikit-learn k-means (fitted on a random subset of at
    most 50,000 examples, then assigned to all; features with more than 32
    dimensions are first projected on their 32 principal components), all
    seeded from `seed`. Batches then hold `clusters_per_batch`
    clusters x batch_size/clusters_per_batch examples, exactly as
    `class_correlated` does with classes. The fitted assignment is
    `cluster_labels_`.
    """

    name = "cluster"

    def __init__(self, labels: npt.ArrayLike, batch_size: int, *, seed: int, features: npt.ArrayLike | None = None,
                 n_clusters: int = 10, clusters_per_batch: int = 1, replace: bool = False) -> None:
        """Validate the arguments, fit k-means on `features` (required) and set up the cluster streams."""
        super().__init__(labels, batch_size, seed=seed, features=features)
        self.n_clusters = n_clusters
        self.clusters_per_batch = clusters_per_batch
        self.replace = replace
        if features is None:
            raise SamplerParameterError("features", None, "is required by the cluster sampler")
        check_int("n_clusters", n_clusters, minimum=1, maximum=self.n_examples_)
        x = np.asarray(features)
        if not np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_:
            raise SamplerParameterError("features", x, f"must be numeric (got dtype {x.dtype})")
        x = x.reshape(self.n_examples_, -1).astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise SamplerParameterError("features", x, "must be finite")
        from sklearn.cluster import KMeans  # scikit-learn only when this sampler is built
        from sklearn.decomposition import PCA

        random_state = int(self.rng.integers(2 ** 31 - 1))
        fit_rows = np.arange(self.n_examples_)
        if self.n_examples_ > FIT_SAMPLE:
            fit_rows = np.sort(self.rng.choice(self.n_examples_, FIT_SAMPLE, replace=False))
        if x.shape[1] > MAX_DIMS and fit_rows.size > MAX_DIMS:
            pca = PCA(n_components=MAX_DIMS, svd_solver="randomized", random_state=random_state)
            x = pca.fit(x[fit_rows[:: max(1, fit_rows.size // PCA_SAMPLE)]]).transform(x).astype(np.float32)
        model = KMeans(n_clusters=n_clusters, random_state=random_state, n_init=1).fit(x[fit_rows])
        self.cluster_labels_ = model.predict(x).astype(np.int64)
        self._groups = GroupBatches(self.cluster_labels_, np.arange(n_clusters), batch_size,
                                    self.rng, param="clusters_per_batch", k=clusters_per_batch,
                                    replace=replace, word="cluster")

    def batches(self, n: int) -> NDArray[np.int64]:
        """Return the next `n` batches of the stream: int64 array (n, batch_size)."""
        n = self._check_batches_arg(n)
        return self._groups.fill(self._groups.choose(n))
