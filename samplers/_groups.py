"""Shared machinery of samplers whose batches are k groups (classes, clusters) x m examples."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from samplers._streams import GroupStreams, choose_groups
from samplers.base import SamplerParameterError, check_bool, check_int


def _plain(value: Any) -> Any:
    """NumPy scalars as Python values, so messages read `class 3`, not `class np.int64(3)`."""
    return value.item() if isinstance(value, np.generic) else value


class GroupBatches:
    """Validated k-groups-per-batch layout over group codes, and the draw itself.

    A batch is laid out group by group: slots of m = batch_size / k
    consecutive examples, each slot one group, examples within a slot
    distinct (drawn from that group's reshuffled-per-epoch stream).
    """

    def __init__(self, codes: NDArray[np.integer], names: NDArray[Any], batch_size: int,
                 rng: np.random.Generator, *, param: str, k: int, replace: bool, word: str) -> None:
        """Validate k (`param` names it in errors) against the groups' sizes and set up their streams.

        `codes` holds each example's group in 0..len(names)-1; `names` are the groups as shown in
        messages; `word` is what a group is called (`class`, `cluster`).
        """
        n_groups = len(names)
        plural = word + ("es" if word.endswith("s") else "s")
        k = check_int(param, k, minimum=1)
        replace = check_bool("replace", replace)
        if k > n_groups:
            raise SamplerParameterError(param, k, f"exceeds the {n_groups} {plural} in the data")
        if batch_size % k:
            raise SamplerParameterError(param, k, f"does not divide batch_size {batch_size}")
        m = batch_size // k
        counts = np.bincount(codes, minlength=n_groups)
        small = np.flatnonzero(counts < m)
        if small.size:
            worst = small[np.argsort(counts[small], kind="stable")]
            listed = ", ".join(f"{word} {_plain(names[g])!r} has {counts[g]}" for g in worst[:3])
            more = f" (and {small.size - 3} more {plural})" if small.size > 3 else ""
            raise SamplerParameterError(
                param, k, f"needs {m} distinct examples of each {word} per batch "
                f"(batch_size {batch_size} / {k}), but {listed}{more}")
        self.n_groups, self.k, self.m, self.replace = n_groups, k, m, replace
        # separate generators per purpose keep the stream independent of how it is chunked
        self.rng, stream_rng = rng.spawn(2)
        self.streams = GroupStreams(codes, n_groups, stream_rng.integers(2 ** 63), unit=m)

    def choose(self, n: int) -> NDArray[np.int64]:
        """Group choices (n, k) for the next `n` batches."""
        return choose_groups(self.rng, n, self.n_groups, self.k, self.replace)

    def fill(self, groups: NDArray[np.integer]) -> NDArray[np.int64]:
        """Index batches (n, k*m) for group choices (n, k)."""
        n = groups.shape[0]
        flat = groups.reshape(-1)
        out = self.streams.take(flat, np.full(flat.size, self.m, dtype=np.int64))
        return out.reshape(n, self.k * self.m)
