"""`python -m harness bench xla`: the training chunk and the analyzer's passes under `tf.function` vs XLA.

What `training.jit_compile: auto` decides from (`harness.train.xla.AUTO`). For each model family and normalizer,
on the default scenario's data and batch size: the trial's own compiled training chunk built twice, once
plain and once with `jit_compile=True`, timed alternately in one process on the same index batches (which
goes first alternates); the speed-up is the median of the paired ratios, so the drift of a shared machine
cancels within a pair. The analyzer is timed the same way (an evaluation plus PreciseBN's moments pass), with
the first call of each mode (tracing, and for XLA compiling) beside it: XLA's compile cost is paid once per
shape and process, so the analysis gains only when a run makes enough calls (`break_even_calls`).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from harness.bench import SCENARIOS_DIR
from harness.commands.numbers import MAX_REPEATS, MAX_STEPS, integer
from harness.runtime import heavy

if TYPE_CHECKING:
    import argparse

FAMILIES: dict[str, dict[str, Any]] = {
    "mlp": {"name": "mlp", "widths": [128, 128]},
    "convnet": {"name": "convnet", "widths": [32, 64]},
    "resnet": {"name": "resnet", "widths": [16, 32], "blocks_per_stage": 1},
    # a resnet20 stand-in: three stages of three basic blocks, widths 16-32-64
    "resnet_3x3": {"name": "resnet", "widths": [16, 32, 64], "blocks_per_stage": 3},
}
NORMALIZERS: dict[str, dict[str, Any]] = {
    "bn": {"kind": "batchnorm", "momentum": 0.99},
    "brn": {"kind": "batchrenorm", "momentum": 0.99, "r_max": 3.0, "d_max": 5.0, "warmup_steps": 100},
    "keras_renorm": {"kind": "keras_renorm", "momentum": 0.99, "renorm_momentum": 0.99, "r_max": 3.0, "d_max": 5.0},
    "groupnorm": {"kind": "groupnorm", "groups": 8},
}
MODES = ("tf_function", "xla")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `bench xla` options to `parser`."""
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help=f"comma-separated (default {','.join(FAMILIES)})")
    parser.add_argument("--normalizers", default=",".join(NORMALIZERS),
                        help=f"comma-separated (default {','.join(NORMALIZERS)})")
    parser.add_argument("--steps", type=integer(1, MAX_STEPS), default=50,
                        help="training steps per timed call (default 50)")
    parser.add_argument("--repeats", type=integer(1, MAX_REPEATS), default=5,
                        help="timed pairs per model and normalizer (default 5)")
    parser.add_argument("--no-analysis", action="store_true", help="time the training chunk only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _paired(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """{mode: [seconds per call]} of `calls` ({mode: callable}), timed alternately, the first mode alternating."""
    times: dict[str, list[float]] = {mode: [] for mode in calls}
    for repeat in range(repeats):
        order = list(calls) if repeat % 2 == 0 else list(calls)[::-1]
        for mode in order:
            tic = time.perf_counter()
            calls[mode]()
            times[mode].append(time.perf_counter() - tic)
    return times


def _speedup(times: dict[str, list[float]]) -> float:
    """Median of the paired ratios tf_function / xla."""
    return statistics.median(a / b for a, b in zip(times["tf_function"], times["xla"], strict=False))


def measure(model_config: dict[str, Any], normalizer_config: dict[str, Any], steps: int = 50, repeats: int = 5,
            analysis: bool = True) -> dict[str, Any]:
    """ms/step of the training chunk, and ms per analyzer call, in both modes; see the module docstring."""
    import numpy as np

    from harness.analysis.analyzer import Analyzer
    from harness.models.builders import build_model
    from harness.norms.kinds import validate_normalizer_config
    from harness.runtime.tfsetup import set_determinism
    from harness.scenario import build_sampler, load
    from harness.train.trial import load_dataset, make_optimizer, make_train_chunk

    scenario = load(os.path.join(SCENARIOS_DIR, "noniid_small.yaml"), check_feasibility=False)
    set_determinism(0)
    dataset = load_dataset(scenario.data)
    batch_size = scenario.training["batch_size"]
    normalizer_config = validate_normalizer_config(dict(normalizer_config))
    indices = build_sampler({"kind": "iid"}, dataset.y_train, batch_size, 0).batches(steps)
    test_batches = build_sampler({"kind": "iid"}, dataset.y_test, batch_size, 1).batches(
        len(dataset.y_test) // batch_size)
    precise_batches = build_sampler({"kind": "iid"}, dataset.y_train, batch_size, 2).batches(100)
    out: dict[str, Any] = {"first_call_seconds": {}, "analysis_first_call_seconds": {}, "jit": {}}
    chunks: dict[str, Callable[[], Any]] = {}
    analyzers: dict[str, Callable[[], Any]] = {}
    for mode in MODES:
        model = build_model(model_config, normalizer_config, dataset.input_shape, dataset.num_classes, 0)
        chunk = make_train_chunk(model, make_optimizer(scenario.training), dataset.x_train, dataset.y_train,
                                 batch_size, jit_compile=mode == "xla")
        tic = time.perf_counter()
        np.asarray(chunk(indices)[0])
        out["first_call_seconds"][mode] = time.perf_counter() - tic
        out["jit"][mode] = chunk.jit
        chunks[mode] = (lambda c: lambda: np.asarray(c(indices)[0]))(chunk)
        if analysis:
            analyzer = Analyzer(model, dataset, None, jit_compile=mode == "xla")

            def analyse(a: Any = analyzer) -> None:
                a.evaluate(test_batches, 8, a.snapshot())
                a.input_moments(dataset.x_train[precise_batches])

            tic = time.perf_counter()
            analyse()
            out["analysis_first_call_seconds"][mode] = time.perf_counter() - tic
            analyzers[mode] = analyse
    training = _paired(chunks, repeats)
    out["ms_per_step"] = {mode: 1000 * statistics.median(t) / steps for mode, t in training.items()}
    out["ms_per_step_samples"] = {mode: [1000 * s / steps for s in t] for mode, t in training.items()}
    out["speedup"] = _speedup(training)
    if analysis:
        timed = _paired(analyzers, repeats)
        out["analysis_ms"] = {mode: 1000 * statistics.median(t) for mode, t in timed.items()}
        out["analysis_speedup"] = _speedup(timed)
        saved = (out["analysis_ms"]["tf_function"] - out["analysis_ms"]["xla"]) / 1000
        extra = out["analysis_first_call_seconds"]["xla"] - out["analysis_first_call_seconds"]["tf_function"]
        out["break_even_calls"] = extra / saved if saved > 0 else None
    return out


def _names(value: str, known: Sequence[str] | dict[str, Any], option: str) -> list[str]:
    from harness.errors import UsageError

    names = [name for name in value.split(",") if name]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise UsageError(f"{option}: {value!r} names none or unknown ones of {', '.join(known)}")
    return names


def main(args: argparse.Namespace) -> int:
    """Run `bench xla` over the chosen families and normalizers; print lines or JSON; 0 on success."""
    from harness.errors import UsageError

    if args.steps < 1 or args.repeats < 1:
        raise UsageError("--steps and --repeats must be >= 1")
    families = _names(args.families, FAMILIES, "--families")
    normalizers = _names(args.normalizers, NORMALIZERS, "--normalizers")
    from harness.runtime.tfsetup import device_info

    heavy.tensorflow()
    results: dict[str, dict[str, Any]] = {}
    for family in families:
        for name in normalizers:
            if name == "groupnorm" and any(w % NORMALIZERS[name]["groups"] for w in FAMILIES[family]["widths"]):
                continue
            results.setdefault(family, {})[name] = measure(FAMILIES[family], NORMALIZERS[name], args.steps,
                                                           args.repeats, not args.no_analysis)
            if not args.json:
                r = results[family][name]
                line = (f"{family:<11} {name:<13} training {r['ms_per_step']['tf_function']:7.3f} -> "
                        f"{r['ms_per_step']['xla']:7.3f} ms/step, x{r['speedup']:.2f} (compile "
                        f"{r['first_call_seconds']['xla']:.1f} s vs trace "
                        f"{r['first_call_seconds']['tf_function']:.1f} s)")
                if "analysis_ms" in r:
                    line += (f"; analysis {r['analysis_ms']['tf_function']:.1f} -> {r['analysis_ms']['xla']:.1f} ms, "
                             f"x{r['analysis_speedup']:.2f} (first call "
                             f"{r['analysis_first_call_seconds']['tf_function']:.1f}"
                             f" -> {r['analysis_first_call_seconds']['xla']:.1f} s)")
                print(line, flush=True)
    out = {"results": results, "steps": args.steps, "repeats": args.repeats, "device": device_info(),
           "unit": "ms per training step / per analyzer call (an evaluation and a PreciseBN moments pass), "
                   "medians; speedups: median of paired ratios tf_function / xla"}
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"{args.repeats} alternating pairs of {args.steps} steps each, on {out['device']['name']} "
              f"({out['device']['cpu_count']} cores)")
    return 0
