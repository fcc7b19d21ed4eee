"""The scenario runner: plan trials, skip finished ones, run the rest, write tables and the report.

The run directory (`harness.results.rundir`) is the only state. Each finished trial is one JSON file,
written atomically by this process alone (executors only return results), so a
killed run loses at most the trials in flight and the next `run` resumes.
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from harness.results import rundir

if TYPE_CHECKING:
    import pandas as pd

    from harness.scenario import Scenario


def default_device() -> str:
    """The device kind trials run on here: "gpu" when this machine shows a GPU (`visible_gpus`, without
    importing TensorFlow; `--device cpu` hides them), else "cpu"."""
    from harness.run.executors import visible_gpus

    return "gpu" if visible_gpus() else "cpu"


def plan(scenario: Scenario, skip_infeasible: bool = False, device: str | None = None) -> list[dict[str, Any]]:
    """Every trial of the scenario: sweep points x samplers x normalizers x seeds, paired by seed, for `device`
    (cpu or gpu; default `default_device()`)."""
    from harness.scenario import expand
    from harness.train.trial import make_trial_config

    device = device or default_device()
    configs = []
    for point, point_scenario in expand(scenario, skip_infeasible):
        for sampler in point_scenario.samplers:
            for seed in point_scenario.seeds:
                for normalizer in point_scenario.normalizers:
                    configs.append(make_trial_config(point_scenario, sampler, normalizer, seed, point, device))
    return configs


def trial_count(scenario: Scenario) -> int:
    """How many trials `plan` gives (sweep points sharing a trial counted apart), from the scenario's shape
    alone: sweep points are counted, not validated again (`--executor auto` chooses from it)."""
    from harness.scenario.sweep import _axes

    points = len(_axes(scenario.sweep)[1]) if scenario.sweep else 1
    return points * len(scenario.samplers) * len(scenario.seeds) * len(scenario.normalizers)


def _git_commit() -> str | None:
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "neon", "asimd",
              "sve")


def cpu_info() -> dict[str, Any]:
    """This machine's architecture and the SIMD extensions its CPU reports (from /proc/cpuinfo on Linux):
    float results can differ between CPUs whose kernels take different vector paths."""
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith(("flags", "features")):
                    flags.update(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return {"machine": platform.machine(), "simd": [f for f in SIMD_FLAGS if f in flags]}


def provenance(command: str, started: str, environment: dict[str, Any]) -> dict[str, Any]:
    """Who ran the run: `environment` (versions and device, from the executor: where trials run) and this machine."""
    return {**environment, "command": command, "started": started, "finished": None, "git_commit": _git_commit(),
            "hostname": socket.gethostname(), "platform": platform.platform(), "cpu": cpu_info()}


def _checked(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """A loaded trial result checked for non-finite numbers as a fresh one is (a file written before metrics
    were checked one by one, or edited by hand); None (run again) when no finite metric is left."""
    from harness.results.finite import check_result

    if result is None:
        return None
    checked = check_result(result)
    return checked if checked["status"] != rundir.FAILED else None


def write_batch_composition(scenario: Scenario, out_dir: str, skip_infeasible: bool = False) -> None:
    """composition.csv and noniid.csv: what each sampler's first training batches hold, and how non-i.i.d. they are."""
    import pandas as pd

    import samplers.metrics
    from harness.plugins.output import checked_batches
    from harness.scenario import expand, sampler_for
    from harness.train.trial import load_dataset

    composition: list[dict[str, Any]] = []
    noniid: list[dict[str, Any]] = []
    for point, point_scenario in expand(scenario, skip_infeasible):
        dataset = load_dataset(point_scenario.data)
        batch_size = point_scenario.training["batch_size"]
        n_batches = point_scenario.analysis["composition_batches"]
        for name, cfg in point_scenario.samplers.items():
            try:
                sampler = sampler_for(cfg, dataset.x_train, dataset.y_train, batch_size, point_scenario.seeds[0])
                stream = checked_batches(sampler, max(len(sampler), n_batches), len(dataset.y_train), name)
            except (Exception, SystemExit) as error:  # noqa: BLE001 - a broken plugin is already recorded by its failed trials
                print(f"warning: no batch composition for sampler {name}: {error}", file=sys.stderr)
                continue
            counts = samplers.metrics.composition(stream[:n_batches], dataset.y_train, dataset.num_classes)
            for label, batch in zip(*counts.nonzero(), strict=False):
                composition.append({"sampler": name, **point, "batch": int(batch), "label": int(label),
                                    "count": int(counts[label, batch])})
            for metric, value in samplers.metrics.summarize(stream, dataset.y_train).items():
                noniid.append({"sampler": name, **point, "metric": metric, "value": float(value)})
    run_dir = rundir.RunDir(out_dir)
    # with every sampler broken the tables are empty but keep their header: the report and comparisons read them
    for name, rows in (("composition", composition), ("noniid", noniid)):
        run_dir.write_table(name, pd.DataFrame(rows) if rows else pd.DataFrame(columns=rundir.TABLES[name]))


def write_tables(scenario: Scenario, out_dir: str, results: list[dict[str, Any]]) -> str:
    """The tidy CSV files and summary.md from all trial results; returns the summary text."""
    from harness.analysis.metrics import table
    from harness.results import tables

    run_dir = rundir.RunDir(out_dir)
    known = table(scenario.analysis.get("metrics", []))
    frames = tables.trial_tables(results, known)
    for name, frame in frames.items():
        run_dir.write_table(name, frame)
    write_comparisons(out_dir, results)  # before summary.md: its first lines are the report's headline sentences
    top, details = summary_top(out_dir)
    text = f"# {scenario.name}\n\n{top}\n\n## Verdict\n\n" + tables.summary_markdown(
        frames["summary"], scenario.analysis["reference"], trials=frames["trials"], known=known)
    for _, row in frames["trials"].iterrows():
        where = f"\n- {row['sampler']} / {row['normalizer']} / seed {row['seed']}: "
        if row["status"] == rundir.DIVERGED:
            text += f"{where}{row['status']} (diverged at step {int(row['diverged_step'])})"
        elif row["status"] != rundir.OK:
            text += f"{where}{row['status']} ({row['error']})"
        elif isinstance(row["failed_metrics"], str) and row["failed_metrics"]:  # ok, without these metrics
            text += f"{where}failed metrics ({row['failed_metrics']})"
    if scenario.analysis.get("compare") and not frames["summary"].empty:
        text += "\n\n" + "\n".join(tables.declared_markdown(frames["summary"], scenario.analysis["compare"],
                                                                  frames["trials"]))
    run_dir.write_text(rundir.SUMMARY_MD, text + ("\n\n" + details if details else "") + "\n")
    return text  # printed after the run: the details stay in summary.md


def summary_top(out_dir: str) -> tuple[str, str]:
    """The headline sentences (top) and the detailed statements of summary.md; none when the run directory
    cannot be read as the report reads it (e.g. every trial failed): the tables below still say what happened."""
    from harness.results.headline import summary_sections

    try:
        return summary_sections(out_dir)
    except Exception as error:  # noqa: BLE001 - the summary must be written whatever the headline needs
        return f"(no headline: {error})", ""


def write_comparisons(out_dir: str, results: list[dict[str, Any]]) -> pd.DataFrame:
    """comparisons.csv from the tables just written (read back as the report reads them) and the trials'
    per-example correctness (for the bootstrap over test examples)."""
    from harness.results import comparisons
    from harness.results.loader import load_run

    data = load_run(out_dir)
    correctness = comparisons.correctness_from_results(results, data.sweep_vars) if results else None
    frame = comparisons.compute(data, correctness)
    rundir.RunDir(out_dir).write_table(rundir.COMPARISONS, frame)
    return frame


def run(scenario: Scenario, out_dir: str, *, fresh: bool = False, executor: Any = None, quiet: bool = False,
        command: str | None = None, report: Callable[[str], object] | None = None,
        on_result: Callable[[dict[str, Any]], object] | None = None, skip_infeasible: bool = False,
        device: str | None = None) -> list[dict[str, Any]]:
    """Run (or resume) every trial of `scenario` into `out_dir`, then write the tables.

    `report`: called with `out_dir` once the tables are written, while the run directory is still locked (the
    command layer passes `harness.report.write_report`: the runner never imports the report); its time is
    recorded as provenance's `timing.report`. Returns the list of trial results, in plan order.
    """
    from harness.run.executors import LocalExecutor
    from harness.runtime.progress import progress_bar

    executor = executor or LocalExecutor()
    configs = plan(scenario, skip_infeasible, device)
    run_dir = rundir.RunDir(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    with run_dir.lock():
        run_dir.refuse_another_scenario(scenario.name, fresh)
        run_dir.prepare(fresh)
        started = _now()
        run_dir.write_text(rundir.SCENARIO, scenario.to_yaml())
        tic = time.perf_counter()
        # the batch composition depends on the scenario alone: written while workers start (they import TensorFlow)
        write_batch_composition(scenario, out_dir, skip_infeasible)
        composition_seconds = time.perf_counter() - tic
        info = provenance(command or " ".join(sys.argv), started, executor.environment())
        run_dir.write_json(rundir.PROVENANCE, info)

        # Results of trials outside this plan stay on disk (a seed removed today may come back) but not in the tables.
        results = {c["id"]: _checked(run_dir.load_finished(c)) for c in configs}
        todo = [c for c in configs if results[c["id"]] is None]
        # Sweep points that resolve to the same trial (e.g. the i.i.d. control while another sampler is swept)
        # share one run: the first config of each hash runs, its result is filed under every point.
        same_trial: dict[str, list[dict[str, Any]]] = {}
        for config in todo:
            same_trial.setdefault(config["hash"], []).append(config)
        unique = [group[0] for group in same_trial.values()]

        if not todo and not quiet:
            print(f"{scenario.name}: nothing to do, all {len(configs)} trials are finished "
                  "(tables and report are rewritten; --fresh starts over)", file=sys.stderr)
        bar = progress_bar(len(configs), len(configs) - len(todo), quiet or not todo, scenario.name)
        timing = {"trials": 0.0, "io": 0.0, "report": 0.0}
        tic = time.perf_counter()
        try:
            for result in executor.run(unique, progress=None if quiet else bar):
                write_started = time.perf_counter()
                for config in same_trial[result["hash"]]:
                    results[config["id"]] = run_dir.save_trial(config, result)
                    bar.update(1)
                timing["io"] += time.perf_counter() - write_started
                if on_result is not None:
                    on_result(result)
        finally:
            bar.close()
        timing["trials"] = time.perf_counter() - tic - timing["io"]
        timing["io"] += composition_seconds
        tic = time.perf_counter()
        ordered = cast("list[dict[str, Any]]", [results[c["id"]] for c in configs])  # each trial has one by now
        text = write_tables(scenario, out_dir, ordered)
        timing["io"] += time.perf_counter() - tic
        info.update(finished=_now(), timing=timing, executor=type(executor).__name__)
        run_dir.write_json(rundir.PROVENANCE, info)
        if report is not None:
            tic = time.perf_counter()
            report(out_dir)
            timing["report"] = time.perf_counter() - tic
            run_dir.write_json(rundir.PROVENANCE, info)
    if not quiet:
        print(text)
    return ordered
