"""Model kinds, normalizer kinds, data sources and samplers as registries: one resolver, family and tabular
input as properties of a model kind (XLA `auto` and the tabular rule read them), declared parameters (validation
and the JSON Schema agree), plugins without `name=`, a user's own data loader, one error hierarchy."""

import copy
import glob
import json
import os
import subprocess
import sys

import jsonschema
import numpy as np
import pytest
import yaml

import samplers
from harness import errors
from harness.data import sources as data
from harness.errors import ScenarioError
from harness.models import kinds as model_kinds
from harness.norms import kinds
from harness.plugins import resolve as plugins
from harness.scenario import recipe, validate
from harness.train import xla
from tests.conftest import ROOT, TINY_SCENARIO, harness_env


def test_paper_scenarios_get_xla_for_training_on_a_gpu_by_family():
    """resnet20/32/56 are of family resnet: `auto` puts XLA on for them on a GPU (it never did: the table was
    looked up by the model's name)."""
    paths = sorted(glob.glob(os.path.join(ROOT, "scenarios", "paper", "*.yaml")))
    assert paths
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            model = yaml.safe_load(handle)["model"]
        family = model_kinds.get(model["name"]).family
        assert (family, xla.resolve_for(model, "GPU")) == ("resnet", {"training": True, "analysis": True}), path
        assert xla.resolve_for(model, "GPU") == xla.AUTO[("GPU", "resnet")]
        assert xla.resolve_for(model, "CPU") == xla.AUTO[("CPU", "resnet")]


def test_every_builtin_model_has_a_measured_family_and_the_trial_resolves_by_it():
    from harness.train.trial import resolve_jit_compile

    measured = {family for _, family in xla.AUTO}
    for name in model_kinds.BUILTINS:
        kind = model_kinds.get(name)
        assert kind.family in measured and isinstance(kind.tabular, bool), name
        config = {"model": {"name": name}, "training": {"jit_compile": "auto"}}
        assert resolve_jit_compile(config) == xla.resolve(
            "auto", kind.family, xla.device_type()), name
    assert xla.resolve_for({"name": "mlp"}, "CPU", setting=False) == {"training": False, "analysis": False}


def test_a_plugin_model_declares_its_family_and_undeclared_means_xla_off():
    declared = {"name": "tests.support.kind_plugins:images_only"}
    assert model_kinds.get(declared["name"]).family == "resnet"
    assert xla.resolve_for(declared, "GPU") == {"training": True, "analysis": True}
    assert xla.resolve_for({"name": "tests.support.kind_plugins:undeclared"}, "GPU") == xla.OFF


def _tabular_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "tab.npz"
    np.savez(path, x_train=rng.normal(size=(40, 6)).astype(np.float32), y_train=np.arange(40) % 4,
             x_test=rng.normal(size=(16, 6)).astype(np.float32), y_test=np.arange(16) % 4)
    return str(path)


@pytest.mark.parametrize("model, refused", [("mlp", False), ("convnet", True),
                                            ("tests.support.kind_plugins:images_only", True),
                                            ("tests.support.kind_plugins:undeclared", False)])
def test_tabular_input_is_decided_by_the_kinds_property(tmp_path, model, refused):
    """A plugin model that declares `tabular = False` is refused on (N, F) data (it was let through, as every
    plugin was: the rule tested the literal "mlp")."""
    raw = copy.deepcopy(TINY_SCENARIO)
    raw.update(data={"name": "npz", "path": _tabular_npz(tmp_path)}, model={"name": model},
               normalizers={"bn": {"kind": "batchnorm"}}, samplers={"iid": {"kind": "iid"}}, seeds=[0])
    tabular = [name for name in model_kinds.BUILTINS if model_kinds.get(name).tabular]
    if refused:
        with pytest.raises(ScenarioError, match=rf"^model.name: '{model}' needs images .* \(use [\w ]+\)$") as caught:
            validate(raw)
        assert str(caught.value).rsplit("(use ", 1)[1][:-1].split(" or ") == tabular  # every tabular kind named
    else:
        assert validate(raw).model["name"] == model


@pytest.mark.parametrize("section, value, expected", [
    ("normalizers", {"bn": {"kind": "batchnrom"}}, "normalizers.bn.kind: 'batchnrom' is not one of"),
    ("model", {"name": "resnt20"}, "model.name: 'resnt20' is not one of"),
    ("samplers", {"iid": {"kind": "iiid"}}, "samplers.iid.kind: 'iiid' is not one of"),
    ("data", {"name": "digit"}, "data.name: 'digit' is not one of"),
])
def test_a_misspelt_kind_is_one_line_exit_2_before_tensorflow_is_imported(tmp_path, section, value, expected):
    raw = copy.deepcopy(TINY_SCENARIO)
    raw[section] = value
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    code = ("import sys\nfrom harness.commands.cli import main\nrc = main(['validate', sys.argv[1]])\n"
            "print(rc, 'tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], env=harness_env(), capture_output=True, text=True)
    assert done.stdout.split() == ["2", "False"], (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "(did you mean" in lines[0], lines


def test_one_resolver_refuses_every_kind_the_same_way_with_the_registries_names():
    for registry, get, error in ((samplers.registry, samplers.get, samplers.SamplerParameterError),
                                 (kinds, kinds.get, kinds.spec.NormalizerConfigError),
                                 (model_kinds, model_kinds.get, model_kinds.ModelConfigError),
                                 (data, data.get, errors.DataError)):
        first = list(registry.BUILTINS)[0]
        with pytest.raises(error) as caught:
            get(first + "x")
        assert isinstance(caught.value, errors.ParameterError)
        assert caught.value.reason == (f"is not one of {', '.join(registry.available())} (did you mean {first!r}?)"
                                       " (or a plugin given as 'module.path:attribute')")
        with pytest.raises(error, match="has no attribute 'nothing_here'"):
            get("tests.support.kind_plugins:nothing_here")
    assert not hasattr(samplers, "create")


def test_every_user_error_is_one_hierarchy_mapped_to_exit_2():
    for cls in (errors.UsageError, ScenarioError, errors.DataError, plugins.PluginError,
                samplers.SamplerParameterError, kinds.spec.NormalizerConfigError, model_kinds.ModelConfigError):
        assert issubclass(cls, errors.HarnessError), cls
    assert errors.exit_code(model_kinds.ModelConfigError("name", "x", "bad")) == 2
    assert errors.exit_code(RuntimeError("a bug")) == 1


def test_a_factory_without_name_builds_named_layers_with_only_the_users_arguments():
    import keras

    from harness.models.builders import NORM_PREFIX, build_model, normalization_layers

    raw = copy.deepcopy(TINY_SCENARIO)
    raw["normalizers"] = {"mine": {"kind": "tests.support.kind_plugins:plain_norm", "momentum": 0.5}}
    scenario = validate(raw)
    assert scenario.normalizers["mine"] == {"kind": "tests.support.kind_plugins:plain_norm", "momentum": 0.5}
    model = build_model({"name": "convnet", "widths": [4, 6]}, scenario.normalizers["mine"], (8, 8, 1), 3, 0)
    layers = normalization_layers(model)
    assert [layer.name for layer in layers] == [f"{NORM_PREFIX}1", f"{NORM_PREFIX}2"]
    assert all(isinstance(layer, keras.layers.BatchNormalization) and layer.momentum == 0.5 for layer in layers)


def test_a_users_data_loader_given_as_module_attr_is_validated_and_loaded():
    raw = copy.deepcopy(TINY_SCENARIO)
    raw["data"] = {"name": "tests.support.kind_plugins:blobs", "per_class": 16}
    raw["samplers"] = {"iid": {"kind": "iid"}}
    scenario = validate(raw)
    assert scenario.data["per_class"] == 16 and scenario.data["features"] == 5  # its defaults filled in
    dataset = data.load(scenario.data)
    expected = __import__("tests.support.kind_plugins", fromlist=["blobs"]).blobs(per_class=16)
    np.testing.assert_array_equal(dataset.x_train, expected[0])
    np.testing.assert_array_equal(dataset.y_test, expected[3])
    assert (dataset.num_classes, dataset.input_shape) == (3, (5,))
    raw["data"]["colour"] = True
    with pytest.raises(ScenarioError, match=r"^data.colour: unknown key"):
        validate(raw)


def test_every_builtin_data_source_is_a_registry_entry_with_its_fields():
    assert list(data.BUILTINS) == data.available()[:len(data.BUILTINS)]
    for name in data.BUILTINS:
        source = data.get(name)
        assert source.name == name and not source.plugin
        assert source.takes_path == ("path" in source.fields)


def _schema_and_validate_agree(raw):
    """(schema refuses, validate refuses) for a scenario."""
    from harness.scenario.schema import scenario_schema

    try:
        jsonschema.validate(raw, scenario_schema(plugins=False))
        schema_refuses = False
    except jsonschema.ValidationError:
        schema_refuses = True
    try:
        validate(raw, check_feasibility=False)
        validate_refuses = False
    except ScenarioError:
        validate_refuses = True
    return schema_refuses, validate_refuses


@pytest.mark.parametrize("change", [
    lambda s: s["normalizers"]["bn"].update(momentum=1.5),
    lambda s: s["normalizers"]["brn"].update(momentum=0),
    lambda s: s["normalizers"]["brn"].update(r_max=0.5),
    lambda s: s["normalizers"]["bn"].update(epsilon=0),
    lambda s: s["normalizers"].update(gn={"kind": "groupnorm", "groups": 0}),
    lambda s: s["normalizers"]["bn"].update(microbatch_size=0),
    lambda s: s["model"].update(widths=[0]),
    lambda s: s.update(model={"name": "resnet", "blocks_per_stage": 9}),
    lambda s: s.update(model={"name": "resnet20", "shortcut": "option_c"}),
])
def test_declared_parameter_ranges_are_refused_by_the_schema_as_by_validate(change):
    raw = copy.deepcopy(TINY_SCENARIO)
    change(raw)
    assert _schema_and_validate_agree(raw) == (True, True)


def test_the_shipped_schema_is_the_generated_one():
    from harness.scenario.schema import dumps, scenario_schema

    with open(os.path.join(ROOT, "scenarios", "scenario.schema.json"), encoding="utf-8") as handle:
        assert handle.read() == dumps(scenario_schema(plugins=False))


def test_optimizers_are_one_registry_read_by_validation_schema_and_builder():
    import keras

    from harness.scenario.schema import scenario_schema

    schema = scenario_schema(plugins=False)["properties"]["training"]["properties"]["optimizer"]
    assert schema["enum"] == list(recipe.OPTIMIZERS)
    for name in recipe.OPTIMIZERS:
        raw = copy.deepcopy(TINY_SCENARIO)
        raw["training"]["optimizer"] = name
        training = validate(raw, check_feasibility=False).training
        assert isinstance(recipe.make_optimizer(training), keras.optimizers.Optimizer)
    raw["training"]["optimizer"] = "lamb"
    with pytest.raises(ScenarioError, match=f"is not one of {', '.join(recipe.OPTIMIZERS)}"):
        validate(raw, check_feasibility=False)


def test_models_command_lists_every_kind_with_family_and_parameters():
    done = subprocess.run([sys.executable, "-m", "harness", "models", "--json"], env=harness_env(),
                          capture_output=True, text=True, check=True)
    listed = {entry["name"]: entry for entry in json.loads(done.stdout)}
    for name in model_kinds.BUILTINS:
        kind = model_kinds.get(name)
        assert listed[name]["family"] == kind.family and listed[name]["tabular"] == kind.tabular
        assert listed[name]["parameters"] == json.loads(json.dumps(kind.parameters))
    done = subprocess.run([sys.executable, "-m", "harness", "models", "resnt20"], env=harness_env(),
                          capture_output=True, text=True)
    assert done.returncode == 2 and "did you mean 'resnet20'" in done.stderr and len(done.stderr.splitlines()) == 1


# ---------------------------------------------------------------- built-ins found from their modules
def _public_modules(folder):
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, *folder.split("/"), "*.py"))
                  if not os.path.basename(p).startswith("_"))


def test_every_builtin_sampler_is_a_class_of_a_samplers_module_that_declares_its_name():
    """The registry is what the files declare (read here with `ast`, not through the registry): each class body of
    a public module of `samplers/` that sets `name = "..."`; listed sorted by name."""
    import ast

    declared = {}
    for module in _public_modules("samplers"):
        with open(os.path.join(ROOT, "samplers", f"{module}.py"), encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                for statement in node.body:
                    if (isinstance(statement, ast.Assign) and [t.id for t in statement.targets
                                                               if isinstance(t, ast.Name)] == ["name"]):
                        declared[statement.value.value] = f"samplers.{module}:{node.name}"
    assert declared and samplers.registry.BUILTINS == declared
    assert list(samplers.registry.BUILTINS) == sorted(declared)
    assert samplers.available()[:len(declared)] == sorted(declared)
    for name in declared:
        assert samplers.get(name).name == name


def test_every_builtin_model_is_one_module_of_the_kinds_package():
    modules = _public_modules("harness/models/kinds")
    assert model_kinds.BUILTINS == {model_kinds.get(name).name: path for name, path in model_kinds.BUILTINS.items()}
    assert sorted(model_kinds.BUILTINS.values()) == sorted(f"harness.models.kinds.{m}:KIND" for m in modules)
    assert list(model_kinds.BUILTINS) == sorted(model_kinds.BUILTINS)
    # declaring and validating every built-in model imports no TensorFlow
    code = ("import sys; from harness.models import kinds\n"
            "for name in kinds.BUILTINS: kinds.get(name).validate({})\n"
            "print([m for m in ('tensorflow', 'keras') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], env=harness_env(), capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_discover_finds_the_public_modules_declarations_and_refuses_a_name_twice(tmp_path, monkeypatch):
    """A built-in is its module: a module dropped into the package is found (an underscore module is not)."""
    package = tmp_path / "drill_builtins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "beta.py").write_text("NAMES = ['b2', 'b1']\n")
    (package / "alpha.py").write_text("NAMES = ['a']\n")
    (package / "_helper.py").write_text("NAMES = ['hidden']\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def declared(module):
        return [(name, "NAMES") for name in getattr(module, "NAMES", [])]

    found = plugins.discover("drill_builtins", declared)
    assert list(found.items()) == [("a", "drill_builtins.alpha:NAMES"), ("b1", "drill_builtins.beta:NAMES"),
                                   ("b2", "drill_builtins.beta:NAMES")]
    (package / "gamma.py").write_text("NAMES = ['a']\n")
    with pytest.raises(RuntimeError, match="built-in 'a' is declared twice: by drill_builtins.alpha:NAMES and by "
                                           "drill_builtins.gamma:NAMES"):
        plugins.discover("drill_builtins", declared)
