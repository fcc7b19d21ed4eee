"""`bench layers` runs end to end and reports what it promises (no timing assertions)."""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from harness.bench import layers as bench_layers


def test_bench_layers_json(capsys):
    parser = argparse.ArgumentParser()
    bench_layers.add_arguments(parser)
    code = bench_layers.main(parser.parse_args(["--json", "--steps", "2", "--repeats", "2"]))
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(result["variants"]) == {"keras_bn", "keras_renorm", "brn"}
    assert all(ms > 0 for ms in result["variants"].values())
    assert result["brn_over_bn"] > 0 and result["keras_renorm_over_bn"] > 0
    assert result["device"]["type"] in ("CPU", "GPU")
    assert set(result["xla_variants"]) == set(result["xla_speedup"]) == set(result["cpu_xla_speedup"]) == set(
        result["variants"])
    assert all(ms > 0 for ms in result["xla_variants"].values()) and all(r > 0 for r in result["xla_speedup"].values())


def test_xla_speedups_are_medians_of_paired_ratios():
    plain = {"brn": [2.0, 3.0, 30.0]}
    xla = {"brn": [1.0, 2.0, 10.0]}  # ratios 2, 1.5, 3: median 2 (the ratio of medians would be 1.5)
    assert bench_layers.xla_speedups(plain, xla) == {"brn": 2.0}


def test_summarize_uses_medians_and_paired_ratios():
    times = {"keras_bn": [1.0, 2.0, 10.0], "brn": [1.1, 2.2, 9.0], "keras_renorm": [2.0, 4.0, 20.0]}
    medians, ratios = bench_layers.summarize(times)
    assert medians == {"keras_bn": 2.0, "brn": 2.2, "keras_renorm": 4.0}
    np.testing.assert_allclose(ratios["brn"], 1.1)
    np.testing.assert_allclose(ratios["keras_renorm"], 2.0)


def test_bench_models_share_architecture():
    sizes = {v: bench_layers.build_model(v, seed=0).count_params() for v in bench_layers.VARIANTS}
    # Same conv/dense weights; BN and BRN keep 4 vectors per channel, Keras renorm 7.
    assert sizes["brn"] - sizes["keras_bn"] == 2  # moving stddev replaces moving variance; one step counter per layer
    assert sizes["keras_renorm"] - sizes["keras_bn"] == 3 * (32 + 64)


def test_bench_xla_json_reports_both_modes_and_paired_speedups(capsys):
    import statistics

    from harness.bench import xla as bench_xla

    parser = argparse.ArgumentParser()
    bench_xla.add_arguments(parser)
    argv = ["--json", "--families", "mlp", "--normalizers", "bn", "--steps", "2", "--repeats", "3"]
    assert bench_xla.main(parser.parse_args(argv)) == 0
    result = json.loads(capsys.readouterr().out)["results"]["mlp"]["bn"]
    assert result["jit"] == {"tf_function": False, "xla": True}
    samples = result["ms_per_step_samples"]
    assert len(samples["tf_function"]) == len(samples["xla"]) == 3
    assert result["ms_per_step"] == {mode: statistics.median(ms) for mode, ms in samples.items()}
    np.testing.assert_allclose(result["speedup"], np.median(np.divide(samples["tf_function"], samples["xla"])))
    assert result["analysis_ms"]["tf_function"] > 0 and result["analysis_ms"]["xla"] > 0
