"""A small but realistic run directory, generated from a seed, for testing the report without training.

The numbers follow the shape of the real effect (BN's inference accuracy collapses on one-class batches,
BRN keeps more) so the figures look like a real report, but they are synthetic: the scenario description
and provenance say so. Layout follows the run-directory section of the team contract.
"""

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from harness.analysis.metrics import COMPARED
from harness.results import rundir

SAMPLERS = {
    "iid": {"kind": "iid"},
    "two_classes": {"kind": "class_correlated", "classes_per_batch": 2},
    "one_class": {"kind": "class_correlated", "classes_per_batch": 1},
}
NORMALIZERS = {
    "bn": {"kind": "batchnorm", "momentum": 0.99, "epsilon": 0.001, "microbatch_size": None},
    "brn": {"kind": "batchrenorm", "momentum": 0.99, "epsilon": 0.001, "r_max": 3.0, "d_max": 5.0,
            "warmup_steps": 100},
}
SEEDS = [0, 1, 2]
NUM_CLASSES = 10
N_LAYERS = 3
STEPS = 1500
EVAL_EVERY = 100
BATCH_SIZE = 16
# The diverged trial: (sampler, normalizer, seed, step).
DIVERGED = ("two_classes", "brn", 2, 700)

# Final accuracies (fractions) per mode at the default severity: {mode: {(sampler, normalizer): value}}.
_ACC = {
    "acc_inference": {("iid", "bn"): 0.95, ("iid", "brn"): 0.95, ("two_classes", "bn"): 0.70,
                      ("two_classes", "brn"): 0.86, ("one_class", "bn"): 0.18, ("one_class", "brn"): 0.50},
    "acc_batch_iid": {("iid", "bn"): 0.95, ("iid", "brn"): 0.95, ("two_classes", "bn"): 0.62,
                      ("two_classes", "brn"): 0.85, ("one_class", "bn"): 0.25, ("one_class", "brn"): 0.55},
    "acc_batch_sampler": {("iid", "bn"): 0.95, ("iid", "brn"): 0.95, ("two_classes", "bn"): 0.93,
                          ("two_classes", "brn"): 0.90, ("one_class", "bn"): 0.97, ("one_class", "brn"): 0.88},
    "acc_precise_iid": {("iid", "bn"): 0.95, ("iid", "brn"): 0.95, ("two_classes", "bn"): 0.74,
                    ("two_classes", "brn"): 0.87, ("one_class", "bn"): 0.30, ("one_class", "brn"): 0.52},
}
_SEVERITY = {"iid": 0.0, "two_classes": 0.5, "one_class": 1.0}


def _severity_scale(point, sampler):
    """How much harder a sweep point is than the default (1.0): smaller batches, fewer classes per batch."""
    scale = 1.0
    for key, value in point.items():
        if key.endswith("batch_size"):
            scale *= (BATCH_SIZE / value) ** 0.35
        elif key == f"samplers.{sampler}.classes_per_batch":
            scale *= (2.0 / value) ** 0.5
    return scale


def _final_acc(mode, sampler, norm, point):
    """Target accuracy after training, moved away from the i.i.d. value by the point's severity."""
    iid = _ACC[mode][("iid", norm)]
    drop = (iid - _ACC[mode][(sampler, norm)]) * _severity_scale(point, sampler)
    return float(np.clip(iid - drop, 0.08, 0.99))


def write_fake_run(path, *, seed=0, name="noniid_small",
                   description="Synthetic run directory written by tests/support/fake_run.py "
                               "(not a real training run).",
                   sweep=None, acc_shift=0.0):
    """Write a run directory under `path` and return it as a Path.

    seed: drives every random number. sweep: optional {dotted field: [values]}; adds one column per field
    to every csv (cartesian product). acc_shift: added to every final accuracy of `brn` (for comparisons).
    """
    rng = np.random.default_rng(seed)
    run = Path(path)
    (run / rundir.TRIALS).mkdir(parents=True, exist_ok=True)
    sweep = dict(sweep or {})
    sweep_keys = list(sweep)
    points = [dict(zip(sweep_keys, values, strict=False)) for values in itertools.product(*sweep.values())] or [{}]

    scenario = {
        "name": name, "description": description,
        "data": {"name": "digits", "test_fraction": 0.3},
        "model": {"name": "convnet", "widths": [32, 64]},
        "normalizers": NORMALIZERS, "samplers": SAMPLERS,
        "training": {"batch_size": BATCH_SIZE, "steps": STEPS, "optimizer": "adam", "learning_rate": 0.001},
        "seeds": SEEDS, "analysis": {"eval_every": EVAL_EVERY, "probe_batches": 8},
    }
    if sweep:
        scenario["sweep"] = {key: list(values) for key, values in sweep.items()}
    (run / rundir.SCENARIO).write_text(yaml.safe_dump(scenario, sort_keys=False))
    provenance = {
        "versions": {"python": "3.11.2", "tensorflow": "2.21.0", "keras": "3.14.0", "numpy": np.__version__,
                     "harness": "0.1.0"},
        "device": {"type": "CPU", "name": "/physical_device:CPU:0", "cpu_model": "Synthetic CPU @ 2.0GHz"},
        "command": "python tests/support/fake_run.py (synthetic data)",
        "started": "2025-01-01T12:00:00+00:00", "finished": "2025-01-01T12:01:40+00:00",
        "git_commit": None, "hostname": "fake-host",
    }
    (run / rundir.PROVENANCE).write_text(json.dumps(provenance, indent=2))

    trials, summary, curves, layers, composition, noniid = [], [], [], [], [], []
    seed_offset = {s: rng.normal(0, 0.02) for s in SEEDS}  # shared by normalizers: makes pairing matter
    for point in points:
        for sampler, norm, s in itertools.product(SAMPLERS, NORMALIZERS, SEEDS):
            key = dict(point, sampler=sampler, normalizer=norm, seed=s)
            diverged = (sampler, norm, s) == DIVERGED[:3]
            secs = float(rng.normal(30.0 if norm == "bn" else 34.5, 1.0))
            status = rundir.DIVERGED if diverged else rundir.OK
            trials.append(dict(key, status=status, diverged_step=DIVERGED[3] if diverged else None,
                               error="training loss became nan" if diverged else None, seconds=secs))
            trial_id = "-".join(str(v) for v in key.values())
            finals = {}
            for mode in _ACC:
                value = _final_acc(mode, sampler, norm, point) + seed_offset[s] + rng.normal(0, 0.02)
                if norm == "brn":
                    value += acc_shift
                finals[mode] = float(np.clip(value, 0.0, 1.0))
            sev = _SEVERITY[sampler] * _severity_scale(point, sampler) * (1.0 if norm == "bn" else 0.35)
            finals.update(
                train_loss=float(0.05 + 0.1 * rng.random()), train_acc=float(0.97 + 0.02 * rng.random()),
                logit_disagreement=float(np.clip(0.02 + 0.6 * sev + rng.normal(0, 0.02), 0, 1)),
                logit_kl=float(max(0.0, 0.01 + 2.0 * sev + rng.normal(0, 0.05))),
                seconds=secs, ms_per_step=1000.0 * secs / STEPS)
            if diverged:
                finals.update({m: 0.1 for m in _ACC}, train_loss=float("nan"), train_acc=0.1)
            summary += [dict(key, metric=m, value=v) for m, v in finals.items()]
            # a trial file of the run-directory format (the report refuses a damaged one: issue 22)
            (run / "trials" / f"{trial_id}.json").write_text(json.dumps(dict(
                key, id=trial_id, hash="fake", config=dict(key), status=status,
                diverged_step=DIVERGED[3] if diverged else None, final={} if diverged else finals)))

            last = DIVERGED[3] - EVAL_EVERY if diverged else STEPS
            for step in range(0, last + 1, EVAL_EVERY):
                progress = 1.0 - np.exp(-step / 300.0)
                row = {"train_loss": 2.3 * (1 - progress) + finals["train_loss"] * progress,
                       "train_acc": 0.1 + (finals["train_acc"] - 0.1) * progress}
                for mode in (COMPARED, "acc_batch_sampler", "acc_batch_iid"):
                    row[mode] = 0.1 + (finals[mode] - 0.1) * progress
                if norm == "brn":
                    row["clip_fraction"] = 0.0 if step < 100 else 0.3 * sev * progress
                for m, v in row.items():
                    curves.append(dict(key, step=step, metric=m, value=float(v + rng.normal(0, 0.01))))
            if diverged:
                continue
            for layer in range(1, N_LAYERS + 1):
                local = 0.02 + sev * 0.3 * layer ** 0.5 + abs(rng.normal(0, 0.01))
                vals = {"mismatch_local": local, "mismatch_propagated": local * (1 + 0.4 * (layer - 1))}
                for prefix, scale in (("abs_log_r", 0.3), ("abs_d", 1.2)):
                    spread = 0.02 + scale * sev * (0.6 + 0.2 * layer)
                    for q, frac in (("q05", 0.05), ("q25", 0.3), ("q50", 0.6), ("q75", 1.0), ("q95", 1.8)):
                        vals[f"{prefix}_{q}"] = spread * frac * (1 + rng.normal(0, 0.05))
                if norm == "brn":
                    vals["clip_fraction"] = float(np.clip(0.3 * sev * layer / N_LAYERS, 0, 1))
                layers += [dict(point, sampler=sampler, normalizer=norm, seed=s, layer=layer, metric=m,
                                value=float(v)) for m, v in vals.items()]
        for sampler in SAMPLERS:
            counts = np.zeros((32, NUM_CLASSES), dtype=int)
            cpb = point.get(f"samplers.{sampler}.classes_per_batch", SAMPLERS[sampler].get("classes_per_batch"))
            bs = point.get("training.batch_size", BATCH_SIZE)
            for b in range(32):
                if cpb is None:
                    counts[b] = rng.multinomial(bs, np.full(NUM_CLASSES, 1 / NUM_CLASSES))
                else:
                    chosen = rng.choice(NUM_CLASSES, size=cpb, replace=False)
                    counts[b, chosen] = bs // cpb
                    counts[b, chosen[0]] += bs - (bs // cpb) * cpb
            composition += [dict(point, sampler=sampler, batch=b, label=lab, count=int(counts[b, lab]))
                            for b in range(32) for lab in range(NUM_CLASSES) if counts[b, lab] > 0]
            p = counts / counts.sum(1, keepdims=True)
            tv = 0.5 * np.abs(p - 1 / NUM_CLASSES).sum(1).mean()
            hel = np.sqrt(0.5 * ((np.sqrt(p) - np.sqrt(1 / NUM_CLASSES)) ** 2).sum(1)).mean()
            with np.errstate(divide="ignore", invalid="ignore"):
                ent = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
            stats = {"tv_distance": tv, "hellinger_distance": hel, "effective_classes": np.exp(ent).mean(),
                     "coverage": float(rng.uniform(0.2, 0.3)), "repeat_rate": float(rng.uniform(0, 0.02))}
            noniid += [dict(point, sampler=sampler, metric=m, value=float(v)) for m, v in stats.items()]

    def _write(rows, name):
        """The table `name` with the run-directory format's columns (harness.results.rundir.TABLES), those the fake
        run has (no init_fingerprint: the optional columns of older run directories stay optional)."""
        frame = pd.DataFrame(rows)
        columns = [c for c in rundir.TABLES[name] if c in frame.columns]
        frame = frame[sweep_keys + [c for c in columns if c not in sweep_keys]]
        frame.to_csv(run / rundir.table_file(name), index=False)
        return frame

    _write(trials, "trials")
    frame = _write(summary, "summary")
    _write(curves, "curves")
    _write(layers, "layers")
    _write(composition, "composition")
    _write(noniid, "noniid")
    table = frame[frame.metric == COMPARED].groupby(sweep_keys + ["sampler", "normalizer"])["value"].mean()
    (run / rundir.SUMMARY_MD).write_text(f"# {COMPARED} (mean over seeds)\n\n" + table.to_string() + "\n")
    return run


if __name__ == "__main__":
    import sys

    print(write_fake_run(sys.argv[1] if len(sys.argv) > 1 else "reports/fake_run"))


_REPORTS = {}
HOSTILE = "<script>window.__pwned = 1</script>"


def hostile_report(tmp_path_factory):
    """The report of a fake run whose name and description try to inject a script, rendered once per session.

    Shared by test_report.py and test_report_browser.py so the slowest step (drawing the figures) runs once.
    """
    if "hostile" not in _REPORTS:
        from harness.report import write_report

        run = write_fake_run(tmp_path_factory.mktemp("hostile") / "noniid_small", seed=5, name=f"evil{HOSTILE}",
                             description=f"Description {HOSTILE} & <b>bold</b>")
        _REPORTS["hostile"] = write_report(run)
    return _REPORTS["hostile"]
