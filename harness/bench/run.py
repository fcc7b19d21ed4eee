"""`python -m harness bench run`: where a run's wall time goes, and the harness's training speed vs a bare loop.

The bare loop is written here independently of the runner: the same model,
optimizer and index batches, every step inside one plain `tf.function` call (no
XLA), no evaluation: the reference the harness's compiled training (under XLA
where `training.jit_compile` puts it) is measured against. After the run, the
harness's own compiled training and the bare loop are timed alternately in the
same process, and the ratio is the median over back-to-back pairs, so it is free
of the machine's drift; the ms/step measured during the run is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from harness.analysis.metrics import STEP_TIME
from harness.bench import SCENARIOS_DIR
from harness.results import rundir
from harness.runtime import heavy

DEFAULT_SCENARIO = os.path.join(SCENARIOS_DIR, "noniid_small.yaml")
REPEATS = 9  # back-to-back pairs (harness chunk, bare loop) per normalizer
SCALING_SEEDS = (3, 10, 30)  # seed counts at the scenario's steps
# trial lengths at the smallest seed count (the scenario's own steps are in the seed series)
SCALING_STEPS = (750, 3000)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options and arguments, added to `parser` (its subcommand parser)."""
    parser.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                        help="scenario file (default: noniid_small)")
    parser.add_argument("--smoke", action="store_true", help="time the scenario's smoke variant")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--scaling", action=argparse.BooleanOptionalAction, default=True,
                        help="also time whole `run` commands over a grid of seed counts and trial lengths and fit "
                             "wall = fixed + trials x (per trial + steps x per trial-step) (default: on)")
    parser.add_argument("--scaling-seeds", type=_counts, default=SCALING_SEEDS, metavar="N,N,...",
                        help=f"seed counts of the scaling grid (default {','.join(map(str, SCALING_SEEDS))})")
    parser.add_argument("--scaling-steps", type=_counts, default=SCALING_STEPS, metavar="N,N,...",
                        help="trial lengths of the scaling grid, run at the smallest seed count (default "
                             f"{','.join(map(str, SCALING_STEPS))}; the scenario's own steps are always in it)")
    parser.add_argument("--scaling-executor", choices=("process", "local", "auto"), default="process",
                        help="executor of every scaling run (default process: the one `auto` picks for a run of 12+ "
                             "trials on a CPU machine; one executor for all, or the fit mixes two cost models)")


def _counts(text: str) -> tuple[int, ...]:
    """'3,10,30' -> (3, 10, 30): positive integers, for the scaling grid's options."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every count must be >= 1")
    return counts


def _timed_run(raw: dict[str, Any], seeds: int, steps: int, work_dir: str,
               executor: str = "process") -> dict[str, Any]:
    """Wall seconds of `python -m harness run` (a fresh process, as a user runs it, report included) on `raw`
    with the first `seeds` seeds (more are numbered on) and `steps` steps per trial, and its trial count."""
    import subprocess
    import sys

    import yaml

    raw = {**raw, "seeds": list(range(seeds)), "training": {**raw.get("training", {}), "steps": steps}}
    path = os.path.join(work_dir, f"scaling_{seeds}x{steps}.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(raw, handle, sort_keys=False)
    out = os.path.join(work_dir, f"run_{seeds}x{steps}")
    tic = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "harness", "run", path, "--out", out, "--quiet",
                           "--executor", executor],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - tic
    if done.returncode != 0:
        raise RuntimeError(f"scaling run with {seeds} seeds x {steps} steps failed: {done.stderr.strip()[-500:]}")
    with open(os.path.join(out, rundir.PROVENANCE), encoding="utf-8") as handle:
        executor = json.load(handle).get("executor")
    from harness.run.runner import trial_count
    from harness.scenario import validate

    return {"seeds": seeds, "steps": steps, "trials": trial_count(validate(raw)), "wall_seconds": wall,
            "executor": executor}


def fit_scaling(points: Sequence[dict[str, Any]], steps: int) -> dict[str, Any]:
    """Least-squares fit of wall = fixed + trials x (per_trial + trial_steps x per_trial_step) to the timed runs.

    Returns the fitted fixed cost (s), cost per trial of `steps` steps (s), cost per trial-step (ms; None when
    every run had the same trial length), each run's prediction and the largest relative residual. With one
    trial length the fit is wall = fixed + trials x per_trial.
    """
    import numpy as np

    trials = np.array([p["trials"] for p in points], float)
    lengths = np.array([p["steps"] for p in points], float)
    wall = np.array([p["wall_seconds"] for p in points], float)
    varied = len(set(lengths.tolist())) > 1
    design = np.column_stack([np.ones_like(trials), trials] + ([trials * lengths] if varied else []))
    coef = np.linalg.lstsq(design, wall, rcond=None)[0]
    per_step = float(coef[2]) if varied else None
    predicted = design @ coef
    return {"fixed_seconds": float(coef[0]), "per_trial_seconds": float(coef[1] + (per_step or 0.0) * steps),
            "per_trial_seconds_at_steps": steps,
            "per_trial_step_ms": None if per_step is None else 1000 * per_step,
            "per_trial_overhead_seconds": float(coef[1]) if varied else None,
            "predicted_seconds": [float(v) for v in predicted],
            "max_relative_residual": float(np.max(np.abs(predicted - wall) / wall)),
            # a negative cost means the timings do not follow the model (a machine busy with other work, too few
            # runs): the fit then predicts nothing
            "consistent": bool((coef >= 0).all())}


def scaling(scenario_path: str, seeds_grid: Sequence[int], steps_grid: Sequence[int], smoke: bool = False,
            executor: str = "process") -> dict[str, Any]:
    """Time whole runs over seed counts (at the scenario's steps) and trial lengths (at the smallest seed count)
    and fit `fit_scaling` to them: {"runs": [...], "fit": {...}}."""
    import yaml

    from harness.scenario import validate

    with open(scenario_path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    if smoke:
        raw = validate(raw).smoke().to_dict()
    steps = validate(raw).training["steps"]
    grid = [(n, steps) for n in sorted(set(seeds_grid))]
    grid += [(min(seeds_grid), s) for s in sorted(set(steps_grid)) if s != steps]
    with tempfile.TemporaryDirectory() as work_dir:
        runs = [_timed_run(raw, n, s, work_dir, executor) for n, s in grid]
    return {"runs": runs, "fit": fit_scaling(runs, steps)}


def training_ms_per_step(config: dict[str, Any], repeats: int = REPEATS) -> dict[str, list[float]]:
    """ms/step of the harness's compiled training and of a bare loop, timed alternately `repeats` times each.

    The harness side is the trial's own compiled chunk (`steps_per_call` steps per call, per-step losses and
    the count of correct predictions returned), called as `run_trial` calls it; the bare side is a minimal
    hand-written loop doing the same training work, every step in one call. Alternating the two, in one process
    on the same batches, keeps this VM's drift out of each pair; which goes first alternates too. Evaluation is
    not included: its cost is in the time split. Returns {"harness": [ms/step, ...], "bare_loop": [...]}, pair i
    measured back to back.
    """
    import numpy as np

    from harness.models.builders import build_model
    from harness.scenario import batch_stream
    from harness.train.trial import load_dataset, make_optimizer, workbench

    keras, tf = heavy.keras(), heavy.tensorflow()
    dataset = load_dataset(config["data"])
    batch_size, steps = config["training"]["batch_size"], config["training"]["steps"]
    per_call = config["training"]["steps_per_call"]
    indices = batch_stream(config["sampler_config"], dataset.x_train, dataset.y_train, batch_size, config["seed"],
                           steps)
    model = build_model(config["model"], config["normalizer_config"], dataset.input_shape, dataset.num_classes, 0)
    optimizer = make_optimizer(config["training"])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x_all, y_all = tf.constant(dataset.x_train), tf.constant(dataset.y_train)

    # the number of steps left open: the 2-step warm-up call below traces the function the timed calls run
    @tf.function(input_signature=[tf.TensorSpec([None, batch_size], tf.as_dtype(indices.dtype))])
    def train(index_batches: Any) -> Any:
        for i in tf.range(tf.shape(index_batches)[0]):
            x, y = tf.gather(x_all, index_batches[i]), tf.gather(y_all, index_batches[i])
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables,
                                          strict=False))
        return loss

    def bare() -> None:
        train(indices).numpy()

    chunk = workbench(config, dataset).train_chunk  # the run's traced chunk (its shape's workbench is cached)

    def harness() -> None:
        for start in range(0, steps, per_call):
            [np.asarray(t) for t in chunk(indices[start:start + per_call])]  # read back, as a trial reads them

    train(indices[:2]).numpy()  # trace once
    harness()  # traced by the run already, or here
    times: dict[str, list[float]] = {"harness": [], "bare_loop": []}
    for repeat in range(repeats):
        pair = (("harness", harness), ("bare_loop", bare))
        for name, work in pair[::-1] if repeat % 2 else pair:  # each goes first in every other pair
            tic = time.perf_counter()
            work()
            times[name].append((time.perf_counter() - tic) * 1000 / steps)
    return times


def main(args: argparse.Namespace) -> int:
    """Run the scenario, split its wall time, time the harness against a bare loop (and the scaling grid); print."""
    import numpy as np

    from harness.api import load_scenario
    from harness.runtime.tfsetup import device_info

    heavy.tensorflow()
    from harness.run import runner

    scenario = load_scenario(args.scenario)
    if args.smoke:
        scenario = scenario.smoke()
    with tempfile.TemporaryDirectory() as out_dir:
        tic = time.perf_counter()
        from harness.report import write_report

        results = runner.run(scenario, out_dir, quiet=True, report=write_report)
        wall = time.perf_counter() - tic
        with open(os.path.join(out_dir, rundir.PROVENANCE)) as handle:
            run_timing = json.load(handle)["timing"]
    ok = [r for r in results if r["status"] == rundir.OK]
    train = sum(r["timing"]["train"] for r in ok)
    trace = sum(r["timing"]["trace"] for r in ok)
    analysis = sum(r["timing"]["analysis"] for r in ok)
    other = wall - train - analysis - run_timing["io"] - run_timing["report"]
    run_ms: dict[str, list[float]] = {}
    for r in ok:
        run_ms.setdefault(r["config"]["normalizer"], []).append(r["final"][STEP_TIME])
    samples = {name: training_ms_per_step(next(r["config"] for r in ok if r["config"]["normalizer"] == name))
               for name in run_ms}
    harness_ms = {name: float(np.median(samples[name]["harness"])) for name in samples}
    bare_ms = {name: float(np.median(samples[name]["bare_loop"])) for name in samples}
    # the ratio of each back-to-back pair, then their median and quartiles: drift cancels within a pair
    pair_ratios = {name: np.divide(samples[name]["harness"], samples[name]["bare_loop"]) for name in samples}
    speedups = {name: np.divide(samples[name]["bare_loop"], samples[name]["harness"]) for name in samples}
    out = {
        "scenario": scenario.name, "trials": len(results), "wall_seconds": wall,
        "split_seconds": {"training": train - trace, "tracing": trace, "analysis": analysis,
                          "io": run_timing["io"], "report": run_timing["report"], "other": other},
        "analysis_and_io_fraction": (analysis + run_timing["io"]) / wall,
        "ms_per_step": {"harness": harness_ms, "bare_loop": bare_ms,
                        "in_run": {name: float(np.median(v)) for name, v in run_ms.items()}},
        "ms_per_step_samples": samples,
        "harness_over_bare": {name: float(np.median(r)) for name, r in pair_ratios.items()},
        "harness_over_bare_quartiles": {name: [float(q) for q in np.quantile(r, [0.25, 0.75])]
                                        for name, r in pair_ratios.items()},
        # the same pairs the other way round: how much faster the harness trains than a plain tf.function loop
        "harness_ms_per_step": harness_ms,
        "bare_tf_function_ms_per_step": bare_ms,
        "speedup_over_bare_tf_function": {name: float(np.median(r)) for name, r in speedups.items()},
        "speedup_over_bare_tf_function_quartiles": {name: [float(q) for q in np.quantile(r, [0.25, 0.75])]
                                                    for name, r in speedups.items()},
        "jit_compile": {name: next(r["environment"]["jit_compile"] for r in ok if r["config"]["normalizer"] == name)
                        for name in samples},
        "device": device_info(),
    }
    if args.scaling:
        out["scaling"] = scaling(args.scenario, args.scaling_seeds, args.scaling_steps, args.smoke,
                                 args.scaling_executor)
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{scenario.name}: {len(results)} trials in {wall:.1f} s on {out['device']['name']} "
          f"({out['device']['cpu_count']} cores)")
    for part, seconds in out["split_seconds"].items():
        print(f"  {part:<9} {seconds:7.1f} s  {100 * seconds / wall:5.1f}%")
    print(f"  analysis + I/O: {100 * out['analysis_and_io_fraction']:.1f}% of wall time (target <= 10%)")
    for name in harness_ms:
        low, high = out["speedup_over_bare_tf_function_quartiles"][name]
        xla = "XLA" if out["jit_compile"][name]["training"] else "tf.function"
        print(f"  {name}: harness ({xla}) {harness_ms[name]:.2f} ms/step, bare tf.function loop {bare_ms[name]:.2f} "
              f"ms/step, speed-up {out['speedup_over_bare_tf_function'][name]:.2f}x (median of {REPEATS} back-to-back "
              f"pairs after the run, quartiles {low:.2f}-{high:.2f}; "
              f"{out['ms_per_step']['in_run'][name]:.2f} ms/step during the run, evaluations overlapping)")
    if args.scaling:
        print("scaling (whole `python -m harness run` commands, a fresh process each, report included):")
        for run, predicted in zip(out["scaling"]["runs"], out["scaling"]["fit"]["predicted_seconds"], strict=False):
            print(f"  {run['seeds']:>3} seeds x {run['steps']:>5} steps = {run['trials']:>4} trials: "
                  f"{run['wall_seconds']:6.1f} s (fit {predicted:6.1f} s, {run['executor']})")
        fit = out["scaling"]["fit"]
        steps_part = (f", of which {fit['per_trial_step_ms']:.3f} ms per trial-step"
                      if fit["per_trial_step_ms"] is not None else "")
        print(f"  fit: wall = {fit['fixed_seconds']:.1f} s fixed + {fit['per_trial_seconds']:.3f} s per trial of "
              f"{fit['per_trial_seconds_at_steps']} steps{steps_part} "
              f"(largest residual {100 * fit['max_relative_residual']:.0f}%)")
        if not fit["consistent"]:
            print("  warning: a fitted cost is negative: these timings do not follow the model (a busy machine?); "
                  "rerun on an idle one before predicting from them")
    return 0
