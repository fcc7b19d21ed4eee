"""The run directory's owner: trial results round-trip through JSON, resume keeps only finished trials of the same
config, one writer at a time."""

import json

import numpy as np
import pytest

from harness.errors import UsageError
from harness.results import rundir
from harness.results.rundir import RunDir, TrialResult


def _config(trial_id="iid__bn__s0", hash_="abc"):
    return {"id": trial_id, "hash": hash_, "sampler": "iid", "normalizer": "bn", "seed": 0}


def test_trial_result_round_trips_through_json_and_keeps_unknown_keys():
    result = TrialResult(id="t", hash="h", config=_config(), status="ok", diverged_step=None,
                         curves=[{"step": 10, "metric": "acc_inference", "value": 0.5}], final={"acc_inference": 0.5},
                         layers=[{"layer": 1, "mismatch_local": 0.1}], seconds=1.5, timing={"train": 1.0},
                         environment={"device": "cpu"}, extra={"correct_by_a_newer_harness": "f00d"})
    text = result.to_json()
    # a key of a newer harness is written back at the top
    assert json.loads(text)["correct_by_a_newer_harness"] == "f00d"
    assert TrialResult.from_json(text) == result
    failed = TrialResult.failed(_config(), "ValueError: boom")
    assert failed.to_dict()["status"] == "failed" and "environment" not in failed.to_dict() and not failed.finished
    with pytest.raises(ValueError, match="Received: status='done'"):
        TrialResult(id="t", hash="h", config={}, status="done")


def test_failed_metrics_round_trip_and_a_trial_file_without_them_still_loads(tmp_path):
    failed = {"acc_inference": "non-finite logits (NaN at the end)", "logit_kl": "non-finite logits (inf at the end)"}
    result = TrialResult(id="t", hash="h", config=_config(), status="ok", final={"acc_batch_iid": 0.5},
                         failed_metrics=failed)
    assert TrialResult.from_json(result.to_json()).failed_metrics == failed
    assert json.loads(result.to_json())["failed_metrics"] == failed
    assert rundir.failed_metrics_cell(failed) == ("acc_inference: non-finite logits (NaN at the end); "
                                                  "logit_kl: non-finite logits (inf at the end)")
    assert rundir.failed_metrics_cell({}) is None and rundir.failed_metrics_cell(None) is None
    # a trial file written before the field existed: no failed metric, resumed as finished
    old = {k: v for k, v in result.to_dict().items() if k != "failed_metrics"}
    assert rundir.trial_problem(old) is None
    assert TrialResult.from_dict(old).failed_metrics == {} and "failed_metrics" not in TrialResult.from_dict(old).extra
    run = RunDir(tmp_path)
    run.prepare()
    (tmp_path / "trials" / "t.json").write_text(json.dumps(old))
    assert run.load_finished({**_config("t", "h")})["failed_metrics"] == {}


def test_load_finished_returns_only_finished_trials_of_the_same_config(tmp_path):
    run = RunDir(tmp_path)
    run.prepare()
    config = _config()
    assert run.load_finished(config) is None
    for status, expected in (("ok", True), ("diverged", True), ("failed", False)):
        final = {"acc_inference": 0.5} if status == "ok" else {}  # a finished trial has its numbers (issue 22)
        diverged_step = 7 if status == "diverged" else None
        run.save_trial(config, TrialResult(id="x", hash="abc", config={}, status=status, final=final,
                                           diverged_step=diverged_step).to_dict())
        loaded = run.load_finished(config)
        assert (loaded is not None) == expected, status
        if expected:
            assert loaded["id"] == config["id"] and loaded["config"] == config  # filed under this config
    assert run.load_finished(_config(hash_="other")) is None  # another config under the same id: run again
    with open(run.trial_path(config), "w") as handle:
        handle.write('{"id": "x", "status"')  # cut off by a kill
    assert run.load_finished(config) is None
    with open(run.trial_path(config), "w") as handle:
        json.dump({"what": "not a trial"}, handle)
    assert run.load_finished(config) is None


def test_prepare_drops_half_written_files_and_fresh_drops_every_trial(tmp_path):
    run = RunDir(tmp_path)
    run.prepare()
    run.save_trial(_config(), TrialResult(id="x", hash="abc", config={}, status="ok").to_dict())
    (tmp_path / rundir.TRIALS / ".tmp-half.json").write_text("{")
    run.prepare()
    assert sorted(p.name for p in (tmp_path / rundir.TRIALS).iterdir()) == ["iid__bn__s0.json"]
    run.prepare(fresh=True)
    assert list((tmp_path / rundir.TRIALS).iterdir()) == []


def test_one_writer_at_a_time_and_one_scenario_per_folder(tmp_path):
    run = RunDir(tmp_path)
    with run.lock():
        with pytest.raises(UsageError, match="is in use by another run"):
            RunDir(tmp_path).lock()
    with RunDir(tmp_path).lock():  # released
        pass
    run.write_text(rundir.SCENARIO, "name: first\n")
    run.refuse_another_scenario("first", fresh=False)
    run.refuse_another_scenario("second", fresh=True)
    with pytest.raises(UsageError, match="holds a run of scenario 'first', not 'second'"):
        run.refuse_another_scenario("second", fresh=False)


def test_tables_have_the_columns_of_the_on_disk_format():
    # what old run directories hold: readers of any version find these columns
    assert rundir.TABLES["summary"] == ["sampler", "normalizer", "seed", "metric", "value"]
    assert rundir.TABLES["trials"] == ["sampler", "normalizer", "seed", "status", "diverged_step", "error",
                                       "failed_metrics", "seconds", "init_fingerprint"]
    assert rundir.REQUIRED_COLUMNS["trials"] == ["sampler", "normalizer", "seed", "status"]  # older runs lack the rest
    assert rundir.TABLES["layers"][-3:] == ["layer", "metric", "value"]
    assert rundir.table_file("curves") == "curves.csv"


def test_pack_correct_roundtrip():
    bits = np.random.default_rng(0).random(541) < 0.5
    assert np.array_equal(rundir.unpack_correct(rundir.pack_correct(bits), 541), bits)
