"""Scenario validation: one-line errors naming field, value and reason; exit 2; nothing written; no TensorFlow."""

import os
import subprocess
import sys

import pytest

from harness.models import kinds as model_kinds
from harness.scenario import ScenarioError, load_yaml, validate
from tests.conftest import harness_env


def _error(raw):
    with pytest.raises(ScenarioError) as info:
        validate(raw)
    return str(info.value)


def test_valid_scenario_resolves_defaults(tiny_scenario):
    scenario = validate(tiny_scenario)
    assert scenario.training["optimizer"] == "adam"  # default filled in
    assert scenario.normalizers["brn"]["r_max"] == 3.0
    assert scenario.samplers["one_class"]["classes_per_batch"] == 1
    assert scenario.analysis["reference"] == "bn" and scenario.analysis["iid_control"] == "iid"
    # the resolved scenario validates to itself (it is what a run directory stores)
    assert validate(scenario.to_dict()) == scenario


@pytest.mark.parametrize("normalizers, samplers, given, reference, iid_control", [
    ({"bn": "batchnorm", "brn": "batchrenorm"}, {"iid": "iid", "one": "class_correlated"}, {}, "bn", "iid"),
    ({"brn": "batchrenorm", "plain": "batchnorm"}, {"one": "class_correlated", "shuffled": "iid"}, {}, "plain",
     "shuffled"),
    ({"gn": "groupnorm", "ln": "layernorm"}, {"one": "class_correlated"}, {}, None, None),
    ({"gn": "groupnorm", "ln": "layernorm"}, {"iid": "iid"}, {"reference": "ln", "iid_control": None}, "ln", None),
    ({"bn": "batchnorm", "brn": "batchrenorm"}, {"iid": "iid"}, {"reference": None}, None, "iid"),
])
def test_reference_and_iid_control_are_decided_at_validation(tiny_scenario, normalizers, samplers, given,
                                                             reference, iid_control):
    tiny_scenario["normalizers"] = {n: {"kind": k, **({"groups": 4} if k == "groupnorm" else {})}
                                    for n, k in normalizers.items()}
    tiny_scenario["samplers"] = {n: {"kind": k, **({"classes_per_batch": 1} if k == "class_correlated" else {})}
                                 for n, k in samplers.items()}
    tiny_scenario["analysis"].update(given)
    scenario = validate(tiny_scenario)
    assert (scenario.analysis["reference"], scenario.analysis["iid_control"]) == (reference, iid_control)
    assert validate(scenario.to_dict()) == scenario  # what scenario.yaml stores decides it again the same way
    assert "reference" not in scenario.trial_analysis  # a report choice: changing it reruns no trial


@pytest.mark.parametrize("key, value, expected", [
    ("reference", "bnn", "analysis.reference: 'bnn' is not a normalizer of this scenario (bn, brn) "
                         "(did you mean 'bn'?)"),
    ("iid_control", "one_class", None),
    ("iid_control", "idd", "analysis.iid_control: 'idd' is not a sampler of this scenario (iid, one_class) "
                           "(did you mean 'iid'?)"),
    ("reference", 3, "analysis.reference: 3 must be str, got int"),
])
def test_reference_and_iid_control_must_name_an_entry(tiny_scenario, key, value, expected):
    tiny_scenario["analysis"][key] = value
    if expected is None:
        assert validate(tiny_scenario).analysis[key] == value
    else:
        assert _error(tiny_scenario) == expected


def test_smoke_variant_is_small_and_same_shape(tiny_scenario):
    scenario = validate(tiny_scenario)
    smoke = scenario.smoke()
    assert smoke.seeds == [0] and smoke.training["steps"] <= 60
    assert smoke.samplers == scenario.samplers and set(smoke.normalizers) == set(scenario.normalizers)


def test_smoke_scales_the_renorm_schedule_with_its_steps():
    scenario = validate({**load_yaml("scenarios/noniid_small.yaml"), "seeds": [0]})
    brn = scenario.normalizers["brn"]
    assert brn["warmup_steps"] > 0 and brn["r_max_ramp_end"] and brn["d_max_ramp_end"]
    smoke = scenario.smoke()
    factor = smoke.training["steps"] / scenario.training["steps"]
    for key in ("warmup_steps", "r_max_ramp_end", "d_max_ramp_end"):
        assert smoke.normalizers["brn"][key] == round(brn[key] * factor)
    # the smoke run leaves the warm-up and ends its ramps within its steps, as the full run does
    assert smoke.normalizers["brn"]["r_max_ramp_end"] <= smoke.training["steps"]
    assert smoke.normalizers["bn"] == scenario.normalizers["bn"]
    assert "r_max_ramp_end: " + str(smoke.normalizers["brn"]["r_max_ramp_end"]) in smoke.to_yaml()
    validate(smoke.to_dict())  # still a valid scenario


@pytest.mark.parametrize("mutate, expected", [
    (lambda s: s["training"].update(batch_sise=8), "training.batch_sise: unknown key (did you mean 'batch_size'?)"),
    (lambda s: s.update(normalisers={}), "normalisers: unknown key (did you mean 'normalizers'?)"),
    (lambda s: s["training"].update(batch_size="8"), "training.batch_size: '8' must be int, got str"),
    (lambda s: s["training"].update(learning_rate=0), "training.learning_rate: 0.0 must be > 0"),
    (lambda s: s["data"].update(name="imagenet"), "data.name: 'imagenet' is not one of"),
    (lambda s: s["model"].update(name="mpl"),
     f"model.name: 'mpl' is not one of {', '.join(model_kinds.available())} (did you mean 'mlp'?)"),
    (lambda s: s["normalizers"]["bn"].update(kind="batchnrom"), "normalizers.bn.kind: 'batchnrom' is not one of"),
    (lambda s: s["normalizers"]["brn"].update(r_max=0.5), "normalizers.brn.r_max: 0.5"),
    (lambda s: s["normalizers"]["bn"].update(microbatch_size=3),
     "normalizers.bn.microbatch_size: 3 does not divide training.batch_size 8"),
    (lambda s: s["samplers"]["one_class"].update(classes_per_batch=12), "samplers.one_class.classes_per_batch: 12"),
    (lambda s: s["samplers"]["one_class"].update(clases_per_batch=1),
     "samplers.one_class.clases_per_batch: unknown parameter for sampler class_correlated "
     "(did you mean 'classes_per_batch'?)"),
    (lambda s: s["samplers"]["iid"].update(kind="nosuch"), "samplers.iid.kind: 'nosuch'"),
    (lambda s: s.update(seeds=[]), "seeds: [] must be a non-empty list of int"),
    (lambda s: s.update(seeds=[1, 1]), "seeds: [1, 1] has repeated seeds"),
    (lambda s: s.update(name="a b"), "name: 'a b' must be letters"),
    (lambda s: s.pop("model"), "model: is required"),
])
def test_bad_scenarios_name_field_value_and_reason(tiny_scenario, mutate, expected):
    mutate(tiny_scenario)
    message = _error(tiny_scenario)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_infeasible_sampler_checked_against_real_labels(tiny_scenario):
    tiny_scenario["samplers"]["one_class"]["classes_per_batch"] = 5  # synthetic data has 4 classes
    message = _error(tiny_scenario)
    assert message.startswith("samplers.one_class.classes_per_batch: 5 ")
    assert "4" in message


def _cli(*args, cwd):
    env = harness_env()
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_cli_bad_scenario_one_line_exit_2_nothing_written(tiny_scenario, write_scenario, tmp_path):
    tiny_scenario["samplers"]["one_class"]["classes_per_batch"] = 12
    path = write_scenario(tiny_scenario)
    out = tmp_path / "out"
    for command in (["validate", path], ["run", path, "--out", str(out)]):
        result = _cli(*command, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: scenario.yaml: samplers.one_class.classes_per_batch: 12 "), lines[0]
        assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not (tmp_path / "reports").exists()


def test_cli_unreadable_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    result = _cli("validate", str(bad), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: bad.yaml: line")
    result = _cli("validate", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_validation_does_not_import_tensorflow(tiny_scenario):
    code = (
        "import sys, yaml\n"
        "from harness.scenario import validate\n"
        f"validate(yaml.safe_load({repr(__import__('yaml').safe_dump(tiny_scenario))}))\n"
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_shipped_scenarios_validate():
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scenarios")
    from harness.scenario import load

    names = sorted(f for f in os.listdir(folder) if f.endswith(".yaml"))
    assert "noniid_small.yaml" in names
    for name in names:
        load(os.path.join(folder, name))


@pytest.mark.parametrize("mutate, expected", [
    (lambda s: s.update(seeds=[-1]), "seeds[0]: -1 must be >= 0"),
    (lambda s: s.update(seeds=[2**40]), "seeds[0]: 1099511627776 must be <="),
    (lambda s: s["data"].update(split_seed=-1), "data.split_seed: -1 must be >= 0"),
    (lambda s: s["data"].update(test_fraction=0.001),
     "data.test_fraction: 0.001 splits 160 examples into 159 train / 1 test, fewer than the 4 classes"),
    (lambda s: s["analysis"].update(eval_examples=5),
     "analysis.eval_examples: 5 is fewer test examples than one batch"),
    (lambda s: s["normalizers"].update(gn={"kind": "groupnorm", "groups": 3}),
     "normalizers.gn.groups: 3 does not divide model width 8"),
    (lambda s: s.update(sweep={"zip": [1, 2]}), "sweep.zip: [1, 2] must map field paths to lists"),
    (lambda s: s.update(sweep={"training.steps": [5], "zip": {"training.steps": [6]}}),
     "sweep.zip.training.steps: is also swept outside zip"),
])
def test_more_bad_scenarios(tiny_scenario, mutate, expected):
    mutate(tiny_scenario)
    message = _error(tiny_scenario)
    assert message.startswith(expected), message


def test_bad_npz_files_are_one_line_errors(tiny_scenario, tmp_path):
    import numpy as np

    path = tmp_path / "partial.npz"
    np.savez(path, x_train=np.zeros((8, 4, 4)), y_train=np.zeros(8, int))
    tiny_scenario["data"] = {"name": "npz", "path": str(path)}
    assert _error(tiny_scenario).startswith(f"data.path: {str(path)!r} lacks the arrays x_test, y_test")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    tiny_scenario["data"]["path"] = str(tmp_path / "junk.npz")
    assert "is not a readable .npz file" in _error(tiny_scenario)


def test_unreadable_scenario_files_are_one_line_errors(tmp_path):
    from harness.scenario import load

    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    for path in (tmp_path, tmp_path / "latin1.yaml"):
        with pytest.raises(ScenarioError) as info:
            load(str(path))
        assert "\n" not in str(info.value)
