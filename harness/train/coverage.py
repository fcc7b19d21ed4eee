"""Test batches that score every test example in the batch-statistics modes.

A sampler's test batches need not cover the test split: the i.i.d. sampler drops the last
`n_test mod batch_size` examples of each epoch, and a class-correlated sampler draws classes at random.
`cover_every_example` pads: it draws more batches from the same sampler and, slot by slot, swaps an example not
yet scored into a slot holding an example of the same label, so each added batch keeps the label composition the
sampler gave it. Only the swapped-in slots count (weight True); the rest of an added batch is there to give the
batch its statistics. An example whose label the sampler does not offer within `max_extra` added batches is swapped
into any slot (its batch's composition then differs by one example).
"""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray


def cover_every_example(batches: ArrayLike, sampler: Any, labels: ArrayLike,
                        max_extra: int = 200) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """(batches, weights): `batches` (n, batch_size) followed by padded batches from `sampler` holding every
    example of range(len(labels)) missing from `batches`; weights (same shape, bool) mark the slots that count
    (all of the original batches, the swapped-in slots of the added ones)."""
    given = np.asarray(batches, dtype=np.int64)
    y = np.asarray(labels)
    weights = np.ones(given.shape, dtype=bool)
    missing = sorted(set(range(len(y))) - set(given.ravel().tolist()))
    if not missing:
        return given, weights
    # the missing examples by label, each queue in increasing order: a slot takes the smallest missing example of
    # its label (the last resort, the smallest of all), as scanning one sorted list would, without the scan
    pending: dict[Any, collections.deque[int]] = {}
    for example in missing:
        pending.setdefault(y[example].item(), collections.deque()).append(example)
    left = len(missing)
    extra: list[NDArray[np.int64]] = []
    extra_weights: list[NDArray[np.bool_]] = []
    for attempt in range(max_extra + 1):
        if not left:
            break
        batch = np.asarray(sampler.batches(1)[0], dtype=np.int64).copy()
        slots = np.zeros(batch.shape, dtype=bool)
        for slot in range(batch.size):
            if not left:
                break
            if attempt == max_extra:  # last resort: any slot
                queue = min((q for q in pending.values() if q), key=lambda q: q[0])
            else:
                found = pending.get(y[batch[slot]].item())
                if not found:
                    continue
                queue = found
            batch[slot] = queue.popleft()
            left -= 1
            slots[slot] = True
        if slots.any():
            extra.append(batch)
            extra_weights.append(slots)
    return np.concatenate([given, np.array(extra)]), np.concatenate([weights, np.array(extra_weights)])
