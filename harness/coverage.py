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

from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray


def cover_every_example(batches: npt.ArrayLike, sampler: Any, labels: npt.ArrayLike, max_extra: int = 200
                        ) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """(batches, weights): `batches` (n, batch_size) followed by padded batches from `sampler` holding every
    example of range(len(labels)) missing from `batches`; weights (same shape, bool) mark the slots that count
    (all of the original batches, the swapped-in slots of the added ones)."""
    given = np.asarray(batches, dtype=np.int64)
    y = np.asarray(labels)
    weights = np.ones(given.shape, dtype=bool)
    pending = sorted(set(range(len(y))) - set(given.ravel().tolist()))
    if not pending:
        return given, weights
    extra: list[NDArray[np.int64]] = []
    extra_weights: list[NDArray[np.bool_]] = []
    for attempt in range(max_extra + 1):
        if not pending:
            break
        batch = np.asarray(sampler.batches(1)[0], dtype=np.int64).copy()
        slots = np.zeros(batch.shape, dtype=bool)
        for slot in range(batch.size):
            if not pending:
                break
            if attempt == max_extra:  # last resort: any slot
                match = 0
            else:
                found = next((j for j, e in enumerate(pending) if y[e] == y[batch[slot]]), None)
                if found is None:
                    continue
                match = found
            batch[slot] = pending.pop(match)
            slots[slot] = True
        if slots.any():
            extra.append(batch)
            extra_weights.append(slots)
    return np.concatenate([given, np.array(extra)]), np.concatenate([weights, np.array(extra_weights)])
