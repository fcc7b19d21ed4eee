"""The CIFAR ResNets of He et al. 2016: depth 6n + 2, three stages of 16/32/64 channels at 32/16/8 pixels,
identity shortcuts with zero padding (option A) or projections (option B) where the shape changes."""

import functools

import numpy as np
import pytest

BN = {"kind": "batchnorm", "axis": -1, "momentum": 0.99, "epsilon": 1e-3, "microbatch_size": None}


@functools.cache
def _build(name, shortcut="zero_pad", seed=0):
    from harness.models.builders import build_model

    return build_model({"name": name, "widths": [16, 32, 64], "shortcut": shortcut}, BN, (32, 32, 3), 10, seed)


def _weight_layers(model):
    import keras

    return [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]


@pytest.mark.parametrize("name, blocks", [("resnet20", 3), ("resnet32", 5)])
def test_depth_and_stages(name, blocks):
    import keras

    model = _build(name)
    layers = _weight_layers(model)
    assert len(layers) == 6 * blocks + 2  # the "20" of ResNet-20: 19 convolutions and the classifier
    convs = [layer for layer in layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16] * (2 * blocks + 1) + [32] * (2 * blocks) + [64] * (2 * blocks)
    assert [c.output.shape[1] for c in convs] == [32] * (2 * blocks + 1) + [16] * (2 * blocks) + [8] * (2 * blocks)
    assert model.output.shape[-1] == 10
    assert len([layer for layer in model.layers if layer.name.startswith("norm_")]) == 6 * blocks + 1


def test_resnet20_parameter_count_is_the_papers():
    """He et al. 2016, Table 6: ResNet-20 has 0.27M parameters (theirs: no conv biases; ours add 1 per channel)."""
    model = _build("resnet20")
    import keras

    biases = sum(int(np.prod(layer.bias.shape)) for layer in _weight_layers(model)
                 if isinstance(layer, keras.layers.Conv2D))
    norm = sum(int(np.prod(v.shape)) for layer in model.layers if layer.name.startswith("norm_")
               for v in layer.trainable_variables)
    convs_and_dense = model.count_params() - biases - norm - sum(
        int(np.prod(v.shape)) for layer in model.layers if layer.name.startswith("norm_")
        for v in layer.non_trainable_variables)
    assert 265_000 < convs_and_dense + norm < 275_000


def test_option_a_shortcut_subsamples_and_zero_pads():
    """Option A: the shortcut of a stage's first block is x[:, ::2, ::2] with zero channels added on both sides."""
    from harness.models.kinds._cifar import zero_pad

    x = np.random.default_rng(0).normal(size=(2, 8, 8, 16)).astype(np.float32)
    out = np.asarray(zero_pad(32, 2)(x))
    assert out.shape == (2, 4, 4, 32)
    np.testing.assert_array_equal(out[..., 8:24], x[:, ::2, ::2, :])
    assert not out[..., :8].any() and not out[..., 24:].any()


def test_option_b_adds_projections_and_both_are_seeded():
    a, b = _build("resnet20", "zero_pad"), _build("resnet20", "projection")
    assert len(_weight_layers(b)) == len(_weight_layers(a)) + 2  # a 1x1 projection in stages 2 and 3
    again = _build.__wrapped__("resnet20", "zero_pad")
    for w1, w2 in zip(a.get_weights(), again.get_weights(), strict=False):
        np.testing.assert_array_equal(w1, w2)  # pairing: one seed, one set of initial weights


def test_validation_of_cifar_resnet_fields(tiny_scenario):
    from harness.scenario import ScenarioError, validate

    tiny_scenario["model"] = {"name": "resnet20", "shortcut": "option_c"}
    with pytest.raises(ScenarioError, match="model.shortcut: 'option_c' is not one of zero_pad, projection"):
        validate(tiny_scenario, check_feasibility=False)
    tiny_scenario["model"] = {"name": "resnet56", "widths": [16, 8, 32]}
    with pytest.raises(ScenarioError, match=r"model.widths: \[16, 8, 32\] must not decrease with shortcut zero_pad"):
        validate(tiny_scenario)
    tiny_scenario["model"]["shortcut"] = "projection"
    assert validate(tiny_scenario).model == {"name": "resnet56", "widths": [16, 8, 32], "shortcut": "projection"}
