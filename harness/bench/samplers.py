"""`python -m harness bench samplers`: indices per second of each built-in sampler.

1,000,000 labels over 100 classes, batch 32, one process (NumPy runs these
sampling kernels on one core). Target: >= 5M indices/s for iid and
class_correlated, so sampling never shows next to a training step.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.commands.numbers import MAX_CHUNK, MAX_LABELS, MAX_SECONDS, integer, real

if TYPE_CHECKING:
    import argparse

N_LABELS = 1_000_000
N_CLASSES = 100
BATCH_SIZE = 32
TARGET = 5e6
TARGETED = ("iid", "class_correlated")

# Parameters benchmarked: the paper's setting for class_correlated (16 classes x 2, classes
# drawn with replacement), plus the same with 16 distinct classes (replace=False).
BENCH_PARAMS: dict[str, dict[str, Any]] = {
    "class_correlated": {"classes_per_batch": 16, "replace": True},
    "sticky": {"classes_per_batch": 16, "p": 0.9},
    "dirichlet": {"alpha": 0.1},
    "continuous": {"strictness": 0.5},
    "cluster": {"n_clusters": 100, "clusters_per_batch": 16},
}
VARIANTS: dict[str, dict[str, Any]] = {"class_correlated": {"classes_per_batch": 16, "replace": False}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `bench samplers` options to `parser`."""
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--seconds", type=real(0, MAX_SECONDS, open_low=True), default=1.0,
                        help="minimum timed seconds per sampler (default 1.0)")
    parser.add_argument("--chunk", type=integer(1, MAX_CHUNK), default=1024,
                        help="batches drawn per batches(n) call (default 1024)")
    parser.add_argument("--labels", type=integer(BATCH_SIZE, MAX_LABELS), default=N_LABELS,
                        help=f"number of labels (default {N_LABELS:,})")


def _rate(call: Callable[[], Any], indices_per_call: int, seconds: float) -> tuple[float, float, float]:
    """(indices per CPU-second, wall-clock indices per second, CPU seconds per call).

    CPU time of this process is the headline: on a shared machine wall time
    also counts other processes' turns, and NumPy runs these kernels on one core.
    """
    call()  # warm-up: first epoch / first stream allocations
    calls, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        call()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            cpu = max(time.process_time() - cpu_start, 1e-9)
            return calls * indices_per_call / cpu, calls * indices_per_call / elapsed, cpu / calls


def bench(names: Sequence[str] | None = None, seconds: float = 1.0, chunk: int = 1024,
          n_labels: int = N_LABELS) -> list[dict[str, Any]]:
    """Time each sampler (all built-ins, or `names`) on `n_labels` random labels; one result dict per run.

    A run is a sampler with its `BENCH_PARAMS` (and again with its `VARIANTS` entry): indices per CPU-second
    drawing `chunk` batches per call for at least `seconds`, the CPU time of a one-batch call, and the
    construction time.
    """
    import samplers

    rng = np.random.default_rng(0)
    labels = rng.integers(0, N_CLASSES, n_labels)
    features = None
    results: list[dict[str, Any]] = []
    runs: list[tuple[str, dict[str, Any]]] = []
    for name in names or list(samplers.registry.BUILTINS):
        runs.append((name, dict(BENCH_PARAMS.get(name, {}))))
        if name in VARIANTS:
            runs.append((name, dict(VARIANTS[name])))
    for name, params in runs:
        if name == "cluster":
            if features is None:  # features with 100 well-separated blobs, one per label
                features = (labels[:, None] * 10.0 + rng.normal(size=(n_labels, 4))).astype(np.float32)
            params["features"] = features
        start = time.perf_counter()
        sampler = samplers.get(name)(labels, BATCH_SIZE, seed=0, **params)
        build = time.perf_counter() - start
        rate, wall_rate, per_call = _rate(functools.partial(sampler.batches, chunk), chunk * BATCH_SIZE, seconds)
        _, _, single = _rate(functools.partial(sampler.batches, 1), BATCH_SIZE, seconds / 4)
        results.append({
            "sampler": name,
            "params": {k: v for k, v in params.items() if k != "features"},
            "indices_per_s": rate,  # per CPU-second
            "wall_indices_per_s": wall_rate,
            "chunk_batches": chunk,
            "ms_per_chunk": per_call * 1e3,
            "us_per_single_batch_call": single * 1e6,
            "construct_s": build,
            "target_indices_per_s": TARGET if name in TARGETED else None,
        })
    return results


def main(args: argparse.Namespace) -> int:
    """Run `bench samplers`: print a table or JSON of the rates; 0 on success (UsageError on bad options)."""
    from harness.errors import UsageError

    if args.chunk < 1 or not 0 < args.seconds < float("inf") or args.labels < BATCH_SIZE:
        raise UsageError(f"--chunk must be >= 1, --seconds > 0 and finite, and --labels >= {BATCH_SIZE}. "
                         f"Received: chunk={args.chunk}, seconds={args.seconds}, labels={args.labels}")
    import samplers

    try:
        results = bench(seconds=args.seconds, chunk=args.chunk, n_labels=args.labels)
    except samplers.SamplerParameterError as error:
        raise UsageError(f"--labels: {args.labels} are too few for the benchmarked samplers ({error}); "
                         "use at least 10,000") from None
    if args.json:
        print(json.dumps({"n_labels": args.labels, "n_classes": N_CLASSES, "batch_size": BATCH_SIZE,
                          "results": results}, indent=2))
        return 0
    print(f"{args.labels:,} labels / {N_CLASSES} classes, batch {BATCH_SIZE}, "
          f"batches({args.chunk}) per call")
    print("M indices/s per CPU-second (wall-clock in brackets); us/batches(1): CPU time of one 1-batch call")
    print(f"{'sampler':<18}{'params':<38}{'M indices/s':>16}{'us/batches(1)':>15}{'build s':>9}  target")
    for r in results:
        target = r["target_indices_per_s"]
        verdict = "" if target is None else ("ok (>= 5M)" if r["indices_per_s"] >= target else "BELOW 5M")
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        rates = f"{r['indices_per_s'] / 1e6:.1f} ({r['wall_indices_per_s'] / 1e6:.1f})"
        print(f"{r['sampler']:<18}{params:<38}{rates:>16}"
              f"{r['us_per_single_batch_call']:>15.0f}{r['construct_s']:>9.2f}  {verdict}")
    return 0
