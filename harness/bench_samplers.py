"""`python -m harness bench samplers`: indices per second of each built-in sampler.

1,000,000 labels over 100 classes, batch 32, one process (NumPy runs these
sampling kernels on one core). Target: >= 5M indices/s for iid and
class_correlated, so sampling never shows next to a training step.
"""

import json
import time

import numpy as np

N_LABELS = 1_000_000
N_CLASSES = 100
BATCH_SIZE = 32
TARGET = 5e6
TARGETED = ("iid", "class_correlated")

# Parameters benchmarked: the paper's setting for class_correlated (16 classes x 2).
BENCH_PARAMS = {
    "class_correlated": {"classes_per_batch": 16, "replace": True},
    "sticky": {"classes_per_batch": 16, "p": 0.9},
    "dirichlet": {"alpha": 0.1},
    "continuous": {"strictness": 0.5},
    "cluster": {"n_clusters": 100, "clusters_per_batch": 16},
}


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--seconds", type=float, default=1.0,
                        help="minimum timed seconds per sampler (default 1.0)")
    parser.add_argument("--chunk", type=int, default=1024,
                        help="batches drawn per batches(n) call (default 1024)")
    parser.add_argument("--labels", type=int, default=N_LABELS,
                        help=f"number of labels (default {N_LABELS:,})")


def _rate(call, indices_per_call, seconds):
    call()  # warm-up: first epoch / first stream allocations
    calls, start = 0, time.perf_counter()
    while True:
        call()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * indices_per_call / elapsed, elapsed / calls


def bench(names=None, seconds=1.0, chunk=1024, n_labels=N_LABELS):
    import samplers

    rng = np.random.default_rng(0)
    labels = rng.integers(0, N_CLASSES, n_labels)
    features = None
    results = []
    for name in names or list(samplers.registry.BUILTINS):
        params = dict(BENCH_PARAMS.get(name, {}))
        if name == "cluster":
            if features is None:  # features with 100 well-separated blobs, one per label
                features = (labels[:, None] * 10.0 + rng.normal(size=(n_labels, 4))).astype(np.float32)
            params["features"] = features
        start = time.perf_counter()
        sampler = samplers.get(name)(labels, BATCH_SIZE, seed=0, **params)
        build = time.perf_counter() - start
        rate, per_call = _rate(lambda: sampler.batches(chunk), chunk * BATCH_SIZE, seconds)
        _, single = _rate(lambda: sampler.batches(1), BATCH_SIZE, seconds / 4)
        results.append({
            "sampler": name,
            "params": {k: v for k, v in params.items() if k != "features"},
            "indices_per_s": rate,
            "chunk_batches": chunk,
            "ms_per_chunk": per_call * 1e3,
            "us_per_single_batch_call": single * 1e6,
            "construct_s": build,
            "target_indices_per_s": TARGET if name in TARGETED else None,
        })
    return results


def main(args):
    from harness.errors import UsageError

    if args.chunk < 1 or args.seconds <= 0 or args.labels < BATCH_SIZE:
        raise UsageError(f"--chunk must be >= 1, --seconds > 0 and --labels >= {BATCH_SIZE}. "
                         f"Received: chunk={args.chunk}, seconds={args.seconds}, labels={args.labels}")
    results = bench(seconds=args.seconds, chunk=args.chunk, n_labels=args.labels)
    if args.json:
        print(json.dumps({"n_labels": args.labels, "n_classes": N_CLASSES, "batch_size": BATCH_SIZE,
                          "results": results}, indent=2))
        return 0
    print(f"{args.labels:,} labels / {N_CLASSES} classes, batch {BATCH_SIZE}, "
          f"batches({args.chunk}) per call")
    print(f"{'sampler':<18}{'M indices/s':>12}{'us/batches(1)':>15}{'build s':>9}  target")
    for r in results:
        target = r["target_indices_per_s"]
        verdict = "" if target is None else ("ok (>= 5M)" if r["indices_per_s"] >= target else "BELOW 5M")
        print(f"{r['sampler']:<18}{r['indices_per_s'] / 1e6:>12.1f}"
              f"{r['us_per_single_batch_call']:>15.0f}{r['construct_s']:>9.2f}  {verdict}")
    return 0
