"""The scenario runner: plan trials, skip finished ones, run the rest, write tables and the report.

The run directory is the only state. Each finished trial is one JSON file,
written atomically by this process alone (executors only return results), so a
killed run loses at most the trials in flight and the next `run` resumes.
"""

import datetime
import glob
import json
import os
import platform
import socket
import subprocess
import sys
import time

from harness import atomic

FINISHED = ("ok", "diverged")


def plan(scenario, skip_infeasible=False):
    """Every trial of the scenario: sweep points x samplers x normalizers x seeds, paired by seed."""
    from harness.sweep import expand
    from harness.trial import make_trial_config

    configs = []
    for point, point_scenario in expand(scenario, skip_infeasible):
        for sampler in point_scenario.samplers:
            for seed in point_scenario.seeds:
                for normalizer in point_scenario.normalizers:
                    configs.append(make_trial_config(point_scenario, sampler, normalizer, seed, point))
    return configs


def trial_path(out_dir, config):
    return os.path.join(out_dir, "trials", f"{config['id']}.json")


def load_finished(out_dir, config):
    """The saved result of this exact trial config, if it finished (ok or diverged)."""
    path = trial_path(out_dir, config)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            result = json.load(handle)
    except (OSError, ValueError):  # unreadable, not JSON, or not UTF-8: not finished, rerun it
        return None
    if not isinstance(result, dict):  # valid JSON of another type (null, a list): damaged, rerun it
        return None
    return result if result.get("hash") == config["hash"] and result.get("status") in FINISHED else None


def _git_commit():
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def provenance(command, started, environment):
    """Who ran the run: `environment` (versions and device, from the executor: where trials run) and this machine."""
    return {**environment, "command": command, "started": started, "finished": None, "git_commit": _git_commit(),
            "hostname": socket.gethostname(), "platform": platform.platform()}


def write_batch_composition(scenario, out_dir, skip_infeasible=False):
    """composition.csv and noniid.csv: what each sampler's first training batches hold, and how non-i.i.d. they are."""
    import pandas as pd

    import samplers.metrics
    from harness.plugin_checks import checked_batches
    from harness.scenario import build_sampler
    from harness.sweep import expand
    from harness.trial import load_dataset

    composition, noniid = [], []
    for point, point_scenario in expand(scenario, skip_infeasible):
        dataset = load_dataset(point_scenario.data)
        features = dataset.x_train.reshape(len(dataset.x_train), -1)
        batch_size = point_scenario.training["batch_size"]
        n_batches = point_scenario.analysis["composition_batches"]
        for name, cfg in point_scenario.samplers.items():
            try:
                sampler = build_sampler(cfg, dataset.y_train, batch_size, point_scenario.seeds[0], features)
                stream = checked_batches(sampler, max(len(sampler), n_batches), len(dataset.y_train), name)
            except (Exception, SystemExit) as error:  # noqa: BLE001 - a broken plugin is already recorded by its failed trials
                print(f"warning: no batch composition for sampler {name}: {error}", file=sys.stderr)
                continue
            counts = samplers.metrics.composition(stream[:n_batches], dataset.y_train, dataset.num_classes)
            for label, batch in zip(*counts.nonzero()):
                composition.append({"sampler": name, **point, "batch": int(batch), "label": int(label),
                                    "count": int(counts[label, batch])})
            for metric, value in samplers.metrics.summarize(stream, dataset.y_train).items():
                noniid.append({"sampler": name, **point, "metric": metric, "value": float(value)})
    atomic.write_csv(os.path.join(out_dir, "composition.csv"), pd.DataFrame(composition))
    atomic.write_csv(os.path.join(out_dir, "noniid.csv"), pd.DataFrame(noniid))


def write_tables(scenario, out_dir, results):
    """The tidy CSV files and summary.md from all trial results; returns the summary text."""
    from harness import tables

    frames = tables.trial_tables(results)
    for name, frame in frames.items():
        atomic.write_csv(os.path.join(out_dir, f"{name}.csv"), frame)
    text = f"# {scenario.name}\n\n" + tables.summary_markdown(frames["summary"], scenario.baseline_normalizer)
    failed = frames["trials"][frames["trials"]["status"] != "ok"]
    for _, row in failed.iterrows():
        reason = f"diverged at step {int(row['diverged_step'])}" if row["status"] == "diverged" else row["error"]
        text += f"\n- {row['sampler']} / {row['normalizer']} / seed {row['seed']}: {row['status']} ({reason})"
    atomic.write_text(os.path.join(out_dir, "summary.md"), text + "\n")
    return text


def _lock(out_dir):
    """An exclusive lock on the run directory: two runs writing one folder would delete each other's files."""
    import fcntl

    from harness.errors import UsageError

    handle = open(os.path.join(out_dir, ".lock"), "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise UsageError(f"--out: {out_dir!r} is in use by another run") from None
    return handle


def _refuse_another_scenario(out_dir, name, fresh):
    """A run directory holds one scenario: resuming another one into it would mix two runs' files."""
    import yaml

    from harness.errors import UsageError

    try:
        with open(os.path.join(out_dir, "scenario.yaml"), encoding="utf-8") as handle:
            previous = (yaml.safe_load(handle) or {}).get("name")
    except (OSError, ValueError, yaml.YAMLError, AttributeError):  # damaged: the run rewrites it
        return
    if previous is not None and previous != name and not fresh:
        raise UsageError(f"--out: {out_dir!r} holds a run of scenario {previous!r}, not {name!r} "
                         "(choose another --out, or --fresh to replace it)")


def run(scenario, out_dir, *, fresh=False, executor=None, quiet=False, command=None, report=True,
        on_result=None, skip_infeasible=False):
    """Run (or resume) every trial of `scenario` into `out_dir`, then write tables and the report.

    Returns the list of trial results, in plan order.
    """
    from harness.executors import LocalExecutor
    from harness.progress import progress_bar

    executor = executor or LocalExecutor()
    configs = plan(scenario, skip_infeasible)
    os.makedirs(os.path.join(out_dir, "trials"), exist_ok=True)
    with _lock(out_dir):
        _refuse_another_scenario(out_dir, scenario.name, fresh)
        for path in glob.glob(os.path.join(out_dir, "trials", ".tmp-*")):
            os.unlink(path)  # half-written by a killed run
        if fresh:
            for path in glob.glob(os.path.join(out_dir, "trials", "*.json")):
                os.unlink(path)
        started = _now()
        atomic.write_text(os.path.join(out_dir, "scenario.yaml"), scenario.to_yaml())
        info = provenance(command or " ".join(sys.argv), started, executor.environment())
        atomic.write_json(os.path.join(out_dir, "provenance.json"), info)

        # Results of trials outside this plan stay on disk (a seed removed today may come back) but not in the tables.
        results = {c["id"]: load_finished(out_dir, c) for c in configs}
        todo = [c for c in configs if results[c["id"]] is None]
        # Sweep points that resolve to the same trial (e.g. the i.i.d. control while another sampler is swept)
        # share one run: the first config of each hash runs, its result is filed under every point.
        same_trial = {}
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
                    filed = {**result, "id": config["id"], "config": config}
                    atomic.write_json(trial_path(out_dir, config), filed)
                    results[config["id"]] = filed
                    bar.update(1)
                timing["io"] += time.perf_counter() - write_started
                if on_result is not None:
                    on_result(result)
        finally:
            bar.close()
        timing["trials"] = time.perf_counter() - tic - timing["io"]
        tic = time.perf_counter()
        write_batch_composition(scenario, out_dir, skip_infeasible)
        ordered = [results[c["id"]] for c in configs]
        text = write_tables(scenario, out_dir, ordered)
        timing["io"] += time.perf_counter() - tic
        info.update(finished=_now(), timing=timing, executor=type(executor).__name__)
        atomic.write_json(os.path.join(out_dir, "provenance.json"), info)
        if report:
            from harness.report import write_report

            tic = time.perf_counter()
            write_report(out_dir)
            timing["report"] = time.perf_counter() - tic
            atomic.write_json(os.path.join(out_dir, "provenance.json"), info)
    if not quiet:
        print(text)
    return ordered
