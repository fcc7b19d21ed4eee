"""`python -m harness bench executors`: wall time of one grid of trials on each executor, as ratios.

Each executor runs the whole `python -m harness run` command in a fresh process, so
the ratio is what a user waits for: start-up (TensorFlow imports, worker processes),
the trials, tables. The trial phase alone is reported beside it, and the CPU time the
local run used: a local run already keeps more than one core busy (TensorFlow's
threads, evaluation overlapping training), which bounds what N workers can gain.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

from harness.analysis.metrics import COMPARED
from harness.bench import SCENARIOS_DIR
from harness.commands.numbers import MAX_STEPS, MAX_WORKERS, integer
from harness.results import rundir

if TYPE_CHECKING:
    import argparse

DEFAULT_SCENARIO = os.path.join(SCENARIOS_DIR, "sweep_batch_size.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options and arguments, added to `parser` (its subcommand parser)."""
    parser.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO,
                        help="scenario file (default: sweep_batch_size, 90 trials of 15 shapes)")
    parser.add_argument("--steps", type=integer(1, MAX_STEPS), default=None,
                        help="training steps per trial (default: the scenario's)")
    parser.add_argument("--workers", type=integer(1, MAX_WORKERS), default=None,
                        help="process executor workers (default: cores)")
    parser.add_argument("--ray", action="store_true", help="also time the Ray executor on a local instance")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _children_cpu_seconds() -> float:
    """User and system CPU seconds of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_run(scenario_path: str, executor: str, out_dir: str, workers: int | None = None) -> dict[str, Any]:
    """Wall and CPU seconds of `python -m harness run` with this executor, and its trial phase's seconds."""
    command = [sys.executable, "-m", "harness", "run", scenario_path, "--executor", executor, "--out", out_dir,
               "--quiet", "--no-report", "--fresh"]
    if workers is not None and executor == "process":
        command += ["--workers", str(workers)]
    cpu = _children_cpu_seconds()
    tic = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - tic
    if finished.returncode != 0:
        last = (finished.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{executor} run failed (exit {finished.returncode}): {last}")
    with open(os.path.join(out_dir, rundir.PROVENANCE), encoding="utf-8") as handle:
        trials = json.load(handle)["timing"]["trials"]
    # Ray's workers are not this process's children: their CPU time is not counted
    return {"wall": wall, "cpu": None if executor == "ray" else _children_cpu_seconds() - cpu, "trials": trials}


def main(args: argparse.Namespace) -> int:
    """Time the whole `run` command on each executor and print the ratios (or one JSON object)."""
    import dataclasses

    import pandas as pd

    from harness.api import load_scenario
    from harness.errors import UsageError
    from harness.run.runner import plan

    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps: {args.steps} must be >= 1")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers: {args.workers} must be >= 1")
    scenario = load_scenario(args.scenario)
    if args.steps is not None:
        scenario = dataclasses.replace(
            scenario, training={**scenario.training, "steps": args.steps},
            analysis={**scenario.analysis, "eval_every": min(scenario.analysis["eval_every"], args.steps)})
    names = ["local", "process"] + (["ray"] if args.ray else [])
    timings: dict[str, dict[str, Any]] = {}
    acc: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        scenario_path = os.path.join(tmp, rundir.SCENARIO)
        with open(scenario_path, "w", encoding="utf-8") as handle:
            handle.write(scenario.to_yaml())
        for name in names:
            out_dir = os.path.join(tmp, name)
            timings[name] = time_run(scenario_path, name, out_dir, args.workers)
            frame = pd.read_csv(os.path.join(out_dir, rundir.table_file("summary")))
            acc[name] = frame[frame["metric"] == COMPARED].sort_values(list(frame.columns[:-1]))["value"].to_numpy()
    local = timings["local"]
    out = {
        "scenario": scenario.name, "trials": len(plan(scenario)), "steps": scenario.training["steps"],
        "workers": args.workers or os.cpu_count(), "cpu_count": os.cpu_count(), "seconds": timings,
        "speedup_over_local": {name: local["wall"] / t["wall"] for name, t in timings.items() if name != "local"},
        "trial_phase_speedup": {name: local["trials"] / t["trials"] for name, t in timings.items() if name != "local"},
        "local_cores_busy": local["cpu"] / local["wall"],
        "same_results": {name: acc[name].shape == acc["local"].shape and bool((acc[name] == acc["local"]).all())
                         for name in names if name != "local"},
    }
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{out['trials']} trials of {out['steps']} steps ({scenario.name}) on {out['cpu_count']} cores, "
          f"whole `run` command each:")
    for name in names:
        t = timings[name]
        extra = "" if name == "local" else (
            f"  speed-up {out['speedup_over_local'][name]:.2f}x (trial phase {out['trial_phase_speedup'][name]:.2f}x), "
            f"identical results: {out['same_results'][name]}")
        busy = "" if t["cpu"] is None else f", {t['cpu'] / t['wall']:.2f} cores busy"
        print(f"  {name:<8} {t['wall']:6.1f} s (trials {t['trials']:5.1f} s{busy}){extra}")
    return 0
