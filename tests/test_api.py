"""The Python API: run_scenario, load_run, Run, validate, ScenarioError (harness/api.py)."""

import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

import harness
from tests.conftest import ROOT, harness_env

TABLES = ("trials", "summary", "comparisons", "curves")


def test_public_names_have_docstrings():
    assert set(harness.__all__) >= {"run_scenario", "load_run", "Run", "validate", "ScenarioError"}
    for name in harness.__all__:
        obj = getattr(harness, name)
        assert isinstance(obj, str) or (obj.__doc__ and obj.__doc__.strip()), name
    with pytest.raises(AttributeError):
        harness.no_such_name  # noqa: B018


def test_import_is_light():
    """`import harness` and touching its API names imports neither TensorFlow nor pandas nor matplotlib."""
    code = ("import sys, harness; harness.run_scenario, harness.load_run, harness.Run, harness.validate; "
            "print(sorted(m for m in ('tensorflow', 'pandas', 'matplotlib', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=harness_env(), check=True)
    assert out.stdout.strip() == "[]"


def test_round_trip_same_tables_as_the_csv_files(api_run):
    run, _ = api_run
    loaded = harness.load_run(run.path)
    assert loaded.path == run.path
    for name in TABLES:
        on_disk = pd.read_csv(run.path / f"{name}.csv")
        pd.testing.assert_frame_equal(getattr(loaded, name), on_disk)
        pd.testing.assert_frame_equal(getattr(run, name), on_disk)
    # what the run did: 2 samplers x 2 normalizers x 2 seeds, every trial finished
    assert len(loaded.trials) == 8 and set(loaded.trials["status"]) == {"ok"}
    with open(run.path / "scenario.yaml", encoding="utf-8") as handle:
        assert loaded.scenario == yaml.safe_load(handle)
    assert loaded.scenario["name"] == "tiny" and set(loaded.scenario["normalizers"]) == {"bn", "brn"}


def test_report_writes_index_html(api_run, tmp_path):
    run, _ = api_run
    out = run.report(tmp_path / "elsewhere.html")
    assert out == tmp_path / "elsewhere.html" and out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert harness.load_run(run.path).report() == run.path / "index.html"


def test_load_run_refuses_a_folder_that_is_no_run(tmp_path):
    with pytest.raises(ValueError, match="not a run directory"):
        harness.load_run(tmp_path)


def test_validate_returns_the_resolved_scenario(tiny_scenario):
    resolved = harness.validate(tiny_scenario)
    assert resolved["name"] == "tiny" and resolved["training"]["steps"] == 20
    assert "reference" in resolved["analysis"]  # defaults filled in


def test_scenario_error_is_the_cli_line_and_nothing_is_written(tiny_scenario, write_scenario, tmp_path):
    tiny_scenario["training"]["batch_size"] = -3
    path = write_scenario(tiny_scenario)
    cli = subprocess.run([sys.executable, "-m", "harness", "run", path, "--out", str(tmp_path / "cli")],
                         capture_output=True, text=True, env=harness_env(), cwd=ROOT)
    assert cli.returncode == 2
    with pytest.raises(harness.ScenarioError) as caught:
        harness.validate(path)
    assert isinstance(caught.value, ValueError)
    assert cli.stderr.strip() == f"error: {caught.value}"
    assert "training.batch_size" in str(caught.value) and "\n" not in str(caught.value)
    out = tmp_path / "api"
    with pytest.raises(harness.ScenarioError):
        harness.run_scenario(path, out=out)
    with pytest.raises(harness.ScenarioError, match="training.batch_size"):
        harness.run_scenario(tiny_scenario, out=out)  # a dict: the same message without the file name
    assert not out.exists() and not (tmp_path / "cli").exists()
    assert sorted(os.listdir(tmp_path)) == ["scenario.yaml"]


def test_bad_options_and_foreign_folders_are_value_errors(tiny_scenario, tmp_path):
    with pytest.raises(ValueError, match="--workers: 0 must be >= 1"):
        harness.run_scenario(tiny_scenario, out=tmp_path / "a", executor="process", workers=0)
    with pytest.raises(ValueError, match="'threads' is not one of"):
        harness.run_scenario(tiny_scenario, out=tmp_path / "b", executor="threads")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes", encoding="utf-8")
    with pytest.raises(ValueError, match="holds files no run wrote"):
        harness.run_scenario(tiny_scenario, out=mine)
    assert sorted(os.listdir(tmp_path)) == ["mine"] and os.listdir(mine) == ["notes.txt"]
