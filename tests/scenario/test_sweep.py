"""Sweeps: expansion, validation of every point, swept values as table columns."""

import pandas as pd
import pytest

from harness.run import runner
from harness.scenario import ScenarioError, expand, validate


def test_cartesian_product_and_zip(tiny_scenario):
    tiny_scenario["sweep"] = {
        "training.batch_size": [4, 8],
        "zip": {"training.learning_rate": [0.01, 0.02, 0.03], "normalizers.brn.r_max": [1.5, 2.0, 3.0]},
    }
    points = expand(validate(tiny_scenario))
    assert len(points) == 2 * 3
    assert points[0][0] == {"training.batch_size": 4, "training.learning_rate": 0.01, "normalizers.brn.r_max": 1.5}
    assert points[-1][0] == {"training.batch_size": 8, "training.learning_rate": 0.03, "normalizers.brn.r_max": 3.0}
    for point, scenario in points:
        assert scenario.training["batch_size"] == point["training.batch_size"]
        assert scenario.normalizers["brn"]["r_max"] == point["normalizers.brn.r_max"]
        assert scenario.sweep == {}
    assert len(runner.plan(validate(tiny_scenario))) == 6 * 2 * 2 * 2


def test_every_point_is_validated_before_anything_runs(tiny_scenario):
    tiny_scenario["samplers"]["two"] = {"kind": "class_correlated", "classes_per_batch": 2}
    tiny_scenario["sweep"] = {"training.batch_size": [4, 6, 8], "samplers.two.classes_per_batch": [2, 4]}
    with pytest.raises(ScenarioError) as info:
        validate(tiny_scenario)
    message = str(info.value)
    assert message.startswith("sweep point (training.batch_size=4, samplers.two.classes_per_batch=4)") or \
        message.startswith("sweep point (training.batch_size=6, samplers.two.classes_per_batch=4)"), message
    assert "classes_per_batch" in message


def test_skip_infeasible_drops_points_with_a_warning(tiny_scenario, capsys):
    tiny_scenario["samplers"]["two"] = {"kind": "class_correlated", "classes_per_batch": 2}
    tiny_scenario["sweep"] = {"training.batch_size": [4, 6, 8], "samplers.two.classes_per_batch": [2, 4]}
    scenario = validate(tiny_scenario, skip_infeasible=True)
    points = [p for p, _ in expand(scenario, skip_infeasible=True)]
    assert {"training.batch_size": 6, "samplers.two.classes_per_batch": 4} not in points
    assert {"training.batch_size": 8, "samplers.two.classes_per_batch": 4} in points
    assert "warning: skipping infeasible sweep point (training.batch_size=6" in capsys.readouterr().err


@pytest.mark.parametrize("sweep, expected", [
    ({"training.batch_sise": [4]},
     "sweep.training.batch_sise: names no field of the scenario (did you mean 'training.batch_size'?)"),
    ({"training.batch_size": []}, "sweep.training.batch_size: [] must be a non-empty list"),
    ({"zip": {"training.steps": [5, 6], "training.batch_size": [4]}}, "sweep.zip:"),
    ({"seeds": [[1]]}, "sweep: [\"seeds\"] may not sweep"),
])
def test_bad_sweeps(tiny_scenario, sweep, expected):
    tiny_scenario["sweep"] = sweep
    with pytest.raises(ScenarioError) as info:
        validate(tiny_scenario)
    assert str(info.value).startswith(expected), str(info.value)


def test_swept_values_are_columns_of_every_table(tiny_scenario, tmp_path):
    tiny_scenario["sweep"] = {"training.batch_size": [4, 8]}
    tiny_scenario["seeds"] = [0]
    tiny_scenario["training"]["steps"] = 10
    runner.run(validate(tiny_scenario), str(tmp_path), quiet=True)
    for name in ("summary", "curves", "layers", "trials", "composition", "noniid"):
        frame = pd.read_csv(tmp_path / f"{name}.csv")
        assert "training.batch_size" in frame.columns, name
        assert set(frame["training.batch_size"]) == {4, 8}, name


def test_list_valued_sweeps_and_shared_trials_through_the_runner(tiny_scenario, tmp_path):
    tiny_scenario["sweep"] = {"model.widths": [[4], [6]], "samplers.one_class.classes_per_batch": [1, 2]}
    tiny_scenario.update(seeds=[0], normalizers={"bn": {"kind": "batchnorm"}})
    tiny_scenario["training"]["steps"] = 10
    ran = []
    results = runner.run(validate(tiny_scenario), str(tmp_path), quiet=True, on_result=ran.append)
    # the iid sampler ignores classes_per_batch: its trial at a width runs once and is filed under both points
    assert len(results) == 2 * 2 * 2 and len(ran) == 2 * 2 + 2
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary["model.widths"]) == {"[4]", "[6]"}
    assert "[4]" in (tmp_path / "summary.md").read_text()
