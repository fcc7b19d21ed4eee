"""Per-group example streams, drawn from in bulk without a Python loop per example.

Why: correlated samplers pick *which* groups (classes, clusters) a batch holds
and then need that many examples of each group, without repeating an example
inside a batch and spreading draws evenly over the group's examples. Each group
here yields its examples epoch by epoch, every epoch a fresh random order, so a
request of length L takes the next L of that group's stream.

With `unit=m`, a group's epoch is cut to floor(count / m) * m examples (the rest
wait for the next, reshuffled epoch), so requests of exactly m examples never
straddle two epochs and never repeat an example.

The order of epoch e of group g is a pure function of (key, g, e) (a
splitmix64 hash, vectorised), not of when it is first needed, so a stream is
the same however the batches are requested: batches(a) then batches(b) equals
batches(a + b).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import NDArray


def _ramp(sizes: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For segments of the given sizes, each element's offset inside its segment."""
    total = int(sizes.sum())
    starts = np.cumsum(sizes) - sizes
    return np.arange(total, dtype=np.int64) - np.repeat(starts, sizes), starts


LOOP_MIN = 4096  # groups this large are shuffled one by one (see GroupStreams._permute)
_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


class GroupStreams:
    """Every group's stream of example indices, epoch by epoch, drawn from in bulk by `take`."""

    def __init__(self, codes: npt.ArrayLike, n_groups: int, key: int | np.integer, unit: int = 1) -> None:
        """Streams over `codes` (each example's group, 0..n_groups-1), seeded by `key`, cut to multiples of `unit`."""
        codes = np.asarray(codes)
        self.key = np.uint64(key)
        self.n_groups = int(n_groups)
        self.counts = np.bincount(codes, minlength=n_groups).astype(np.int64)
        self.starts = np.cumsum(self.counts) - self.counts
        self.members = np.argsort(codes, kind="stable").astype(np.int64)  # grouped by code
        self.unit = int(unit)
        self.epoch_len = self.counts // unit * unit
        present = np.flatnonzero(self.counts)
        self.flat = np.empty_like(self.members)  # the current epoch of every group
        self.epoch_no = np.zeros(self.n_groups, dtype=np.int64)  # index of the current epoch
        if present.size:
            perms, seg_starts = self._permute(present, self.epoch_no[present])
            self.flat[np.repeat(self.starts[present], self.counts[present])
                      + _ramp(self.counts[present])[0]] = perms
        self.ptr = np.zeros(self.n_groups, dtype=np.int64)  # position in the current epoch

    def _permute(self, groups: NDArray[np.integer], epochs: NDArray[np.integer]
                 ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The random order of epoch `epochs[i]` of group `groups[i]`, for each i, concatenated.

        Small groups are shuffled together by sorting hashed keys (vectorised);
        groups of LOOP_MIN or more examples each get a Fisher-Yates permutation
        from a generator seeded by (key, group, epoch): one loop iteration per
        large class-epoch, which is cheaper than an O(n log n) sort.
        """
        sizes = self.counts[groups]
        seg_starts = np.cumsum(sizes) - sizes
        out = np.empty(int(sizes.sum()), dtype=np.int64)
        small = np.flatnonzero(sizes < LOOP_MIN)
        if small.size:
            s_sizes = sizes[small]
            within = _ramp(s_sizes)[0]
            seg = np.repeat(np.arange(small.size, dtype=np.int64), s_sizes)
            with np.errstate(over="ignore"):
                seed = _mix(_mix(self.key ^ groups[small].astype(np.uint64))
                            + epochs[small].astype(np.uint64) * _GAMMA)
                bits = _mix(np.repeat(seed, s_sizes) + (within.astype(np.uint64) + np.uint64(1)) * _GAMMA)
            keys = seg + (bits >> np.uint64(11)) * 2.0 ** -53  # by segment, randomly within it
            order = np.argsort(keys)
            src = np.repeat(self.starts[groups[small]], s_sizes) + within
            out[np.repeat(seg_starts[small], s_sizes) + within] = self.members[src[order]]
        for i in np.flatnonzero(sizes >= LOOP_MIN):
            g, size = groups[i], sizes[i]
            perm = np.random.default_rng([int(self.key), int(g), int(epochs[i])]).permutation(size)
            out[seg_starts[i]:seg_starts[i] + size] = self.members[self.starts[g] + perm]
        return out, seg_starts

    def take(self, groups: npt.ArrayLike, lengths: npt.ArrayLike) -> NDArray[np.int64]:
        """Indices for requests (group, length), concatenated in request order.

        Every requested group must have epoch_len > 0.
        """
        groups = np.asarray(groups)
        lengths = np.asarray(lengths, dtype=np.int64)
        if groups.size == 0:
            return np.empty(0, dtype=np.int64)
        sort_dtype = np.int16 if self.n_groups < 2 ** 15 else np.int64
        order = np.argsort(groups.astype(sort_dtype, copy=False), kind="stable")
        sg, sl = groups[order], lengths[order]
        excl = np.cumsum(sl) - sl  # examples requested before, in group-sorted order
        new_group = np.empty(sg.size, dtype=bool)
        new_group[0] = True
        np.not_equal(sg[1:], sg[:-1], out=new_group[1:])
        first = np.maximum.accumulate(np.where(new_group, np.arange(sg.size), 0))
        start_pos = np.empty(groups.size, dtype=np.int64)
        start_pos[order] = self.ptr[sg] + excl - excl[first]
        demand = np.bincount(groups, weights=lengths, minlength=self.n_groups).astype(np.int64)

        if self.unit > 1 and (lengths == self.unit).all():
            # whole units never straddle epochs: resolve per request, expand at the end
            g, pos, width = groups, start_pos, self.unit
        else:
            within = _ramp(lengths)[0]
            g, pos, width = np.repeat(groups, lengths), np.repeat(start_pos, lengths) + within, 1
        ep_len = self.epoch_len[g]
        epoch = pos // ep_len
        j = pos - epoch * ep_len
        span = np.arange(width, dtype=np.int64)

        need = np.zeros(self.n_groups, dtype=np.int64)
        active = demand > 0
        need[active] = (self.ptr[active] + demand[active] - 1) // self.epoch_len[active]
        if not need.any():
            out = self.flat[(self.starts[g] + j)[:, None] + span]
        else:
            out = np.empty((g.size, width), dtype=np.int64)
            cur = epoch == 0
            out[cur] = self.flat[(self.starts[g[cur]] + j[cur])[:, None] + span]
            wrap = np.flatnonzero(need)
            ramp_need = _ramp(need[wrap])[0]
            fresh, seg_starts = self._permute(np.repeat(wrap, need[wrap]),
                                              np.repeat(self.epoch_no[wrap], need[wrap]) + 1 + ramp_need)
            first_pair = np.zeros(self.n_groups, dtype=np.int64)
            first_pair[wrap] = np.cumsum(need[wrap]) - need[wrap]
            new = ~cur
            pair = first_pair[g[new]] + epoch[new] - 1
            out[new] = fresh[(seg_starts[pair] + j[new])[:, None] + span]
            # the last epoch drawn becomes each group's current epoch
            last = first_pair[wrap] + need[wrap] - 1
            sizes = self.counts[wrap]
            ramp = _ramp(sizes)[0]
            self.flat[np.repeat(self.starts[wrap], sizes) + ramp] = \
                fresh[np.repeat(seg_starts[last], sizes) + ramp]
        out = out.reshape(-1)
        self.ptr += demand - need * self.epoch_len
        self.epoch_no += need
        return out


def choose_groups(rng: np.random.Generator, n: int, n_groups: int, k: int, replace: bool) -> NDArray[np.int64]:
    """(n, k) group ids per batch: k distinct groups (or with replacement)."""
    if replace:
        return rng.integers(0, n_groups, size=(n, k))
    if k == n_groups:
        return rng.permuted(np.broadcast_to(np.arange(n_groups), (n, n_groups)), axis=1)
    # float32 keys halve the cost; for many groups float64 keeps ties (a slight bias) negligible
    dtype = np.float32 if n_groups <= 1024 else np.float64
    return rng.random((n, n_groups), dtype=dtype).argpartition(k - 1, axis=1)[:, :k]
