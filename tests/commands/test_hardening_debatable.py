"""Hardening, round two (issue 22), item 8: the debatable cases, each decided (see each test's docstring)."""

import copy
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import ROOT, TINY_SCENARIO, harness_env
from tests.support.hardening import assert_refused


def _write(tmp_path, raw, name="scenario.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_a_fifo_or_folder_as_scenario_is_refused_not_read(tmp_path):
    """Decided: only a regular file is a scenario (a FIFO blocked validate and run forever)."""
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    assert_refused(["validate", fifo], tmp_path, "is not a regular file", subprocess_=True)
    assert_refused(["run", fifo, "--out", tmp_path / "out"], tmp_path, "is not a regular file", subprocess_=True)
    assert_refused(["validate", tmp_path], tmp_path, "is not a regular file")


@pytest.mark.parametrize("section, names", [("normalizers", ("bn", "BN")), ("samplers", ("iid", "IID"))])
def test_names_differing_only_by_case_are_refused(tmp_path, section, names):
    """Decided: refused (names become trial file names, one file on a case-insensitive file system)."""
    raw = copy.deepcopy(TINY_SCENARIO)
    first = next(iter(raw[section].values()))
    raw[section] = {names[0]: first, names[1]: copy.deepcopy(first)}
    assert_refused(["validate", _write(tmp_path, raw)], tmp_path, f"{section}.{names[1]}", "only by case")


def test_seed_ids_of_another_type_are_damaged_trial_files_and_string_seeds_are_refused(tmp_path):
    """Decided: a seed is an int everywhere: '007' in a scenario is refused, in a trial file it is damage
    (so '007' and 7 can never be two rows of one seed, n = 0 in comparisons.csv)."""
    from harness.results.rundir import trial_problem

    raw = copy.deepcopy(TINY_SCENARIO)
    raw["seeds"] = ["007", 7]
    assert_refused(["validate", _write(tmp_path, raw)], tmp_path, "seeds[0]", "'007'")
    trial = {"id": "iid__bn__s7", "hash": "h", "status": "ok", "final": {"acc_inference": 0.5},
             "config": {"sampler": "iid", "normalizer": "bn", "seed": 7}}
    assert trial_problem(trial) is None
    trial["config"]["seed"] = "007"
    assert "config.seed" in trial_problem(trial)


def test_sweeping_a_normalizer_kind_starts_from_the_new_kinds_defaults(tmp_path):
    """Decided: a point that changes `normalizers.<n>.kind` (or a sampler's) drops the old kind's parameters
    (defaults the user never wrote were refused: momentum for groupnorm); parameters swept too still apply."""
    from harness.scenario import expand, load

    raw = copy.deepcopy(TINY_SCENARIO)
    raw["sweep"] = {"normalizers.bn.kind": ["batchnorm", "groupnorm"]}
    scenario = load(str(_write(tmp_path, raw)))
    kinds = {point["normalizers.bn.kind"]: s.normalizers["bn"] for point, s in expand(scenario)}
    assert kinds["groupnorm"]["kind"] == "groupnorm" and "momentum" not in kinds["groupnorm"]
    assert kinds["batchnorm"]["momentum"] == scenario.normalizers["bn"]["momentum"]  # unchanged kind: kept


def test_verify_json_stdout_parses_when_the_plugin_prints(tmp_path):
    """Decided: in `verify` the user's code prints to stderr; stdout holds the verdict alone."""
    import json

    (tmp_path / "chatty.py").write_text(
        "import keras\n"
        "print('hello from the import')\n"
        "def factory():\n"
        "    print('hello from the factory')\n"
        "    return keras.layers.BatchNormalization()\n")
    env = {**harness_env(), "PYTHONPATH": os.pathsep.join([ROOT, str(tmp_path)])}
    result = subprocess.run([sys.executable, "-m", "harness", "verify", "chatty:factory", "--json",
                             "--check", "inference_batch_independent"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    verdict = json.loads(result.stdout)
    assert [row["check"] for row in verdict["rows"]] == ["inference_batch_independent"]
    assert "hello from the factory" in result.stderr


def test_a_bad_scenario_with_stderr_full_still_exits_2(tmp_path):
    """Decided: the exit code says what happened even when the message cannot be written."""
    path = tmp_path / "bad.yaml"
    path.write_text("name: [")
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "harness", "validate", str(path)], cwd=ROOT,
                                env=harness_env(), stdout=subprocess.PIPE, stderr=full, timeout=120)
    assert result.returncode == 2


def test_a_deleted_working_directory_is_named(tmp_path):
    """Decided: every command refuses in one line saying the working directory is gone (it used to be a bare
    "No such file or directory")."""
    gone = tmp_path / "gone"
    gone.mkdir()
    process = subprocess.Popen([sys.executable, "-c", "import os, sys, subprocess; os.rmdir(os.getcwd()); "
                                "sys.exit(subprocess.call([sys.executable, '-m', 'harness', 'validate', "
                                "'scenario.yaml']))"], cwd=gone, env=harness_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    assert stderr.strip().splitlines() == ["error: the working directory no longer exists (it was deleted or "
                                           "moved): cd into an existing folder and run again"]
