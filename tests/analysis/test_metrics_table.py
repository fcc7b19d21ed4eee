"""The metrics table as the one owner of every metric; metric plugins (the `ece` example package installed with
pip); old run directories; one atomic writer; trial identity (device, resolved XLA); `run --dry-run`."""

import ast
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.analysis import metrics as metric_table
from harness.errors import UsageError
from harness.results import rundir, tables
from harness.runtime import atomic
from harness.train import xla
from tests.conftest import ROOT, TINY_SCENARIO, harness_env
from tests.support.fake_run import write_fake_run

HARNESS = Path(ROOT) / "harness"
EXAMPLE = Path(ROOT) / "docs" / "examples" / "metric_plugin"


def _string_literals(path):
    """(line, value) of every string constant of a Python file, docstrings and other bare strings left out."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    bare = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in bare]


# -- one owner ----------------------------------------------------------------------------------------------
# Modules allowed to spell metric names: the table itself and the analyzer, whose evaluations name the metrics
# they return (big_vision style). The bench commands use `ms_per_step` as a key of their own JSON output.
NAMES_MAY_APPEAR = {"analysis/metrics.py", "analysis/analyzer.py", "bench/xla.py", "bench/run.py"}


def test_no_metric_name_literal_outside_the_table_and_the_analyzer():
    names = set(metric_table.METRICS) | set(metric_table.RENAMED)
    found = []
    for path in sorted(HARNESS.rglob("*.py")):
        relative = path.relative_to(HARNESS).as_posix()
        if relative in NAMES_MAY_APPEAR:
            continue
        found += [f"{relative}:{line}: {value!r}" for line, value in _string_literals(path)
                  if value in names - {"seconds"}]  # `seconds` is also a column of trials.csv
    assert not found, found


def test_statuses_and_file_names_are_spelled_by_the_run_directory_module_only():
    owned = set(rundir.STATUSES) | {rundir.SCENARIO, rundir.PROVENANCE, rundir.SUMMARY_MD, rundir.REPORT}
    found = []
    for path in sorted(HARNESS.rglob("*.py")):
        relative = path.relative_to(HARNESS).as_posix()
        if relative == "results/rundir.py":
            continue
        found += [f"{relative}:{line}: {value!r}" for line, value in _string_literals(path) if value in owned]
    assert not found, found


def test_comparisons_use_no_private_name_of_the_tables_module():
    tree = ast.parse((HARNESS / "results" / "comparisons.py").read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names]
    assert not [name for name in imported if name.startswith("_")], imported


def test_the_compared_metric_has_one_definition():
    from harness.results import comparisons, headline

    assert comparisons.METRIC is metric_table.COMPARED and headline.METRIC is metric_table.COMPARED


def _result(final, curves=(), layers=()):
    config = {"sampler": "iid", "normalizer": "bn", "seed": 0, "point": {}}
    return {"config": config, "status": rundir.OK, "diverged_step": None, "error": None, "seconds": 1.0,
            "final": final, "curves": list(curves), "layers": list(layers)}


def test_a_metric_not_in_the_table_cannot_reach_the_tables():
    with pytest.raises(ValueError, match="mystery.*summary.csv.*not in the metrics table"):
        tables.trial_tables([_result({metric_table.COMPARED: 0.5, "mystery": 1.0})])
    with pytest.raises(ValueError, match="mystery.*curves.csv"):
        tables.trial_tables([_result({}, curves=[{"step": 1, "metric": "mystery", "value": 1.0}])])
    with pytest.raises(KeyError):
        metric_table.bounds("mystery")  # no silent (-inf, inf)
    # a plugin's metric is known once its table is the run's
    known = {**metric_table.METRICS, "mystery": metric_table.Metric("mystery", ("final",), "a test metric", "ratio")}
    summary = tables.trial_tables([_result({"mystery": 1.0})], known)["summary"]
    assert summary["metric"].tolist() == ["mystery"]


def test_an_evaluator_returning_a_metric_it_does_not_declare_is_refused():
    evaluator = metric_table.Evaluator("x", metric_table.EVALUATORS[0].metrics, lambda context: {"other": 1.0})
    with pytest.raises(ValueError, match="'x' returned other, which it does not declare"):
        evaluator(None)


def test_every_final_metric_is_one_evaluator_entry_or_a_measured_one():
    declared = [m.name for e in metric_table.EVALUATORS for m in e.metrics]
    assert len(declared) == len(set(declared)) and set(declared) <= set(metric_table.produced(metric_table.FINAL))
    assert all(metric_table.METRICS[name] == m for e in metric_table.EVALUATORS for m in e.metrics
               for name in [m.name])


# -- old run directories ------------------------------------------------------------------------------------
def _rename_metric(run, old, new):
    for name in ("summary", "curves"):
        path = run / rundir.table_file(name)
        frame = pd.read_csv(path)
        frame["metric"] = frame["metric"].replace({old: new})
        frame.to_csv(path, index=False)


def test_a_run_directory_from_before_the_precise_split_renders(tmp_path, monkeypatch):
    """acc_precise (one PreciseBN metric, before acc_precise_own) is read as acc_precise_iid; the report is
    written by the one atomic writer (fsync, readable mode)."""
    from harness.report import write_report
    from harness.results.loader import load_run

    run = write_fake_run(tmp_path / "old", seed=3)
    before = pd.read_csv(run / "summary.csv")
    ok = pd.read_csv(run / "trials.csv").query("status == @rundir.OK")[rundir.ID_COLUMNS]
    expected = before[before["metric"] == "acc_precise_iid"].merge(ok, on=rundir.ID_COLUMNS)
    _rename_metric(run, "acc_precise_iid", "acc_precise")
    assert "acc_precise" in set(pd.read_csv(run / "summary.csv")["metric"])  # the file itself is left as it is
    data = load_run(run)
    got = data.summary[data.summary["metric"] == "acc_precise_iid"]
    assert len(got) == len(expected) > 0
    assert np.array_equal(np.sort(got["value"].to_numpy()), np.sort(expected["value"].to_numpy()))
    written = []
    real = atomic.write_text

    def spy(path, text):
        written.append(os.path.basename(os.fspath(path)))
        return real(path, text)

    monkeypatch.setattr(atomic, "write_text", spy)
    out = write_report(run)
    assert written == [rundir.REPORT]
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~_umask()
    html = out.read_text(encoding="utf-8")
    assert metric_table.METRICS["acc_precise_iid"].mode.split("\n")[0] in html


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_run_directory_with_a_metric_no_table_knows_is_refused_in_one_line(tmp_path):
    from harness.results.loader import load_run

    run = write_fake_run(tmp_path / "other", seed=4)
    _rename_metric(run, "logit_kl", "logit_js")
    with pytest.raises(UsageError) as error:
        load_run(run)
    assert "logit_js" in str(error.value) and "\n" not in str(error.value)


# -- the ece example plugin -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ece_site(tmp_path_factory):
    """docs/examples/metric_plugin installed with pip into a folder of its own (offline, as a user would)."""
    target = tmp_path_factory.mktemp("metric_plugin") / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(EXAMPLE)], check=True)
    return str(target)


def _hand_ece(probabilities, labels, bins=15):
    """ECE by the definition, one example at a time: bin i holds confidences in (i/bins, (i+1)/bins]."""
    sums = {}
    for p, y in zip(probabilities, labels, strict=False):
        confidence = max(p)
        i = min(max(math.ceil(confidence * bins) - 1, 0), bins - 1)
        n, right, conf = sums.get(i, (0, 0, 0.0))
        sums[i] = (n + 1, right + (int(np.argmax(p)) == y), conf + confidence)
    return sum(n / len(labels) * abs(right / n - conf / n) for n, right, conf in sums.values())


def test_ece_plugin_matches_a_hand_computation(ece_site, monkeypatch):
    monkeypatch.syspath_prepend(ece_site)
    import harness_ece

    probabilities = np.array([[0.95, 0.05], [0.93, 0.07], [0.62, 0.38], [0.35, 0.65]])
    labels = np.array([0, 1, 0, 0])
    # bins 14, 13, 9, 9: 1/4 |1 - .95| + 1/4 |0 - .93| + 2/4 |1/2 - (.62 + .65) / 2| = .0125 + .2325 + .0675
    assert harness_ece.expected_calibration_error(probabilities, labels) == pytest.approx(0.3125, abs=1e-12)

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 5)) * 3
    labels = rng.integers(0, 5, 200)

    class Context:
        def inference_logits(self):
            return logits

    context = Context()
    context.labels = labels
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    monkeypatch.setattr(metric_table, "_load_plugin", lambda name: harness_ece.ece)
    evaluator = metric_table.plugin("ece")
    assert evaluator(context)["ece"] == pytest.approx(_hand_ece(probabilities, labels), abs=1e-12)
    assert evaluator.metrics[0].groups == (metric_table.EXTRA,) and evaluator.metrics[0].unit == "fraction"


def test_ece_flows_into_summary_csv_and_the_report(ece_site, tmp_path):
    raw = json.loads(json.dumps(TINY_SCENARIO))
    raw["samplers"] = {"one_class": raw["samplers"]["one_class"]}
    raw["seeds"] = [0]
    raw["analysis"]["metrics"] = ["ece"]
    scenario = tmp_path / "ece.yaml"
    scenario.write_text(yaml.safe_dump(raw))
    env = {**harness_env(), "PYTHONPATH": os.pathsep.join([ROOT, ece_site])}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(scenario), "--out", str(out), "--quiet",
                           "--executor", "local"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = pd.read_csv(out / "summary.csv")
    ece = summary[summary["metric"] == "ece"]
    assert sorted(ece["normalizer"]) == ["bn", "brn"] and ((ece["value"] >= 0) & (ece["value"] <= 1)).all()
    assert "ece" in (out / "summary.md").read_text(encoding="utf-8")
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "expected calibration error (15 bins), inference mode" in html
    # a misspelt plugin: one line, exit 2, nothing written, before TensorFlow is imported
    raw["analysis"]["metrics"] = ["ecee"]
    scenario.write_text(yaml.safe_dump(raw))
    code = ("import sys; from harness.commands.cli import main; rc = main(sys.argv[1:]); "
            "assert 'tensorflow' not in sys.modules; sys.exit(rc)")
    refused = subprocess.run([sys.executable, "-c", code, "run", str(scenario), "--out", str(tmp_path / "never")],
                             env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and not (tmp_path / "never").exists()
    assert refused.stderr.count("\n") == 1 and "analysis.metrics" in refused.stderr
    assert "did you mean 'ece'" in refused.stderr


# -- trial identity ---------------------------------------------------------------------------------------
def test_trial_identity_records_the_device_and_the_resolved_xla(monkeypatch):
    from harness.scenario import validate
    from harness.train.trial import make_trial_config

    scenario = validate(json.loads(json.dumps(TINY_SCENARIO)))
    cpu = make_trial_config(scenario, "iid", "bn", 0, device="cpu")
    gpu = make_trial_config(scenario, "iid", "bn", 0, device="gpu")
    assert cpu["device"] == "cpu" and cpu["xla"] == xla.resolve("auto", "mlp", "CPU")
    assert gpu["xla"] == xla.resolve("auto", "mlp", "GPU") and cpu["hash"] != gpu["hash"]
    # the same settings resolving to another XLA setting (a re-measured `auto`) are another trial
    monkeypatch.setitem(xla.AUTO, ("CPU", "mlp"), {"training": False, "analysis": False})
    assert make_trial_config(scenario, "iid", "bn", 0, device="cpu")["hash"] != cpu["hash"]


# -- run --dry-run ----------------------------------------------------------------------------------------
NO_TF = ("import sys; from harness.commands.cli import main; rc = main(sys.argv[1:]); "
         "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; sys.exit(rc)")


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-c", NO_TF, *args], env=env or harness_env(), capture_output=True,
                          text=True, cwd=ROOT)


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    scenario = os.path.join(ROOT, "scenarios", "noniid_small.yaml")
    out = tmp_path / "never"
    done = _cli("run", scenario, "--dry-run", "--json", "--device", "cpu", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert not out.exists() and not os.listdir(tmp_path)
    plan = json.loads(done.stdout)
    raw = yaml.safe_load(open(scenario, encoding="utf-8"))
    assert plan["device"] == "cpu" and plan["executor"] in ("local", "process") and plan["workers"] >= 1
    assert len(plan["trials"]) == len(raw["normalizers"]) * len(raw["samplers"]) * len(raw["seeds"])
    first = plan["trials"][0]
    assert set(first) >= {"id", "model", "family", "normalizer", "sampler", "seed", "xla"}
    assert first["model"] == raw["model"]["name"] and set(first["xla"]) == {"training", "analysis"}
    assert first["xla"] == xla.resolve(raw.get("training", {}).get("jit_compile", "auto"), first["model"], "CPU")
    assert {(t["sampler"], t["normalizer"], t["seed"]) for t in plan["trials"]} == {
        (s, n, seed) for s in raw["samplers"] for n in raw["normalizers"] for seed in raw["seeds"]}
    text = _cli("run", scenario, "--dry-run", "--out", str(out))
    assert text.returncode == 0 and first["id"] in text.stdout and not out.exists()


def test_device_gpu_is_refused_where_none_is_seen_but_planned_by_dry_run(tmp_path):
    from harness.run.executors import visible_gpus

    if visible_gpus():
        pytest.skip("this machine shows a GPU")
    out = tmp_path / "never"
    scenario = os.path.join(ROOT, "scenarios", "noniid_small.yaml")
    done = _cli("run", scenario, "--device", "gpu", "--out", str(out))  # a real run: refused before anything
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--device" in done.stderr
    assert not out.exists()
    # a plan is what a GPU machine would run: it says no GPU is seen here, and writes nothing
    planned = _cli("run", scenario, "--dry-run", "--json", "--device", "gpu", "--out", str(out))
    assert planned.returncode == 0 and "no GPU is seen here" in planned.stderr, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["device"] == "gpu" and {t["device"] for t in plan["trials"]} == {"gpu"}
    assert not out.exists()
