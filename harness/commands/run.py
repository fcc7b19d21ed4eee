"""`python -m harness run SCENARIO`: validate, train every trial (resuming), analyse, write tables and report."""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING, Any

from harness.commands.numbers import MAX_GPUS_PER_TRIAL, MAX_RETRIES, MAX_WORKERS, integer, real
from harness.commands.validate import load_scenario
from harness.errors import UsageError
from harness.results import rundir
from harness.train.trial import DEVICES

if TYPE_CHECKING:
    import argparse

    from harness.scenario import Scenario


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's options and arguments, added to `parser` (its subcommand parser)."""
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument("--out", help="run directory (default: reports/<scenario name>)")
    parser.add_argument("--fresh", action="store_true", help="discard finished trials and start over")
    parser.add_argument("--smoke", action="store_true", help="a tiny version: few steps, one seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--verbose", action="store_true", help="keep TensorFlow's own start-up log lines")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    parser.add_argument("--skip-infeasible", action="store_true",
                        help="drop infeasible sweep points with a warning instead of failing")
    parser.add_argument("--executor", choices=("auto", "local", "process", "ray"), default="auto",
                        help="where trials run (default: auto: process workers on a CPU machine with 2+ cores and "
                             "12+ trials, else local, one after another in this process)")
    parser.add_argument("--workers", type=integer(1, MAX_WORKERS), default=None,
                        help="process executor: worker processes (default: cores; never more than the trials)")
    parser.add_argument("--workers-per-gpu", type=integer(1, MAX_WORKERS), default=1,
                        help="process executor: workers sharing one GPU (default 1; with GPUs, --workers defaults "
                             "to GPUs x this)")
    parser.add_argument("--address", default=None,
                        help="ray executor: 'auto' or a cluster address to join (default: start a local instance)")
    parser.add_argument("--gpus-per-trial", type=real(0, MAX_GPUS_PER_TRIAL), default=0.0,
                        help="ray executor: GPUs per trial")
    parser.add_argument("--max-retries", type=integer(0, MAX_RETRIES), default=2,
                        help="ray executor: retries of a task whose worker died")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (each trial's id, model, normalizer, sampler, seed, device, XLA; the "
                             "executor and workers) without running anything or writing any file")
    parser.add_argument("--device", choices=DEVICES, default=None,
                        help="where trials run: cpu (GPUs hidden from TensorFlow) or gpu (refused where none is "
                             "seen; with --dry-run, the plan for a GPU anyway); default: the GPU when one is seen, "
                             "else the CPU")
    parser.add_argument("--json", action="store_true", help="with --dry-run: the plan as one JSON object")


def choose_device(requested: str | None, plan_only: bool = False) -> str:
    """The device kind this run uses: `--device` checked against what the machine shows (no TensorFlow import).
    `cpu` hides every GPU from this process and its workers (CUDA_VISIBLE_DEVICES=-1, before TensorFlow is
    imported); `gpu` where no GPU is seen is refused (UsageError), unless `plan_only` (`--dry-run`: the plan a
    GPU machine would run, e.g. to check before renting one)."""
    from harness.run.executors import visible_gpus

    if requested == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        return "cpu"
    seen = bool(visible_gpus())
    if requested == "gpu" and plan_only:
        if not seen:
            print("note: no GPU is seen here; this is the plan for a machine with one", file=sys.stderr)
        return "gpu"
    if requested == "gpu" and not seen:
        raise UsageError("--device: gpu: no GPU is seen on this machine (nvidia-smi lists none, or "
                         "CUDA_VISIBLE_DEVICES hides them)")
    return "gpu" if seen else "cpu"


def dry_run_plan(scenario: Scenario, args: argparse.Namespace, device: str) -> dict[str, Any]:
    """The run's plan, computed without TensorFlow and without writing anything: {"scenario", "device",
    "executor", "workers", "trials": [{"id", "model", "family", "normalizer", "sampler", "seed", "device",
    "xla": {"training", "analysis"}}, ...]}."""
    from harness.run.executors import auto_executor, visible_gpus, worker_count
    from harness.run.runner import plan, trial_count
    from harness.train.trial import model_family

    # the GPUs the plan is for: this machine's, or one where `--device gpu` plans for a machine that has one
    seen = visible_gpus()
    gpus = seen or (["0"] if device == "gpu" else [])
    executor = args.executor
    if executor == "auto":
        executor = "process" if args.workers is not None else auto_executor(trial_count(scenario), gpus=gpus)
    workers = {"local": 1, "process": worker_count(args.workers, trial_count(scenario), len(gpus),
                                                   args.workers_per_gpu)}.get(executor, args.workers)
    trials = [{"id": c["id"], "model": c["model"]["name"], "family": model_family(c["model"]["name"]),
               "normalizer": c["normalizer"], "sampler": c["sampler"], "seed": c["seed"], "device": c["device"],
               "xla": {"training": bool(c["xla"]["training"]), "analysis": bool(c["xla"]["analysis"])},
               **({"point": c["point"]} if c["point"] else {})}
              for c in plan(scenario, args.skip_infeasible, device)]
    return {"scenario": scenario.name, "device": device, "executor": executor, "workers": workers,
            "trials": trials}


def _print_plan(found: dict[str, Any]) -> None:
    """The plan of `dry_run_plan` as a header line and one aligned row per trial."""
    trials = found["trials"]
    print(f"{found['scenario']}: {len(trials)} trials on the {found['device']}, executor {found['executor']}"
          + (f", {found['workers']} worker{'s' if found['workers'] != 1 else ''}" if found["workers"] else "")
          + " (dry run: nothing runs, nothing is written)")
    columns = ("id", "model", "family", "normalizer", "sampler", "seed", "device", "xla")
    rows = [[str(t["id"]), str(t["model"]), str(t["family"] or "-"), str(t["normalizer"]), str(t["sampler"]),
             str(t["seed"]), str(t["device"]),
             "training " + ("on" if t["xla"]["training"] else "off") + ", analysis "
             + ("on" if t["xla"]["analysis"] else "off")] for t in trials]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    for row in [list(columns), *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)).rstrip())


def main(args: argparse.Namespace) -> int:
    """Validate the scenario, then print its plan (`--dry-run`) or run it; 1 when every trial failed."""
    from harness import api

    if args.json and not args.dry_run:
        raise UsageError("--json: only with --dry-run (a run prints its summary and writes its tables)")
    api.check_options(args.executor, args.workers, args.workers_per_gpu, args.gpus_per_trial, args.max_retries)
    device = choose_device(args.device, plan_only=args.dry_run)
    scenario = load_scenario(args.scenario, args.skip_infeasible)
    if args.smoke:
        scenario = scenario.smoke()
    if args.dry_run:
        import json

        found = dry_run_plan(scenario, args, device)
        if args.json:
            print(json.dumps(found, indent=1))
        else:
            _print_plan(found)
        return 0
    command = "python -m harness " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out_dir, results = api.execute(
        scenario, args.out, fresh=args.fresh, executor=args.executor, workers=args.workers,
        workers_per_gpu=args.workers_per_gpu, address=args.address, gpus_per_trial=args.gpus_per_trial,
        max_retries=args.max_retries, quiet=args.quiet, verbose=args.verbose, report=not args.no_report,
        skip_infeasible=args.skip_infeasible, command=command, device=device)
    where = os.path.join(out_dir, rundir.REPORT) if not args.no_report else out_dir
    print(f"results: {out_dir}/  report: {where}")  # also with --quiet: where the results are is never noise
    failed = [r for r in results if r["status"] == rundir.FAILED]
    if results and len(failed) == len(results):  # nothing was done: never exit 0
        print(f"error: all {len(results)} trials failed (first: {failed[0]['id']}: {failed[0]['error']}); "
              "see summary.md, fix the cause and run again", file=sys.stderr)
        return 1
    return 0
