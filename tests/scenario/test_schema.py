"""The scenario JSON Schema: generated from validation's own definitions, shipped, and never stricter than
`validate` (a scenario the schema rejects, validation rejects too)."""

import copy
import glob
import json
import os
import subprocess
import sys

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import scenario as sc
from harness.scenario.schema import dumps, scenario_schema
from tests.conftest import ROOT, TINY_SCENARIO, harness_env

SHIPPED = os.path.join(ROOT, "scenarios", "scenario.schema.json")
SCENARIOS = sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.yaml")))


_VALIDATOR = jsonschema.Draft202012Validator(scenario_schema(plugins=False))


@pytest.fixture(scope="module")
def validator():
    jsonschema.Draft202012Validator.check_schema(_VALIDATOR.schema)
    return _VALIDATOR


def _validate_rejects(raw):
    """True when `harness.scenario.validate` rejects `raw`: first without the data (fast), then, if that
    accepts, with it (sampler parameters are checked by constructing the samplers on the real labels)."""
    for check_feasibility in (False, True):
        try:
            sc.validate(copy.deepcopy(raw), check_feasibility=check_feasibility)
        except sc.ScenarioError:
            return True
    return False


def test_shipped_schema_file_is_current():
    """The shipped file is what `python -m harness schema --builtin-only` prints; when stale, this test
    rewrites it and fails, so committing the rewritten file fixes it."""
    fresh = dumps(scenario_schema(plugins=False))
    with open(SHIPPED, encoding="utf-8") as handle:
        shipped = handle.read()
    if shipped != fresh:
        with open(SHIPPED, "w", encoding="utf-8") as handle:
            handle.write(fresh)
        pytest.fail(f"{SHIPPED} was stale and has been regenerated: commit it")


def test_schema_command_validates_every_shipped_scenario():
    out = subprocess.run([sys.executable, "-m", "harness", "schema"], capture_output=True, text=True,
                         env=harness_env(), cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    shipped = sorted(path for path in glob.glob(os.path.join(ROOT, "scenarios", "**", "*.yaml"), recursive=True)
                     if os.sep + "profile" + os.sep not in path)  # profile batteries: their own format (test_profile)
    assert SCENARIOS and any("paper" in path for path in shipped)
    for path in shipped:
        with open(path) as handle:
            jsonschema.validate(yaml.safe_load(handle), schema, cls=jsonschema.Draft202012Validator)


def test_schema_carries_defaults_ranges_and_kinds(validator):
    schema = validator.schema
    training = schema["properties"]["training"]["properties"]
    assert training["batch_size"] == {"type": "integer", "minimum": 1,
                                      "default": sc.TRAINING_FIELDS["batch_size"].default,
                                      "description": sc.TRAINING_FIELDS["batch_size"].doc}
    assert all(field.get("description") for field in training.values())  # editors show what each field means
    assert training["optimizer"]["enum"] == list(sc.TRAINING_FIELDS["optimizer"].choices)
    assert schema["properties"]["analysis"]["properties"]["compare"]["default"] == []
    kinds = schema["properties"]["normalizers"]["additionalProperties"]["properties"]["kind"]["anyOf"][0]["enum"]
    from harness.norms.kinds import NORMALIZER_KINDS

    assert kinds == list(NORMALIZER_KINDS)


MUTATIONS = [
    # (description, function mutating a scenario dict in place)
    ("wrong type", lambda s: s["training"].__setitem__("batch_size", "sixteen")),
    ("bool for an int", lambda s: s["training"].__setitem__("steps", True)),
    ("unknown top-level key", lambda s: s.__setitem__("trainig", {})),
    ("unknown training key", lambda s: s["training"].__setitem__("batchsize", 16)),
    ("unknown normalizer parameter", lambda s: s["normalizers"]["bn"].__setitem__("momentun", 0.9)),
    ("unknown normalizer kind", lambda s: s["normalizers"]["bn"].__setitem__("kind", "batchnrom")),
    ("out of range", lambda s: s["training"].__setitem__("learning_rate", 0)),
    ("negative seed", lambda s: s.__setitem__("seeds", [-1])),
    ("repeated seed", lambda s: s.__setitem__("seeds", [1, 1])),
    ("bad name", lambda s: s.__setitem__("name", "a/b")),
    ("normalizer name with __", lambda s: s["normalizers"].__setitem__("b__n", {"kind": "batchnorm"})),
    ("missing data", lambda s: s.pop("data")),
    ("unknown data source", lambda s: s["data"].__setitem__("name", "imagenet")),
    ("model option of another model", lambda s: s["model"].__setitem__("blocks_per_stage", 2)),
    ("compare pair not a pair", lambda s: s["analysis"].__setitem__("compare", [["bn"]])),
    ("compare a string", lambda s: s["analysis"].__setitem__("compare", "bn")),
    ("sampler parameter unknown", lambda s: s["samplers"]["iid"].__setitem__("classes_per_batch", 2)),
    ("sampler parameter of the wrong type", lambda s: s["samplers"]["one_class"].__setitem__("replace", "no")),
    ("unknown sampler kind", lambda s: s["samplers"]["iid"].__setitem__("kind", "idd")),
]


@pytest.mark.parametrize("description,mutate", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutations_rejected_by_schema_and_by_validate(validator, description, mutate):
    raw = copy.deepcopy(TINY_SCENARIO)
    assert not list(validator.iter_errors(raw)) and not _validate_rejects(raw)
    mutate(raw)
    assert list(validator.iter_errors(raw)), f"the schema accepts: {description}"
    assert _validate_rejects(raw), f"validate accepts: {description}"


def _paths(tree, prefix=()):
    """Every (path) to a value of a nested dict/list scenario."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _paths(value, prefix + (i,))


ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12), st.lists(st.integers(-3, 40), max_size=3),
    st.dictionaries(st.sampled_from(["kind", "name", "x", "zip"]), st.integers(0, 3), max_size=2),
    st.sampled_from(["iid", "batchnorm", "mlp", "digits", "a:b", "bn", "adam"]))


def _swept_paths(sweep):
    if not isinstance(sweep, dict):
        return set()
    zipped = sweep.get("zip") if isinstance(sweep.get("zip"), dict) else {}
    return {str(k) for k in sweep if k != "zip"} | {str(k) for k in zipped}


@settings(max_examples=int(os.environ.get("SCHEMA_EXAMPLES", 300)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(scenario_index=st.integers(0, len(SCENARIOS) - 1), data=st.data())
def test_schema_is_never_stricter_than_validate(scenario_index, data):
    """Random mutations of the shipped scenarios: whatever the schema rejects, validate rejects."""
    with open(SCENARIOS[scenario_index]) as handle:
        raw = yaml.safe_load(handle)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(raw) if p]
        path = data.draw(st.sampled_from(paths))
        node = raw
        for key in path[:-1]:
            node = node[key]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete" and isinstance(node, dict):
            del node[path[-1]]
        elif action == "add" and isinstance(node, dict):
            node[data.draw(st.sampled_from(["kind", "extra", "steps", "seed", "axis"]))] = data.draw(ODD_VALUES)
        else:
            node[path[-1]] = data.draw(ODD_VALUES)
    errors = list(_VALIDATOR.iter_errors(raw))
    # a swept field's own value is replaced at every sweep point, so validate never reads it (README, Sweeps)
    swept = _swept_paths(raw.get("sweep"))
    if any(".".join(map(str, e.absolute_path)) not in swept for e in errors):
        assert _validate_rejects(raw), f"the schema rejects, validate accepts: {raw}"
