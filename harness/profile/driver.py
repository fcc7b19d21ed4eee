"""Run a profile: one validated scenario per condition, every trial through one executor, one run directory each.

    <out>/profile.csv, profile.json, index.html, provenance.json, battery.yaml
    <out>/conditions/<condition>/   a run directory (scenario.yaml, trials/, summary.csv, trials.csv)

Within a condition every normalizer trains on the same initial weights and batch streams for a seed (the
runner's pairing: `harness.run.runner.plan`); across conditions the seeds pair the drops. Finished trials
are reused on the next run (the runner's resume rule: the trial's hash). A normalizer whose scenario is
refused in one condition (a microbatch that does not divide the batch, a plugin that cannot build there)
has no cell there, recorded with its reason; a trial that fails leaves its seed out of the cell.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from typing import TYPE_CHECKING, Any, cast

import yaml

from harness.errors import ScenarioError, UsageError
from harness.profile.arguments import supports_microbatches
from harness.results import rundir

if TYPE_CHECKING:
    from harness.profile.battery import Battery

CONDITIONS_DIR = "conditions"


@dataclasses.dataclass
class Plan:
    """The validated scenario of each condition and the cells that could not be planned."""

    battery: Battery
    normalizers: dict          # every trained normalizer: references first, then the profiled ones
    profiled: list             # the names given on the command line
    scenarios: dict            # condition -> Scenario
    skipped: dict              # (normalizer, condition) -> reason (no cell: not applicable or refused)


def condition_normalizers(battery: Battery, normalizers: dict, condition: str) -> tuple[dict, dict]:
    """The normalizers of one condition: all of them, or at a microbatch condition those whose kind takes
    `microbatch_size`, with it set; (configs, {name: reason} of those left out)."""
    cfg = battery.conditions[condition]
    if cfg["microbatch_size"] is None:
        return copy.deepcopy(normalizers), {}
    chosen, left = {}, {}
    for name, config in normalizers.items():
        if supports_microbatches(config):
            chosen[name] = {**copy.deepcopy(config), "microbatch_size": cfg["microbatch_size"]}
        else:
            left[name] = f"kind {config['kind']} takes no microbatch_size"
    return chosen, left


def condition_raw(battery: Battery, condition: str, normalizers: dict) -> dict:
    """The raw scenario mapping of one condition (validated by `harness.scenario.validate`)."""
    cfg = battery.conditions[condition]
    base = copy.deepcopy(battery.scenario)
    return {"name": f"{battery.name}-{condition}", "description": f"{battery.name} battery: {cfg['label']}",
            "data": base["data"], "model": base["model"], "normalizers": normalizers,
            "samplers": {condition: cfg["sampler"]},
            "training": {**base["training"], "batch_size": cfg["batch_size"]},
            "seeds": list(battery.seeds), "analysis": {**base["analysis"], "reference": None}}


def plan(battery: Battery, profiled: dict) -> Plan:
    """Validate every condition's scenario (feasibility included). A normalizer refused at a condition loses
    that cell only; a problem that is not one normalizer's (the battery's data, model, sampler) is a UsageError."""
    normalizers = {**copy.deepcopy(battery.references), **copy.deepcopy(profiled)}
    scenarios: dict[str, Any] = {}
    skipped: dict[tuple[str, str], str] = {}
    datasets: dict[str, Any] = {}
    for condition in battery.conditions:
        chosen, left = condition_normalizers(battery, normalizers, condition)
        skipped.update({(name, condition): reason for name, reason in left.items()})
        while chosen:
            try:
                scenarios[condition] = _validate(condition_raw(battery, condition, chosen), datasets)
                break
            except ScenarioError as error:
                parts = error.path.split(".")
                if parts[0] == "normalizers" and len(parts) > 1 and parts[1] in chosen:
                    where = ".".join(parts[2:]) or "config"
                    skipped[(parts[1], condition)] = f"{where}: {error.value!r} {error.reason}"
                    del chosen[parts[1]]
                    continue
                raise UsageError(f"{os.path.basename(battery.path)}: condition {condition}: {error}") from None
    for name in normalizers:
        if not any(name in s.normalizers for s in scenarios.values()):
            reasons = sorted({r for (n, _), r in skipped.items() if n == name})
            raise UsageError(f"NORMALIZER {name}: fits no condition of battery {battery.name} ({'; '.join(reasons)})")
    return Plan(battery, normalizers, list(profiled), scenarios, skipped)


def _validate(raw: dict, datasets: dict[str, Any]) -> Any:
    """`harness.scenario.validate` with its feasibility checks run on a dataset loaded once for all conditions
    (the conditions share their data section)."""
    import dataclasses
    import json

    from harness.scenario import (
        check_input_fits,
        check_model_fits,
        check_samplers,
        load_data_or_explain,
        validate,
    )

    scenario = validate(raw, check_feasibility=False)
    key = json.dumps(scenario.data, sort_keys=True, default=str)
    if key not in datasets:
        datasets[key] = load_data_or_explain(scenario.data)
    check_model_fits(scenario, datasets[key])
    check_input_fits(scenario, datasets[key])
    return dataclasses.replace(scenario, samplers=check_samplers(scenario, datasets[key]))


def trial_configs(profile_plan: Plan) -> list[tuple[str, dict]]:
    """[(condition, config)] of every trial, in the runner's order within each condition."""
    from harness.run.runner import plan as run_plan

    return [(condition, config) for condition, scenario in profile_plan.scenarios.items()
            for config in run_plan(scenario)]


def execute(profile_plan: Plan, out_dir: str, executor: Any, quiet: bool = False,
            fresh: bool = False) -> tuple[dict[str, list[dict]], dict]:
    """Train every unfinished trial (one executor for all conditions: each shape traced once per worker),
    file each result in its condition's run directory, write its tables; {condition: [results]} and timing."""
    from harness.results import tables
    from harness.runtime.progress import progress_bar

    timing = {"trials": 0.0, "io": 0.0}
    configs = trial_configs(profile_plan)
    dirs = {c: rundir.RunDir(os.path.join(out_dir, CONDITIONS_DIR, c)) for c in profile_plan.scenarios}
    tic = time.perf_counter()
    for condition, run_dir in dirs.items():
        os.makedirs(run_dir.path, exist_ok=True)
        run_dir.prepare(fresh)
        run_dir.write_text(rundir.SCENARIO, profile_plan.scenarios[condition].to_yaml())
    results = {(c, cfg["id"]): dirs[c].load_finished(cfg) for c, cfg in configs}
    todo = [(c, cfg) for c, cfg in configs if results[(c, cfg["id"])] is None]
    same: dict[str, list[tuple[str, dict]]] = {}
    for condition, config in todo:
        same.setdefault(config["hash"], []).append((condition, config))
    timing["io"] += time.perf_counter() - tic
    bar = progress_bar(len(configs), len(configs) - len(todo), quiet or not todo,
                       f"profile {profile_plan.battery.name}")
    tic = time.perf_counter()
    io = 0.0
    try:
        for result in executor.run([group[0][1] for group in same.values()], progress=None if quiet else bar):
            started = time.perf_counter()
            for condition, config in same[result["hash"]]:
                results[(condition, config["id"])] = dirs[condition].save_trial(config, result)
                bar.update(1)
            io += time.perf_counter() - started
    finally:
        bar.close()
    timing["trials"] = time.perf_counter() - tic - io
    tic = time.perf_counter()
    by_condition: dict[str, list[dict]] = {c: [] for c in profile_plan.scenarios}
    for condition, config in configs:
        by_condition[condition].append(cast(dict, results[(condition, config["id"])]))  # every trial ran by now
    for condition, run_dir in dirs.items():
        for name, frame in tables.trial_tables(by_condition[condition]).items():
            if name in ("summary", "trials"):
                run_dir.write_table(name, frame)
    timing["io"] += io + time.perf_counter() - tic
    return by_condition, timing


def trial_seconds(by_condition: dict[str, list[dict]]) -> dict:
    """Where the trials' time went, summed over trials: trace (compiling), train, analysis (seconds)."""
    total = {"trace": 0.0, "train": 0.0, "analysis": 0.0, "trials": 0}
    for results in by_condition.values():
        for result in results:
            for key in ("trace", "train", "analysis"):
                total[key] += float((result.get("timing") or {}).get(key) or 0.0)
            total["trials"] += 1
    return total


def write_battery(battery: Battery, out_dir: str, quick: bool) -> None:
    """battery.yaml: the battery as profiled (after --quick), so the page and --merge read it from the folder."""
    from harness.runtime import atomic

    text = yaml.safe_dump({"name": battery.name, "description": battery.description, "source": battery.path,
                           "quick": quick, "scenario": battery.scenario, "seeds": battery.seeds,
                           "references": battery.references, "reference_condition": battery.reference_condition,
                           "conditions": battery.conditions}, sort_keys=False)
    atomic.write_text(os.path.join(out_dir, "battery.yaml"), text)
