"""Hardening, bad input caught before anything runs: each case is exit 2, one line naming the field or file and
the problem, no traceback, nothing created (issue 14). Fast: none of these imports TensorFlow."""

import copy
import os
import time

import numpy as np
import pytest
import yaml

from tests.conftest import TINY_SCENARIO
from tests.support.hardening import assert_refused, run_cli, run_subprocess


def write(folder, raw, name="scenario.yaml"):
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False))
    return path


def tiny(**changes):
    raw = copy.deepcopy(TINY_SCENARIO)
    for path, value in changes.items():
        node = raw
        keys = path.split("__")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return raw


# ------------------------------------------------------------------ (a) lost or corrupted data, user files

def test_out_dot_never_overwrites_the_users_own_files(tmp_path):
    scenario = write(tmp_path, "# my notes, kept\n" + yaml.safe_dump(TINY_SCENARIO))
    (tmp_path / "index.html").write_text("<p>mine</p>")
    line = assert_refused(["run", "scenario.yaml", "--out", "."], tmp_path, "--out", "holds files no run wrote",
                          subprocess_=True, cwd=tmp_path)
    assert "scenario.yaml" in line
    assert open(scenario).read().startswith("# my notes, kept")


def test_repeated_sweep_values_are_refused(tmp_path):
    path = write(tmp_path, tiny(sweep={"training.learning_rate": [0.001, 0.001]}))
    assert_refused(["validate", path], tmp_path, "sweep.training.learning_rate", "repeated")
    path = write(tmp_path, tiny(sweep={"training.learning_rate": [0.01, 0.01, 0.02]}))  # 1 and 1.0 are one value too
    assert_refused(["validate", path], tmp_path, "repeated")


def test_duplicate_yaml_keys_are_refused_naming_the_key(tmp_path):
    text = yaml.safe_dump(TINY_SCENARIO, sort_keys=False)
    path = write(tmp_path, text + "training:\n  steps: 5\n")
    assert_refused(["validate", path], tmp_path, "duplicate key 'training'", "line")
    nested = text.replace("  bn:\n    kind: batchnorm\n", "  bn:\n    kind: batchnorm\n  bn:\n    kind: groupnorm\n")
    assert nested != text
    assert_refused(["validate", write(tmp_path, nested)], tmp_path, "duplicate key 'bn'")
    # a YAML merge key that then overrides a field is not a duplicate
    merged = text.replace("training:\n", "training:\n  <<: {steps: 7}\n", 1)
    code, _, err = run_cli(["validate", write(tmp_path, merged)])
    assert code == 0, err


# ------------------------------------------------------------------ (b) runaway resources

def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    # 9 levels of 9 aliases (81 aliases, under the alias limit) expand to 9^9 = 387 million values
    levels = "".join(f"  - &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    bomb = "description:\n  - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + levels
    text = yaml.safe_dump({k: v for k, v in TINY_SCENARIO.items() if k != "description"}) + bomb
    assert len(bomb) < 800
    started = time.perf_counter()
    assert_refused(["validate", write(tmp_path, text)], tmp_path, "expands to more than")
    many = yaml.safe_dump(TINY_SCENARIO) + "x: &x 1\nsweep: {" + ", ".join(f"k{i}: *x" for i in range(101)) + "}\n"
    assert_refused(["validate", write(tmp_path, many)], tmp_path, "more than 100 aliases")
    assert time.perf_counter() - started < 5


def test_huge_scenario_file_is_refused(tmp_path):
    path = write(tmp_path, yaml.safe_dump(TINY_SCENARIO) + "#" * 1_100_000 + "\n")
    assert_refused(["validate", path], tmp_path, "larger than")


def test_sweep_size_is_checked_before_expanding(tmp_path):
    values = list(range(1, 101))
    sweep = {"training.batch_size": values, "training.steps": values, "training.steps_per_call": values,
             "analysis.eval_every": values, "no.such.path": values}  # 10^10 points and a bad path
    started = time.perf_counter()
    assert_refused(["validate", write(tmp_path, tiny(sweep=sweep))], tmp_path, "sweep", "limit of 10,000")
    assert time.perf_counter() - started < 5


def test_bench_samplers_refuses_nan_seconds_and_too_few_labels(tmp_path):
    assert_refused(["bench", "samplers", "--seconds", "nan"], tmp_path, "--seconds")
    assert_refused(["bench", "samplers", "--seconds", "inf"], tmp_path, "--seconds")
    assert_refused(["bench", "samplers", "--labels", "32", "--seconds", "0.001"], tmp_path, "--labels: 32")


# ------------------------------------------------------------------ (c) npz data that validates but cannot train

def npz(folder, name="data.npz", **override):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.random((40, 4, 4)).astype(np.float32), "y_train": np.arange(40) % 4,
              "x_test": rng.random((40, 4, 4)).astype(np.float32), "y_test": np.arange(40) % 4}
    arrays.update(override)
    path = os.path.join(folder, name)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("override, needle", [
    ({"x_test": np.zeros((40, 5, 5), np.float32)}, "x_test examples have shape"),
    ({"x_test": np.zeros((40, 4, 4, 1), np.float32)}, "x_test examples have shape"),
    ({"x_train": np.full((40, 4, 4), np.nan, np.float32)}, "NaN or infinite"),
    ({"x_test": np.full((40, 4, 4), np.inf, np.float32)}, "NaN or infinite"),
    ({"y_train": np.zeros(40, np.int64)}, "single class"),
    ({"x_test": np.zeros((0, 4, 4), np.float32), "y_test": np.zeros(0, np.int64)}, "at least one example"),
    ({"x_train": np.zeros((40, 4, 4, 0), np.float32), "x_test": np.zeros((40, 4, 4, 0), np.float32)}, "C >= 1"),
])
def test_npz_arrays_that_cannot_train_are_refused(tmp_path, override, needle):
    data = npz(tmp_path, **override)
    path = write(tmp_path, tiny(data={"name": "npz", "path": data}))
    assert_refused(["validate", path], tmp_path, "data.path", needle)


def test_relative_npz_path_is_relative_to_the_scenario_file(tmp_path):
    folder = tmp_path / "experiment"
    folder.mkdir()
    npz(folder)
    path = write(folder, tiny(data={"name": "npz", "path": "data.npz"}))
    code, out, err = run_cli(["validate", path], cwd=tmp_path)  # not the scenario's folder
    assert code == 0, err
    from harness.scenario import load

    scenario = load(path)
    assert scenario.data["path"] == str(folder / "data.npz")  # recorded absolute in the resolved scenario


def test_relative_local_dataset_folder_is_relative_to_the_scenario_file(tmp_path):
    """cifar10 (as every source that takes a `data.path`) resolves a relative folder as npz does."""
    from harness.data.local import write_cifar
    from harness.scenario import load

    folder = tmp_path / "experiment"
    folder.mkdir()
    write_cifar(str(folder / "cifar"), "cifar10", 80)  # the official archive's python-pickle layout
    path = write(folder, tiny(data={"name": "cifar10", "path": "./cifar"}))
    code, out, err = run_subprocess(["validate", path], cwd=tmp_path)  # not the scenario's folder
    assert code == 0, err
    written = yaml.safe_load(load(path).to_yaml())  # what a run writes as its scenario.yaml
    assert written["data"]["path"] == str(folder / "cifar")
    # a missing relative folder is named as resolved against the scenario's folder, not the working directory
    missing = write(folder, tiny(data={"name": "cifar10", "path": "./nowhere"}), name="missing.yaml")
    line = assert_refused(["validate", missing], tmp_path, "data.path", subprocess_=True, cwd=tmp_path)
    assert f"{folder / 'nowhere'}/cifar-10-batches-py/" in line, line


# ------------------------------------------------------------------ (d) one line owed

def test_out_that_cannot_be_a_folder_is_one_line(tmp_path):
    path = write(tmp_path, TINY_SCENARIO)
    (tmp_path / "file").write_text("x")
    assert_refused(["run", path, "--out", tmp_path / "file" / "sub"], tmp_path, "--out", "cannot be written")
    assert_refused(["run", path, "--out", tmp_path / "file"], tmp_path, "--out", "not a directory")
    # not writable (as root, chmod does not stop writes; /proc does)
    assert_refused(["run", path, "--out", "/proc/harness-test-out"], tmp_path, "--out", "cannot be written")


@pytest.mark.parametrize("where", ["name", "normalizer", "sampler"])
def test_names_too_long_for_the_file_system_are_refused(tmp_path, where):
    long = "n" * 300
    raw = tiny()
    if where == "name":
        raw["name"] = long
    elif where == "normalizer":
        raw["normalizers"][long] = raw["normalizers"].pop("bn")
    else:
        raw["samplers"][long] = raw["samplers"].pop("iid")
    assert_refused(["validate", write(tmp_path, raw)], tmp_path, "300 characters")


@pytest.mark.parametrize("where", ["name", "normalizer", "sampler"])
def test_newline_in_a_name_is_refused(tmp_path, where):
    raw = tiny()
    if where == "name":
        raw["name"] = "tiny\n"
    elif where == "normalizer":
        raw["normalizers"]["bn\n"] = raw["normalizers"].pop("bn")
    else:
        raw["samplers"]["iid\n"] = raw["samplers"].pop("iid")
    assert_refused(["validate", write(tmp_path, raw)], tmp_path)


@pytest.mark.parametrize("key", [3, None, True])
def test_sweep_keys_that_are_not_strings_are_refused(tmp_path, key):
    text = yaml.safe_dump(tiny(sweep={"PLACEHOLDER": [1, 2]}), sort_keys=False)
    text = text.replace("PLACEHOLDER", yaml.safe_dump(key).split("\n")[0])
    assert_refused(["validate", write(tmp_path, text)], tmp_path, "sweep", "not a field path")


def test_nul_in_a_string_is_refused(tmp_path):
    assert_refused(["validate", write(tmp_path, tiny(sweep={"description": ["a\0b", "c"]}))], tmp_path, "NUL")
    assert_refused(["validate", write(tmp_path, tiny(data={"name": "npz", "path": "a\0b"}))], tmp_path, "NUL")


def test_plugin_whose_constructor_raises_is_one_line(tmp_path):
    raw = tiny(samplers={"bad": {"kind": "tests.support.hardening_plugins:RaisingInitSampler"}})
    assert_refused(["validate", write(tmp_path, raw)], tmp_path, "samplers.bad", "KeyError", "plugin bug")


def test_plugin_parameter_without_default_must_be_given(tmp_path):
    raw = tiny(samplers={"needy": {"kind": "tests.support.hardening_plugins:RequiredParamSampler"}})
    path = write(tmp_path, raw)
    assert_refused(["validate", path], tmp_path, "samplers.needy.strength", "required")
    # and `run` leaves nothing behind (no .lock, no trials/)
    assert_refused(["run", path, "--out", tmp_path / "out"], tmp_path, "samplers.needy.strength")


def test_batch_larger_than_the_data_blames_the_batch_size(tmp_path):
    raw = tiny(training__batch_size=100)  # 48 test examples, no eval_examples given
    line = assert_refused(["validate", write(tmp_path, raw)], tmp_path, "training.batch_size: 100", "test examples")
    assert "eval_examples" not in line  # the scenario never set it


def test_yaml_tags_that_would_run_code_are_refused(tmp_path):
    text = yaml.safe_dump(TINY_SCENARIO) + "description: !!python/object/apply:os.system ['touch pwned']\n"
    text = text.replace("description: A tiny scenario for tests.\n", "")
    assert_refused(["validate", write(tmp_path, text)], tmp_path, "not valid YAML")
    assert not (tmp_path / "pwned").exists()


def test_smoke_trains_the_smoke_budget_when_the_sweep_sets_steps(tmp_path):
    from harness.run.runner import plan
    from harness.scenario import validate

    scenario = validate(tiny(training__steps=200, sweep={"training.steps": [100, 200, 400]})).smoke()
    steps = {config["training"]["steps"] for config in plan(scenario)}
    assert steps == {60}
    zipped = validate(tiny(sweep={"zip": {"training.steps": [100, 200], "training.learning_rate": [0.1, 0.2]}}))
    assert {(c["training"]["steps"], c["training"]["learning_rate"]) for c in plan(zipped.smoke())} == {
        (60, 0.1), (60, 0.2)}


# ------------------------------------------------------------------ trial ids

def test_trial_ids_are_unique_file_names():
    from harness.train.trial import trial_id

    def ident(point):
        return trial_id({"sampler": "iid", "normalizer": "bn", "seed": 0, "point": point})

    assert ident({"data.path": "a/b.npz"}) != ident({"data.path": "a-b.npz"})
    assert ident({"x.p": "1__q=2", "y.q": 3}) != ident({"x.p": 1, "y.q": "2__q=3"})
    assert ident({"x.p": 1}) != ident({"x.p": "1"})
    long, nul = ident({"x.p": "v" * 400}), ident({"x.p": "a\0b"})
    assert len(long) <= 150 and "\0" not in nul and "/" not in ident({"data.path": "/abs/path.npz"})
    assert ident({"training.batch_size": 8}) == "iid__bn__s0__batch_size=8"  # plain ids unchanged (resume)


# ------------------------------------------------------------------ (e) frictions

def test_samplers_piped_into_head_ends_quietly(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT, harness_env

    result = subprocess.run(f"{sys.executable} -m harness samplers | head -1", shell=True, cwd=ROOT,
                            env=harness_env(), capture_output=True, text=True, timeout=60)
    assert result.stdout.count("\n") == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


def test_docs_document_the_run_options_console_script_npz_format_and_limits():
    """The documentation's hand-written pages say these things; the options themselves are documented from the
    parser (docs/gen_ref.py, checked option by option in tests/test_docs.py), so here they are read from it."""
    import glob

    from harness.commands.cli import build_parser
    from tests.conftest import ROOT

    docs = "".join(open(path, encoding="utf-8").read()
                   for path in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True))
    for text in ("console script `harness`", "x_train", "relative to the scenario file's folder", "`coverage`",
                 "`repeat_rate`", "10,000 sweep points", "import (that is, execute) every Python module",
                 "SIGTERM (143)"):
        assert text in docs, text
    run = next(a for a in build_parser("run")._actions if a.dest == "command").choices["run"]
    options = {s for action in run._actions for s in action.option_strings}
    assert {"--skip-infeasible", "--max-retries", "--no-report"} <= options


def test_validate_subprocess_sanity(tmp_path):
    """One real subprocess: exit 2, one line, nothing created."""
    assert_refused(["validate", write(tmp_path, tiny(sweep={3: [1]}))], tmp_path, "sweep", subprocess_=True)
    code, out, err = run_subprocess(["validate", write(tmp_path, TINY_SCENARIO)])
    assert code == 0 and "ok" in out, err
