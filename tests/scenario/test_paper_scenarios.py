"""The paper scenarios (scenarios/paper/) on small generated datasets in the real CIFAR file layout, passed by
`data.path`: every one validates, the CIFAR-10 recipe scenario (ResNet-20, SGD + Nesterov, weight decay, cosine
with warm-up, crop + flip, BN vs BRN) runs at --smoke offline and gives identical numbers twice, and every other
one trains at --smoke too: one trial each by default (its most telling normalizer, sampler and sweep point), all
of its smoke trials with HARNESS_PAPER_SMOKE=1 (minutes on 2 cores)."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from harness.data.local import write_cifar
from tests.conftest import ROOT, harness_env

FOLDER = os.path.join(ROOT, "scenarios", "paper")
PAPER = sorted(f for f in os.listdir(FOLDER) if f.endswith(".yaml"))
FULL = os.environ.get("HARNESS_PAPER_SMOKE") == "1"


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory):
    """CIFAR-10 (5 x 50 training images, 50 test) and CIFAR-100 (400 and 400, 4 per class) as the archives unpack."""
    folder = str(tmp_path_factory.mktemp("datasets"))
    write_cifar(folder, "cifar10", 50, seed=0)
    write_cifar(folder, "cifar100", 400, seed=1)
    return folder


def _paper(name, folder, normalizer=None, sampler=None, point=None):
    """The shipped scenario with data.path replaced, optionally cut to one normalizer, sampler and sweep point."""
    from harness.scenario import validate

    with open(os.path.join(FOLDER, name)) as handle:
        raw = yaml.safe_load(handle)
    raw["data"]["path"] = folder
    if normalizer:
        raw["normalizers"] = {normalizer: raw["normalizers"][normalizer]}
    if sampler:
        raw["samplers"] = {sampler: raw["samplers"][sampler]}
    if point is not None and raw.get("sweep"):
        raw["sweep"] = {"zip": {path: [values[point]] for path, values in raw["sweep"]["zip"].items()}}
    return validate(raw).smoke()


def _numbers(out):
    tables = {}
    for name in ("summary", "curves", "layers"):
        frame = pd.read_csv(os.path.join(out, f"{name}.csv"))
        if "metric" in frame:
            frame = frame[~frame["metric"].isin(["seconds", "ms_per_step"])].reset_index(drop=True)
        tables[name] = frame
    return tables


def test_every_paper_scenario_validates(data_folder):
    assert len(PAPER) == 4
    for name in PAPER:
        scenario = _paper(name, data_folder)
        assert scenario.model["name"] == "resnet20" and scenario.training["optimizer"] == "sgd"
        assert scenario.data["augment"] == {"crop_padding": 4, "flip": True}


def test_cifar10_recipe_runs_offline_and_reruns_identically(data_folder, tmp_path):
    from harness.run.runner import run

    scenario = _paper("cifar10_resnet20_bn_brn.yaml", data_folder, sampler=None if FULL else "iid")
    training = scenario.training
    assert training["nesterov"] and training["weight_decay"] > 0 and training["lr_schedule"]["kind"] == "cosine"
    assert training["lr_schedule"]["warmup_steps"] > 0 and set(scenario.normalizers) == {"bn", "brn"}
    results = run(scenario, str(tmp_path / "a"), quiet=True)
    assert [r["status"] for r in results] == ["ok"] * len(results) and len(results) == (4 if FULL else 2)
    again = run(scenario, str(tmp_path / "b"), quiet=True)
    assert len(again) == len(results)
    first, second = _numbers(tmp_path / "a"), _numbers(tmp_path / "b")
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])
    # BN and BRN were trained (not copied): their training losses differ
    summary = first["summary"]
    losses = summary[summary["metric"] == "train_loss"].set_index(["sampler", "normalizer"])["value"]
    assert losses[("iid", "bn")] != losses[("iid", "brn")]


CUTS = {  # (normalizer, sampler, sweep point): the trial that shows what the scenario is about
    "cifar100_microbatch.yaml": ("brn_micro2", None, None),
    "cifar100_noniid_16x2.yaml": ("bn", "noniid_16x2", None),
    "cifar10_batch_size.yaml": ("groupnorm", None, 4),
}


@pytest.mark.parametrize("name", sorted(CUTS))
def test_paper_scenario_runs_at_smoke(name, data_folder, tmp_path):
    from harness.run.runner import run

    scenario = _paper(name, data_folder) if FULL else _paper(name, data_folder, *CUTS[name])
    results = run(scenario, str(tmp_path / "out"), quiet=True)
    assert results and all(r["status"] == "ok" for r in results), [r.get("error") for r in results]
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert {"acc_inference", "acc_batch_sampler", "acc_precise_iid", "acc_precise_own"} <= set(summary["metric"])


def test_paper_scenarios_plan_xla_training_on_a_gpu(data_folder, tmp_path):
    # `run --dry-run --device gpu` works without a GPU: each trial of every paper scenario, on the GPU, trains
    # and analyses under XLA, as its model kind's family says (harness.train.xla); on the CPU neither. The
    # command is run for one scenario (it writes nothing); the plans of all four come from the same planner.
    from harness.models import kinds
    from harness.run.runner import plan
    from harness.train import xla

    for name in PAPER:
        scenario = _paper(name, data_folder)
        family = kinds.get(scenario.model["name"]).family
        for device, on in (("gpu", True), ("cpu", False)):
            trials = plan(scenario, device=device)
            assert trials and {t["device"] for t in trials} == {device}
            assert family == "resnet" and all(t["xla"] == xla.resolve("auto", family, device.upper())
                                              == {"training": on, "analysis": on} for t in trials)
    with open(os.path.join(FOLDER, "cifar10_resnet20_bn_brn.yaml")) as handle:
        raw = yaml.safe_load(handle)
    raw["data"]["path"] = data_folder
    path = tmp_path / "cifar10.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    for device, on in (("gpu", True), ("cpu", False)):
        done = subprocess.run([sys.executable, "-m", "harness", "run", str(path), "--dry-run", "--json",
                               "--device", device], capture_output=True, text=True, cwd=tmp_path, env=harness_env())
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        assert found["device"] == device and len(found["trials"]) == (
            len(raw["samplers"]) * len(raw["normalizers"]) * len(raw["seeds"]))
        if device == "gpu":  # `auto` on a GPU machine: one process owns the GPU
            assert (found["executor"], found["workers"]) == ("local", 1)
        for trial in found["trials"]:
            assert trial["family"] == "resnet" and trial["model"] == raw["model"]["name"]
            assert trial["xla"] == {"training": on, "analysis": on}
    assert os.listdir(tmp_path) == ["cifar10.yaml"]  # wrote nothing
