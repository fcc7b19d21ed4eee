"""`python -m harness bench layers`: cost of a training step with BN, Keras renorm and our BRN, plain and under XLA.

Why this shape: on a small model per-step dispatch dominates, hiding a layer's
cost, so every variant runs `--steps` training steps inside one compiled
function (a `tf.range` loop). Variants are timed in one process, interleaved
round by round; ratios are medians of per-round ratios, because a shared
machine drifts; process CPU time is reported beside wall time since it is less
disturbed by other processes. Every variant runs both as a plain `tf.function`
and under XLA (`jit_compile=True`), the XLA speed-up being the median of the
per-round ratios plain / XLA.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from harness.commands.numbers import MAX_BATCH_SIZE, MAX_REPEATS, MAX_SEED, MAX_STEPS, MAX_THREADS, integer
from harness.runtime import heavy

if TYPE_CHECKING:
    import argparse

VARIANTS = ("keras_bn", "keras_renorm", "brn")
MODES = ("tf_function", "xla")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `bench layers` options to `parser`."""
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--steps", type=integer(1, MAX_STEPS), default=50,
                        help="training steps per timed compiled call (default 50)")
    parser.add_argument("--repeats", type=integer(1, MAX_REPEATS), default=15,
                        help="interleaved timing rounds (default 15)")
    parser.add_argument("--batch-size", type=integer(1, MAX_BATCH_SIZE), default=16,
                        help="examples per step (default 16)")
    parser.add_argument("--seed", type=integer(0, MAX_SEED), default=0, help="seed for weights and data (default 0)")
    parser.add_argument("--threads", type=integer(0, MAX_THREADS), default=0,
                        help="TensorFlow intra/inter-op threads (default 0: TensorFlow's choice)")


def _normalizer(variant: str, name: str) -> Any:
    from harness.norms import BatchRenormalization

    keras = heavy.keras()

    if variant == "keras_bn":
        return keras.layers.BatchNormalization(name=name)
    if variant == "keras_renorm":
        return keras.layers.BatchNormalization(
            renorm=True, renorm_clipping={"rmax": 3.0, "rmin": 1 / 3.0, "dmax": 5.0}, name=name
        )
    return BatchRenormalization(r_max=3.0, d_max=5.0, name=name)


def build_model(variant: str, seed: int) -> Any:
    """Digits-sized conv net: 8x8x1 -> conv32 -> norm -> relu -> conv64 -> norm -> relu -> pool -> dense10."""
    keras = heavy.keras()

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(_normalizer(variant, "norm1")(x))
    x = keras.layers.Conv2D(64, 3, padding="same", use_bias=False)(x)
    x = keras.layers.ReLU()(_normalizer(variant, "norm2")(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10)(x)
    return keras.Model(inputs, outputs)


def make_loop(model: Any, images: Any, labels: Any, jit_compile: bool = False) -> Callable[[Any], Any]:
    """A compiled function running `n` SGD training steps over the fixed batches (under XLA if `jit_compile`)."""
    keras, tf = heavy.keras(), heavy.tensorflow()

    optimizer = keras.optimizers.SGD(0.01)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    n_batches = images.shape[0]

    @tf.function(jit_compile=jit_compile)
    def loop(n: Any) -> Any:
        total = tf.constant(0.0)
        for i in tf.range(n):
            j = i % n_batches
            with tf.GradientTape() as tape:
                logits = model(images[j], training=True)
                loss = loss_fn(labels[j], logits)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            total += loss
        return total

    return loop


def measure(steps: int = 50, repeats: int = 15, batch_size: int = 16, seed: int = 0,
            variants: Iterable[str] = VARIANTS) -> dict[str, dict[str, list[float]]]:
    """Per-round wall and process-CPU milliseconds per training step of each variant.

    Returns {"wall": {variant: [ms per round]}, "cpu": {...}} for plain `tf.function`
    and {"xla_wall": ..., "xla_cpu": ...} under XLA; rounds alternate the order of
    the (variant, mode) loops so slow drifts of a shared machine hit all alike.
    """
    import numpy as np

    tf = heavy.tensorflow()

    rng = np.random.default_rng(seed)
    images = tf.constant(rng.normal(size=(8, batch_size, 8, 8, 1)).astype("float32"))
    labels = tf.constant(rng.integers(0, 10, size=(8, batch_size)).astype("int32"))
    loops: dict[tuple[str, str], Any] = {}
    for variant in variants:
        for mode in MODES:
            loops[variant, mode] = make_loop(build_model(variant, seed), images, labels, jit_compile=mode == "xla")
            loops[variant, mode](tf.constant(2)).numpy()  # trace (and compile) and warm up
    n = tf.constant(steps)
    times: dict[str, dict[str, list[float]]] = {
        f"{prefix}{clock}": {v: [] for v in variants} for prefix in ("", "xla_") for clock in ("wall", "cpu")
    }
    for round_index in range(repeats):
        order = list(loops) if round_index % 2 == 0 else list(reversed(loops))
        for variant, mode in order:
            prefix = "xla_" if mode == "xla" else ""
            wall, cpu = time.perf_counter(), time.process_time()
            loops[variant, mode](n).numpy()
            times[f"{prefix}wall"][variant].append((time.perf_counter() - wall) * 1000.0 / steps)
            times[f"{prefix}cpu"][variant].append((time.process_time() - cpu) * 1000.0 / steps)
    return times


def summarize(times: dict[str, list[float]], baseline: str = "keras_bn"
              ) -> tuple[dict[str, float], dict[str, float]]:
    """Median ms/step per variant and median of the per-round ratios to the baseline."""
    medians = {v: statistics.median(ms) for v, ms in times.items()}
    ratios = {
        v: statistics.median(a / b for a, b in zip(ms, times[baseline], strict=False))
        for v, ms in times.items()
        if v != baseline
    }
    return medians, ratios


def xla_speedups(plain: dict[str, list[float]], xla: dict[str, list[float]]) -> dict[str, float]:
    """Per variant, the median of the per-round ratios plain ms / XLA ms."""
    return {v: statistics.median(a / b for a, b in zip(ms, xla[v], strict=False)) for v, ms in plain.items()}


def main(args: argparse.Namespace) -> int:
    """Run `bench layers`: time the variants, print a table or JSON; 0 on success (UsageError on bad options)."""
    from harness.errors import UsageError

    if args.steps < 1 or args.repeats < 1 or args.batch_size < 1 or args.threads < 0:
        raise UsageError("--steps, --repeats and --batch-size must be >= 1 and --threads >= 0")
    from harness.runtime.tfsetup import device_info

    tf = heavy.tensorflow()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    times = measure(steps=args.steps, repeats=args.repeats, batch_size=args.batch_size, seed=args.seed)
    wall, wall_ratio = summarize(times["wall"])
    cpu, cpu_ratio = summarize(times["cpu"])
    result = {
        "variants": {name: round(ms, 4) for name, ms in wall.items()},
        "brn_over_bn": round(wall_ratio["brn"], 3),
        "keras_renorm_over_bn": round(wall_ratio["keras_renorm"], 3),
        "cpu_variants": {name: round(ms, 4) for name, ms in cpu.items()},
        "cpu_brn_over_bn": round(cpu_ratio["brn"], 3),
        "cpu_keras_renorm_over_bn": round(cpu_ratio["keras_renorm"], 3),
        "xla_variants": {name: round(statistics.median(ms), 4) for name, ms in times["xla_wall"].items()},
        "xla_speedup": {name: round(r, 3) for name, r in xla_speedups(times["wall"], times["xla_wall"]).items()},
        "cpu_xla_speedup": {name: round(r, 3) for name, r in xla_speedups(times["cpu"], times["xla_cpu"]).items()},
        "unit": "median ms per training step (wall; cpu_* = process CPU time; xla_* = under XLA); "
                "ratios = median of per-round ratios",
        "steps_per_call": args.steps,
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "threads": args.threads or "tensorflow default",
        "device": device_info(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"median ms/step over {args.repeats} interleaved rounds of {args.steps} compiled steps:")
        print(f"  {'variant':14s} {'wall':>8s} {'cpu':>8s} {'XLA wall':>9s} {'XLA speed-up':>13s}")
        for name in VARIANTS:
            print(f"  {name:14s} {wall[name]:8.3f} {cpu[name]:8.3f} {result['xla_variants'][name]:9.3f} "
                  f"{result['xla_speedup'][name]:12.2f}x")
        print(f"brn_over_bn          {result['brn_over_bn']:.3f} (cpu {result['cpu_brn_over_bn']:.3f})")
        print(
            f"keras_renorm_over_bn {result['keras_renorm_over_bn']:.3f} (cpu {result['cpu_keras_renorm_over_bn']:.3f})"
        )
    return 0
