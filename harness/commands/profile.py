"""`python -m harness profile NORMALIZER [...]`: how much each normalizer depends on its minibatch, over a battery
of conditions (scenarios/profile/), beside the battery's reference normalizers; `--merge DIR [DIR ...]` joins
finished profiles into one ranked table. See `harness.profile`."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
import time
from typing import TYPE_CHECKING, Any

from harness.commands.numbers import MAX_SEEDS, MAX_WORKERS, integer
from harness.errors import ScenarioError, UsageError
from harness.runtime import heavy

if TYPE_CHECKING:
    import argparse

    import pandas as pd

    from harness.profile.battery import Battery
    from harness.profile.driver import Plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument("normalizers", nargs="*", metavar="NORMALIZER",
                        help="a kind (layernorm), a plugin (pkg.module:Layer or an entry point), "
                             "or name=kind,param=value")
    parser.add_argument("--battery", default="digits", help="a battery of scenarios/profile/ or a battery file "
                                                            "(default: digits)")
    parser.add_argument("--model", default=None, help="model name replacing the battery's (its defaults)")
    parser.add_argument("--seeds", type=integer(1, MAX_SEEDS), default=None, help="seeds (default: the battery's)")
    parser.add_argument("--out", default=None, help="output folder (default: reports/profile-<battery>)")
    parser.add_argument("--json", action="store_true", help="print the profile as JSON on stdout")
    parser.add_argument("--quick", action="store_true",
                        help="the battery's quick variant (2 seeds, fewer steps): too few seeds for a verdict")
    parser.add_argument("--fresh", action="store_true", help="discard finished trials and start over")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--executor", choices=("auto", "local", "process"), default="auto",
                        help="where trials run (default: process workers on a CPU machine with 2+ cores)")
    parser.add_argument("--workers", type=integer(1, MAX_WORKERS), default=None,
                        help="process executor: worker processes")
    parser.add_argument("--merge", nargs="+", metavar="DIR", default=None,
                        help="merge finished profile folders into one ranked table (with --out: merged.csv and "
                             "index.html there)")


def _battery(args: argparse.Namespace) -> Battery:
    from harness.profile import battery as batteries

    try:
        battery = batteries.load(args.battery)
    except ScenarioError as error:
        raise UsageError(str(error)) from None
    if args.quick:
        battery = battery.quick_variant()
    if args.seeds is not None:
        if args.seeds < 1:
            raise UsageError(f"--seeds: {args.seeds} must be >= 1")
        seeds = list(battery.seeds[:args.seeds])
        extra = (s for s in range(10**6) if s not in battery.seeds)
        while len(seeds) < args.seeds:
            seeds.append(next(extra))
        battery = dataclasses.replace(battery, seeds=seeds)
    if args.model is not None:
        battery = dataclasses.replace(battery, scenario={**battery.scenario, "model": {"name": args.model}})
    return battery


def main(args: argparse.Namespace) -> int:
    """Profile the given normalizers (or merge profiles); the exit code."""
    if args.merge is not None:
        if args.normalizers:
            raise UsageError("--merge: give profile folders only, no NORMALIZER")
        from harness.profile.merge import merge_main

        return merge_main(args.merge, args.out, args.json)
    if not args.normalizers:
        raise UsageError("NORMALIZER: give at least one normalizer to profile (or --merge DIR ...)")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers: {args.workers} must be >= 1")
    started_clock = time.perf_counter()
    from harness.profile import arguments, driver

    battery = _battery(args)
    profiled = arguments.resolve(args.normalizers, battery.references)
    out_dir = args.out or os.path.join("reports", f"profile-{battery.name}")
    from harness.run.executors import auto_executor, make_executor
    from harness.run.out_guard import claim

    # workers start now and import TensorFlow while this process validates every condition (pure Python)
    n_trials = len(battery.conditions) * (len(battery.references) + len(profiled)) * len(battery.seeds)
    name = args.executor if args.executor != "auto" else (
        "process" if args.workers is not None else auto_executor(n_trials))
    executor = make_executor(name, args.workers)
    try:
        profile_plan = driver.plan(battery, profiled)  # every condition validated before anything is written
        claim(out_dir)
        timing = {"planning": time.perf_counter() - started_clock}
        if name != "process":
            heavy.tensorflow()
        return _profile(args, battery, profile_plan, out_dir, executor, timing, started_clock)
    finally:
        executor.shutdown()


def _profile(args: argparse.Namespace, battery: Battery, profile_plan: Plan, out_dir: str, executor: Any,
             timing: dict[str, Any], started_clock: float) -> int:
    import datetime

    from harness.profile import compute, driver, page, result
    from harness.results import rundir
    from harness.run.runner import provenance

    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    run_dir = rundir.RunDir(out_dir)
    with run_dir.lock():
        tic = time.perf_counter()
        command = "python -m harness " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        info = provenance(command, started, executor.environment())
        timing["workers_ready"] = time.perf_counter() - tic
        driver.write_battery(battery, out_dir, args.quick)
        by_condition, run_timing = driver.execute(profile_plan, out_dir, executor, quiet=args.quiet, fresh=args.fresh)
        timing.update(run_timing)
        tic = time.perf_counter()
        frame = compute.values_frame(by_condition)
        normalizers, conditions = list(profile_plan.normalizers), list(battery.conditions)
        cells = compute.cells(frame, normalizers, conditions, battery.reference_condition)
        index = compute.indices(frame, normalizers, conditions, battery.reference_condition)
        table = compute.family(frame, normalizers, list(battery.references), conditions,
                               battery.reference_condition)
        failed = _failed_cells(profile_plan, by_condition, cells)
        profile = result.summary(battery, profile_plan, index, table, args.quick, failed)
        run_dir.write_table("profile", cells)
        run_dir.write_table("profile_family", table)
        run_dir.write_json("profile.json", profile)
        timing["analysis"] = time.perf_counter() - tic
        timing["total"] = time.perf_counter() - started_clock  # before the page (its own time is added after)
        timing["trial_seconds"] = driver.trial_seconds(by_condition)
        info.update(finished=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                    timing=timing, executor=type(executor).__name__)
        tic = time.perf_counter()
        page.write(out_dir, profile, cells, table, info)
        timing["page"] = time.perf_counter() - tic
        run_dir.write_json(rundir.PROVENANCE, info)
    if args.json:
        print(json.dumps({"battery": profile["battery"], "quick": profile["quick"], "note": profile["note"],
                          "normalizers": {n: {"index": e["index"], "ci": e["ci"], "worst": e["worst"]}
                                          for n, e in profile["normalizers"].items()},
                          "conditions": [c["name"] for c in profile["conditions"]]}, indent=1))
    else:
        for name in result.ranked(profile):
            if name in profile["profiled"]:
                print(result.sentence(profile, name))
        if profile["note"]:
            print(profile["note"])
        print(f"profile: {out_dir}/profile.csv  report: {out_dir}/index.html")
    measured = sum(1 for e in profile["normalizers"].values() if e["index"] is not None)
    if not measured:
        print("error: no normalizer was measured (every trial failed); see the conditions' trials.csv",
              file=sys.stderr)
        return 1
    return 0


def _failed_cells(profile_plan: Plan, by_condition: dict[str, list[dict]],
                  cells: pd.DataFrame) -> list[dict[str, str]]:
    """[{normalizer, condition, reason}] of the cells with no value: not planned (skipped) or every trial failed."""
    from harness.results import rundir

    found = [{"normalizer": n, "condition": c, "reason": r} for (n, c), r in profile_plan.skipped.items()]
    have = set(zip(cells["normalizer"], cells["condition"], strict=False))
    for condition, results in by_condition.items():
        for name in profile_plan.scenarios[condition].normalizers:
            if (name, condition) not in have:
                errors = [r.get("error") or r.get("status") for r in results
                          if r["config"]["normalizer"] == name and r.get("status") != rundir.OK]
                found.append({"normalizer": name, "condition": condition,
                              "reason": f"all trials failed: {(errors or ['no result'])[0]}"})
    return found
