"""Scenario files: the schema, strict validation, and the resolved (all defaults filled) scenario.

A scenario is validated completely before anything runs and before TensorFlow is
imported: unknown keys (with a "did you mean"), wrong types, out-of-range values,
unknown names, and sampler parameters that are infeasible for the real labels.
Every problem is one `ScenarioError` naming the field path, the value and why.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from harness.data import sources as data_sources
from harness.errors import ScenarioError
from harness.params.fields import (  # noqa: F401 - Field and its helpers are also imported from here by callers
    _MISSING,
    _REQUIRED,
    MAX_SEED,  # defined with the fields; callers import it from here
    AutoOrBool,
    Field,
    PairsField,
    _check_fields,
    _did_you_mean,
    _mapping,
    check_keys,
)
from harness.scenario.recipe import OPTIMIZERS
from harness.scenario.sweep import _axes, grid

if TYPE_CHECKING:
    import numpy as np

    from samplers.base import Sampler

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# for every data source: how stored examples become the network's input (harness/data/augment.py)
DATA_INPUT_FIELDS = {
    "standardize": Field(bool, False, doc="Per-channel standardisation with the training split's statistics."),
    "augment": Field(dict, {}, doc="In-graph augmentation, deterministic for (seed, step): crop_padding, flip."),
}
AUGMENT_FIELDS = {
    "crop_padding": Field(int, 0, low=0, high=64, doc="Random crop after zero padding by this many pixels (0: none)."),
    "flip": Field(bool, False, doc="Random horizontal flip."),
}

TRAINING_FIELDS = {
    "batch_size": Field(int, 16, low=1,
                        doc="Examples per training batch (what the normalizers' batch statistics see)."),
    "steps": Field(int, 1500, low=1, doc="Training steps of every trial."),
    "optimizer": Field(str, "adam", choices=tuple(OPTIMIZERS),
                       doc="Keras optimizer (momentum: sgd with momentum 0.9)."),
    "learning_rate": Field(float, 1e-3, low=0, low_open=True, doc="Peak learning rate (the schedule scales it)."),
    "steps_per_call": Field(int, 100, low=1, doc="Training steps per compiled call."),
    # the recipe (harness/scenario/recipe.py builds it and checks the rules between these fields)
    "momentum": Field(float, None, low=0, high=1, nullable=True, doc="SGD momentum (sgd only)."),
    "nesterov": Field(bool, False, doc="Nesterov momentum (sgd only)."),
    "weight_decay": Field(float, 0.0, low=0, doc="Decoupled weight decay."),
    "exclude_norm_and_bias_from_weight_decay": Field(bool, True,
                                                     doc="No weight decay on normalization parameters and biases."),
    "lr_schedule": Field(dict, {"kind": "constant"},
                         doc="kind: constant, cosine (warmup_steps, alpha) or step (boundaries, factors)."),
    "label_smoothing": Field(float, 0.0, low=0, high=1, doc="Label smoothing of the cross-entropy."),
    "mixed_precision": Field(bool, False, doc="mixed_float16 compute, float32 variables and statistics."),
    "jit_compile": AutoOrBool(default="auto", doc="XLA for the compiled training and analysis: auto (measured per "
                                                  "model family and device), true, false."),
}

ANALYSIS_FIELDS = {
    "eval_every": Field(int, 100, low=1, doc="Training steps between evaluations (learning curves)."),
    "probe_batches": Field(int, 8, low=1, doc="Test batches of the per-layer analysis."),
    # examples (rounded up to whole batches) the PreciseBN estimates average over
    "precise_examples": Field(int, 6400, low=1, doc="Training examples the two PreciseBN estimates average over."),
    "eval_examples": Field(int, None, low=1, nullable=True, doc="Cap on the test examples used (null: all)."),
    "composition_batches": Field(int, 32, low=1, doc="Training batches shown in the batch-composition table."),
    # Decided once here and written into the resolved scenario.yaml; the tables and the report read them.
    # Left out: chosen by `default_reference` / `default_iid_control`; null: none.
    "reference": Field(str, None, nullable=True, doc="The normalizer paired differences are taken against (default bn, "
                                                     "else the first batchnorm)."),
    "iid_control": Field(str, None, nullable=True,
                         doc="The sampler drops are measured from (default the first of kind iid)."),
    # Declared comparisons: [a, b] means a minus b, paired by seed and sweep point.
    "compare": PairsField(doc="Declared normalizer pairs [a, b], each tested as a minus b."),
    # The sweep point the headline and sections 2-7 report, declared before the results ({swept path: value});
    # None: the last listed value of each swept field.
    "headline_point": Field(dict, None, nullable=True, doc="For sweeps: {swept field: value} the headline reports, "
                                                           "declared before the results."),
    # checked by harness.analysis.metrics.check_plugins (each name an installed plugin), before TensorFlow
    "metrics": Field(list, [], doc="Metric plugins to run after training (entry point group harness.metrics, or "
                                   "'module.path:attribute'); the built-in metrics are always on."),
}
# Analysis fields that choose what the tables and report compare, not what a trial computes (kept out of its hash).
REPORT_FIELDS = ("reference", "iid_control", "compare", "headline_point")

TOP_LEVEL = ("name", "description", "data", "model", "normalizers", "samplers", "training", "seeds", "analysis",
             "sweep")


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A validated scenario with every default filled in: the single source of truth for a run."""

    name: str
    description: str
    data: dict
    model: dict
    normalizers: dict
    samplers: dict
    training: dict
    seeds: list
    analysis: dict
    sweep: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as a plain mapping (a deep copy), as the resolved scenario.yaml holds it."""
        return copy.deepcopy(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        """The resolved scenario as YAML text, in field order."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def smoke(self) -> Scenario:
        """The tiny variant of this scenario: few steps, one seed, small analysis; same shape.

        Step-counted schedules (Batch Renorm's warm-up and r_max/d_max ramps, the learning-rate schedule's
        warm-up and boundaries) shrink with the step count,
        so a smoke run's Batch Renorm leaves its warm-up as the full run's does.
        """
        from harness.scenario.recipe import scale_schedule

        steps = min(self.training["steps"], 60)
        schedule = scale_schedule(self.training.get("lr_schedule", {"kind": "constant"}), self.training["steps"], steps)
        return dataclasses.replace(
            self,
            name=f"{self.name}_smoke",
            normalizers=scale_schedules(self.normalizers, steps / self.training["steps"]),
            training={**self.training, "steps": steps, "steps_per_call": min(self.training["steps_per_call"], 30),
                      "lr_schedule": schedule},
            seeds=self.seeds[:1],
            analysis={**self.analysis, "eval_every": max(steps // 2, 1), "probe_batches": 2,
                      "precise_examples": min(self.analysis["precise_examples"], 160),
                      "composition_batches": min(self.analysis["composition_batches"], 16)},
            sweep=_smoke_sweep(self.sweep, {"training.steps": 60, "training.steps_per_call": 30}),
        )

    @property
    def trial_analysis(self) -> dict[str, Any]:
        """The analysis settings a trial depends on (what it is hashed on): all but the report's choices."""
        return {k: v for k, v in self.analysis.items() if k not in REPORT_FIELDS}


def default_reference(normalizers: Mapping[str, Any]) -> str | None:
    """The normalizer paired differences are taken against when `analysis.reference` is not given:
    `bn`, else the first of kind batchnorm, else None (no paired differences)."""
    if "bn" in normalizers:
        return "bn"
    kinds = [name for name, cfg in normalizers.items() if (cfg or {}).get("kind") == "batchnorm"]
    return kinds[0] if kinds else None


def default_iid_control(samplers: Mapping[str, Any]) -> str | None:
    """The sampler drops are measured from when `analysis.iid_control` is not given: the first of kind iid,
    else one named `iid`, else None."""
    kinds = [name for name, cfg in samplers.items() if (cfg or {}).get("kind") == "iid"]
    return kinds[0] if kinds else ("iid" if "iid" in samplers else None)


def _resolve_comparisons(analysis: dict[str, Any], given: Mapping[str, Any], normalizers: Mapping[str, Any],
                         samplers: Mapping[str, Any]) -> dict[str, Any]:
    """Fill `analysis.reference` and `analysis.iid_control`: the given name (checked) or the default."""
    for key, names, default, what in (("reference", normalizers, default_reference, "normalizer"),
                                      ("iid_control", samplers, default_iid_control, "sampler")):
        if key not in given:
            analysis[key] = default(names)
        elif analysis[key] is not None and analysis[key] not in names:
            raise ScenarioError(f"analysis.{key}", analysis[key],
                                f"is not a {what} of this scenario ({', '.join(names)})"
                                f"{_did_you_mean(analysis[key], names)}")
    return analysis


def _check_headline_point(point: Mapping[str, Any], sweep: Mapping[str, Any]) -> None:
    """Every key of analysis.headline_point is a swept field and its value one of the swept values."""
    swept = {k: v for k, v in sweep.items() if k != "zip"}
    swept.update(sweep.get("zip") or {})
    for path, value in point.items():
        if path not in swept:
            raise ScenarioError(f"analysis.headline_point.{path}", _MISSING,
                                f"is not a swept field{_did_you_mean(path, swept)}")
        if not isinstance(swept[path], list) or value not in swept[path]:
            raise ScenarioError(f"analysis.headline_point.{path}", value,
                                f"is not one of the swept values {swept[path]}")


SCHEDULE_FIELDS = ("warmup_steps", "r_max_ramp_end", "d_max_ramp_end")


def scale_schedules(normalizers: dict[str, Any], factor: float) -> dict[str, Any]:
    """Copies of the normalizer configs with every step-counted schedule field multiplied by `factor` (rounded;
    None stays None), e.g. a smoke run's 60 steps against the full run's 1500."""
    scaled = copy.deepcopy(normalizers)
    for config in scaled.values():
        for key in SCHEDULE_FIELDS:
            if config.get(key):
                config[key] = max(int(round(config[key] * factor)), 1)
    return scaled


def _smoke_sweep(sweep: Mapping[str, Any], caps: Mapping[str, int]) -> dict[str, Any]:
    """The sweep of a smoke run: swept values of the capped fields (training.steps...) capped too, so a sweep
    over them trains the smoke budget; points that become equal are kept once."""
    def cap(path: str, values: Any) -> Any:
        if path not in caps or not isinstance(values, list):
            return values
        return [min(v, caps[path]) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]

    def first_of_each(rows: Iterable[Any]) -> list[Any]:
        seen: set[str] = set()
        kept: list[Any] = []
        for row in rows:
            if json.dumps(row, default=str) not in seen:
                seen.add(json.dumps(row, default=str))
                kept.append(row)
        return kept

    result: dict[str, Any] = {}
    for path, values in sweep.items():
        if path == "zip" and isinstance(values, dict):
            capped = {k: cap(k, v) for k, v in values.items()}
            if all(isinstance(v, list) for v in capped.values()) and capped:
                rows = first_of_each([list(row) for row in zip(*capped.values(), strict=False)])
                capped = {k: [row[i] for row in rows] for i, k in enumerate(capped)}
            result[path] = capped
        else:
            capped = cap(path, values)
            result[path] = first_of_each(capped) if isinstance(capped, list) else capped
    return result


def config_hash(config: object) -> str:
    """A stable hash of a JSON-able config: what makes a finished trial reusable on resume."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def load_yaml(path: str) -> Any:
    """Read a scenario file with a safe loader only (no tags that build objects), within the limits of
    `harness.params.limits`: bounded size and aliases, no duplicate keys."""
    from harness.params import limits

    if not os.path.exists(path):
        raise ScenarioError("file", path, "does not exist")
    if not os.path.isfile(path):  # a FIFO or device would block the read forever; a folder is not a scenario
        raise ScenarioError("file", path, "is not a regular file")
    try:
        if os.path.isfile(path) and os.path.getsize(path) > limits.MAX_FILE_BYTES:
            raise ScenarioError("file", path, f"is larger than {limits.MAX_FILE_BYTES:,} bytes; no scenario needs that")
        with open(path, "rb") as handle:  # bytes: PyYAML detects the encoding and reports bad bytes as YAMLError
            raw = limits.load_strict(handle)
    except OSError as error:
        raise ScenarioError("file", path, f"cannot be read ({error.strerror or error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ScenarioError(where, _MISSING, f"is not valid YAML: {problem}", source=os.path.basename(path)) from None
    return raw


def load(path: str, check_feasibility: bool = True, skip_infeasible: bool = False) -> Scenario:
    """Load and validate a scenario file; errors carry the file name."""
    raw = _resolve_data_paths(load_yaml(path), os.path.dirname(os.path.abspath(path)))
    try:
        return validate(raw, check_feasibility=check_feasibility, skip_infeasible=skip_infeasible)
    except ScenarioError as error:
        error.source = os.path.basename(path)
        raise


def _takes_path(source: object) -> bool:
    """Whether the data source `source` reads a file or folder named by `data.path` (its registry entry says)."""
    if not isinstance(source, str) or not source:
        return False
    try:
        return data_sources.get(source).takes_path
    except data_sources.DataError:
        return False  # validation names the problem


def _validate_data(data_raw: dict[str, Any]) -> dict[str, Any]:
    """`data`: its source resolved through the data-source registry (`harness.data.sources`), its fields (the source's
    own and the input fields every source takes) checked, then the source's own check."""
    name = _required(data_raw, "name", "data.name")
    if not isinstance(name, str):
        raise ScenarioError("data.name", name, f"must be str, got {type(name).__name__}")
    try:
        source = data_sources.get(name)
    except data_sources.DataError as error:
        raise ScenarioError("data.name", name, error.reason) from None
    data = {"name": name, **_check_fields("data", {k: v for k, v in data_raw.items() if k != "name"},
                                          {**source.fields, **DATA_INPUT_FIELDS})}
    data["augment"] = _check_fields("data.augment", data["augment"], AUGMENT_FIELDS)
    if source.check is not None:
        source.check(data)
    return data


def _resolve_data_paths(raw: Any, folder: str) -> Any:
    """Relative data paths (`data.path` of every source that takes one, and a sweep over it) are relative to
    the scenario file's folder; the resolved scenario records them absolute."""
    def absolute(value: Any) -> Any:
        if isinstance(value, str) and value and "\0" not in value and not os.path.isabs(value):
            return os.path.normpath(os.path.join(folder, os.path.expanduser(value)))
        return value

    if not isinstance(raw, dict):
        return raw
    data = raw.get("data")
    if isinstance(data, dict) and _takes_path(data.get("name")) and "path" in data:
        raw = {**raw, "data": {**data, "path": absolute(data["path"])}}
    sweep = raw.get("sweep")
    if isinstance(sweep, dict):
        def resolve_axes(axes: dict[str, Any]) -> dict[str, Any]:
            return {k: [absolute(v) for v in values] if k == "data.path" and isinstance(values, list) else values
                    for k, values in axes.items()}

        sweep = resolve_axes(sweep)
        if isinstance(sweep.get("zip"), dict):
            sweep["zip"] = resolve_axes(sweep["zip"])
        raw = {**raw, "sweep": sweep}
    return raw


def check_name(path: str, name: str) -> None:
    """A name that becomes a folder or file name has a bounded length (the file system's limit is ~255 bytes)."""
    from harness.params.limits import MAX_NAME_LENGTH

    if len(name) > MAX_NAME_LENGTH:
        raise ScenarioError(path, f"{name[:20]}...", f"is {len(name)} characters long, more than {MAX_NAME_LENGTH}")


def validate(raw: Any, check_feasibility: bool = True, skip_infeasible: bool = False) -> Scenario:
    """Validate a scenario mapping and return the resolved `Scenario`.

    With a sweep, feasibility is checked at every point (infeasible points are an
    error, or dropped with a warning when `skip_infeasible`).
    """
    raw = _mapping("scenario", raw)
    check_keys(raw, TOP_LEVEL, ("name", "data", "model", "normalizers", "samplers", "seeds"))
    name = Field(str).check("name", raw["name"])
    if not NAME_PATTERN.fullmatch(name):
        raise ScenarioError("name", name, "must be letters, digits, '_', '-' or '.' (it names the output folder)")
    check_name("name", name)
    description = Field(str, "").check("description", raw.get("description", ""))

    data = _validate_data(_mapping("data", raw["data"]))

    model = _validate_model(_mapping("model", raw["model"]))

    training = _check_fields("training", raw.get("training", {}), TRAINING_FIELDS)
    from harness.scenario.recipe import check_training

    training = check_training(training)
    seeds = Field(list, list_of=int, low=0, high=MAX_SEED).check("seeds", raw["seeds"])
    if len(set(seeds)) != len(seeds):
        raise ScenarioError("seeds", seeds, "has repeated seeds")
    analysis = _check_fields("analysis", raw.get("analysis", {}), ANALYSIS_FIELDS)
    from harness.analysis.metrics import check_plugins

    check_plugins(analysis["metrics"])

    normalizers = _validate_normalizers(raw["normalizers"], training)
    _check_compared_names(analysis["compare"], normalizers)
    samplers_raw = _validate_sampler_names(raw["samplers"])
    analysis = _resolve_comparisons(analysis, raw.get("analysis") or {}, normalizers, samplers_raw)
    sweep = _mapping("sweep", {} if raw.get("sweep") is None else raw["sweep"])
    scenario = Scenario(name, description, data, model, normalizers, samplers_raw, training, seeds, analysis, sweep)
    if sweep and analysis["headline_point"] is not None:
        _check_headline_point(analysis["headline_point"], sweep)
    if sweep:
        if check_feasibility:
            expand(scenario, skip_infeasible)  # every point validated, feasibility included, before anything runs
        return scenario
    if check_feasibility:
        dataset = load_data_or_explain(scenario.data)
        check_model_fits(scenario, dataset)
        check_input_fits(scenario, dataset)
        scenario = dataclasses.replace(scenario, samplers=check_samplers(scenario, dataset))
    return scenario


_EXPANDED: dict[str, list[tuple[dict[str, Any], Scenario]]] = {}


def expand(scenario: Scenario, skip_infeasible: bool = False) -> list[tuple[dict[str, Any], Scenario]]:
    """[(point, scenario)]: one validated scenario per sweep point ({} and the scenario itself when there is no sweep).

    Validation, planning and the batch-composition table all ask for the points; they are
    validated (data loaded, samplers built) once per scenario, and warnings are printed once.
    """
    if not scenario.sweep:
        return [({}, scenario)]
    _axes(scenario.sweep)  # checks the keys and counts the points first: the key below needs string keys
    try:
        key = json.dumps([scenario.to_dict(), skip_infeasible], sort_keys=True, default=str)
    except (TypeError, ValueError):  # mapping keys of mixed types somewhere in the values: not cached
        return _expand(scenario, skip_infeasible)
    if key not in _EXPANDED:
        _EXPANDED.clear()
        _EXPANDED[key] = _expand(scenario, skip_infeasible)
    return _EXPANDED[key]


def _expand(scenario: Scenario, skip_infeasible: bool) -> list[tuple[dict[str, Any], Scenario]]:
    points = []
    for point, raw in grid(scenario.to_dict(), scenario.sweep):
        try:
            points.append((point, validate(raw)))
        except ScenarioError as error:
            shown = ", ".join(f"{k}={v}" for k, v in point.items())
            if not skip_infeasible:
                raise ScenarioError(f"sweep point ({shown}): {error.path}", error.value, error.reason) from None
            print(f"warning: skipping infeasible sweep point ({shown}): {error}", file=sys.stderr)
    if not points:
        raise ScenarioError("sweep", scenario.sweep, "has no feasible point")
    return points


def load_data_or_explain(data_config: dict[str, Any]) -> data_sources.Dataset:
    """The dataset, or a ScenarioError saying why it could not be loaded (a bad file, split or download)."""
    try:
        dataset = data_sources.load(data_config)
    except data_sources.DataError as error:
        raise ScenarioError(f"data.{error.field}", error.value, error.reason) from None
    except Exception as error:  # noqa: BLE001 - any loader failure is a property of the scenario's data section
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ScenarioError("data", data_config["name"], f"could not be loaded: {message}") from None
    if len(dataset.y_test) < dataset.num_classes:
        raise ScenarioError("data", data_config["name"],
                            f"has {len(dataset.y_test)} test examples, fewer than its {dataset.num_classes} classes")
    return dataset


def check_model_fits(scenario: Scenario, dataset: data_sources.Dataset | None = None) -> None:
    """Every normalizer fits the model: a built-in model's slot widths are checked against each built-in
    normalizer's rule (GroupNorm's groups must divide them). A plugin model or normalizer is built and run
    on a dummy batch (TensorFlow is imported for it): `harness.scenario.plugin_check`."""
    from harness.models import kinds as model_kinds
    from harness.norms import kinds

    model_kind = model_kinds.get(scenario.model["name"])
    widths = model_kind.slot_widths(scenario.model) if model_kind.slot_widths is not None else None
    for name, cfg in scenario.normalizers.items():
        kind = kinds.get(cfg["kind"])
        if kind.check_width is None or widths is None:
            continue
        for width in widths:
            problem = kind.check_width(cfg, width)
            if problem is not None:
                raise ScenarioError(f"normalizers.{name}.{problem[0]}", cfg[problem[0]], problem[1])
    if model_kind.plugin or any(kinds.get(cfg["kind"]).plugin for cfg in scenario.normalizers.values()):
        from harness.scenario import plugin_check

        dataset = dataset if dataset is not None else load_data_or_explain(scenario.data)
        plugin_check.check_plugins(scenario, dataset)


def check_input_fits(scenario: Scenario, dataset: data_sources.Dataset) -> None:
    """Tabular (N, F) data feeds only a model kind that accepts it (`tabular`), and is not cropped or flipped."""
    from harness.models import kinds as model_kinds

    if len(dataset.input_shape) == 3:
        return
    if model_kinds.get(scenario.model["name"]).tabular is False:
        tabular = [name for name in model_kinds.BUILTINS if model_kinds.get(name).tabular]
        raise ScenarioError("model.name", scenario.model["name"],
                            f"needs images (N, H, W, C); {scenario.data['name']} holds examples of shape "
                            f"{tuple(dataset.input_shape)} (use {' or '.join(tabular)})")
    augment = scenario.data.get("augment") or {}
    if augment.get("crop_padding") or augment.get("flip"):
        raise ScenarioError("data.augment", augment, "crops and flips images; this data is tabular")


def _required(mapping: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in mapping:
        raise ScenarioError(path, _MISSING, "is required")
    return mapping[key]


def _named_sections(path: str, value: Any) -> dict[str, Any]:
    value = _mapping(path, value)
    if not value:
        raise ScenarioError(path, value, "must name at least one entry")
    for key, cfg in value.items():
        if not isinstance(key, str) or not NAME_PATTERN.fullmatch(key) or "__" in key:
            raise ScenarioError(f"{path}.{key!r}", _MISSING,
                                "is not a valid name (letters, digits, '_', '-', '.'; no '__')")
        check_name(f"{path} name", key)
        cfg = _mapping(f"{path}.{key}", cfg)
        if "kind" not in cfg:
            raise ScenarioError(f"{path}.{key}.kind", _MISSING, "is required")
        if not isinstance(cfg["kind"], str):
            raise ScenarioError(f"{path}.{key}.kind", cfg["kind"], f"must be str, got {type(cfg['kind']).__name__}")
    folded: dict[str, str] = {}
    for key in value:  # names become file names: bn and BN would be one file on a case-insensitive file system
        other = folded.setdefault(key.casefold(), key)
        if other != key:
            raise ScenarioError(f"{path}.{key}", _MISSING, f"differs from {other!r} only by case; names must differ "
                                                           "in more than case (they name files)")
    return value


def _validate_model(model_raw: dict[str, Any]) -> dict[str, Any]:
    """`model`: its name resolved through the model registry, its parameters checked by its entry."""
    from harness.models import kinds as model_kinds

    name = _required(model_raw, "name", "model.name")
    try:
        kind = model_kinds.get(name)
    except model_kinds.ModelConfigError as error:
        raise ScenarioError("model.name", name, error.reason) from None
    params = {k: v for k, v in model_raw.items() if k != "name"}
    for key in params:
        if key not in kind.parameters and not kind.accepts_any:
            raise ScenarioError(f"model.{key}", _MISSING, f"unknown key{_did_you_mean(key, kind.parameters)}")
    try:
        return {"name": name, **kind.validate(params)}
    except model_kinds.ModelConfigError as error:
        value = _MISSING if error.reason.startswith("is required") else error.value
        raise ScenarioError(f"model.{error.param}", value, error.reason) from None


def _validate_normalizers(value: Any, training: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`normalizers`: each kind resolved through the normalizer registry (harness.norms.kinds), its parameters
    checked by its entry; a plugin kind is also imported and constructed (`harness.scenario.plugin_check`)."""
    from harness.norms import kinds
    from harness.norms.spec import NormalizerConfigError

    resolved: dict[str, dict[str, Any]] = {}
    for name, cfg in _named_sections("normalizers", value).items():
        kind_name = cfg["kind"]
        try:
            kind = kinds.get(kind_name)
        except NormalizerConfigError as error:
            raise ScenarioError(f"normalizers.{name}.kind", kind_name, error.reason) from None
        for key in cfg:
            if key != "kind" and key not in kind.parameters and not kind.accepts_any:
                raise ScenarioError(f"normalizers.{name}.{key}", _MISSING,
                                    f"unknown parameter for kind {kind_name}{_did_you_mean(key, kind.parameters)}")
        try:
            resolved[name] = kind.validate(dict(cfg))
        except NormalizerConfigError as error:
            value = _MISSING if error.reason.startswith("is required") else error.value
            raise ScenarioError(f"normalizers.{name}.{error.param}", value, error.reason) from None
        if kind.plugin:
            from harness.scenario import plugin_check

            plugin_check.check_constructs(name, resolved[name])
        microbatch = resolved[name].get("microbatch_size")
        if microbatch and training["batch_size"] % microbatch:
            raise ScenarioError(f"normalizers.{name}.microbatch_size", microbatch,
                                f"does not divide training.batch_size {training['batch_size']}")
    return resolved


def _check_compared_names(pairs: list[list[str]], normalizers: Mapping[str, Any]) -> None:
    """Every name in `analysis.compare` is one of the scenario's normalizers."""
    for i, pair in enumerate(pairs):
        for j, name in enumerate(pair):
            if name not in normalizers:
                raise ScenarioError(f"analysis.compare[{i}][{j}]", name,
                                    f"is not a normalizer of this scenario ({', '.join(normalizers)})"
                                    f"{_did_you_mean(name, normalizers)}")


def _validate_sampler_names(value: Any) -> dict[str, dict[str, Any]]:
    import samplers

    resolved: dict[str, dict[str, Any]] = {}
    for name, cfg in _named_sections("samplers", value).items():
        kind = cfg["kind"]
        try:
            cls = samplers.get(kind)
        except samplers.SamplerParameterError as error:
            raise ScenarioError(f"samplers.{name}.kind", kind, error.reason) from None
        parameters = cls.parameters()
        for key in cfg:
            if key != "kind" and key not in parameters:
                raise ScenarioError(f"samplers.{name}.{key}", _MISSING,
                                    f"unknown parameter for sampler {kind}{_did_you_mean(key, parameters)}")
        for key, default in parameters.items():
            if default is samplers.REQUIRED and key not in cfg:
                raise ScenarioError(f"samplers.{name}.{key}", _MISSING, f"is required by sampler {kind} (no default)")
        resolved[name] = {"kind": kind, **parameters, **{k: v for k, v in cfg.items() if k != "kind"}}
    return resolved


def build_sampler(sampler_config: Mapping[str, Any], labels: np.ndarray, batch_size: int, seed: int,
                  features: np.ndarray | None = None) -> Sampler:
    """Construct a sampler from its resolved config (`kind` plus parameters)."""
    import samplers

    params = {k: v for k, v in sampler_config.items() if k != "kind"}
    cls = samplers.get(sampler_config["kind"])
    return cls(labels, batch_size, seed=seed, features=features, **params)


def sampler_for(sampler_config: Mapping[str, Any], x: np.ndarray | None, labels: np.ndarray, batch_size: int,
                seed: int) -> Sampler:
    """The one recipe from examples to a sampler: features are the examples `x` flattened (None: none).

    Every caller (validation, the trial, the batch-composition table, the benchmarks) builds its
    batch stream this way, so they all see the same batches for the same seed.
    """
    features = None if x is None else x.reshape(len(x), -1)
    return build_sampler(sampler_config, labels, batch_size, seed, features)


def batch_stream(sampler_config: Mapping[str, Any], x: np.ndarray | None, labels: np.ndarray, batch_size: int,
                 seed: int, n_batches: int, name: str | None = None) -> np.ndarray:
    """`n_batches` index batches of `sampler_for(...)`: an (n_batches, batch_size) int64 array, checked
    (`harness.plugins.output.checked_batches`: a plugin's wrong shape or out-of-range index is one line naming
    the sampler, `name` or else its kind)."""
    from harness.plugins.output import checked_batches

    sampler = sampler_for(sampler_config, x, labels, batch_size, seed)
    return checked_batches(sampler, n_batches, len(labels), name or sampler_config["kind"])


def test_examples(analysis: Mapping[str, Any], dataset: data_sources.Dataset) -> int:
    """How many test examples the analysis uses (all, or the first `eval_examples`)."""
    n_test = len(dataset.y_test)
    return n_test if analysis["eval_examples"] is None else min(analysis["eval_examples"], n_test)


def check_samplers(scenario: Scenario, dataset: data_sources.Dataset) -> dict[str, Any]:
    """Construct every sampler on the real training and test labels, so infeasible parameters fail now."""
    import samplers

    n_test = test_examples(scenario.analysis, dataset)
    if n_test < scenario.training["batch_size"]:
        if scenario.analysis["eval_examples"] is None or len(dataset.y_test) < scenario.training["batch_size"]:
            raise ScenarioError("training.batch_size", scenario.training["batch_size"],
                                f"is larger than the {len(dataset.y_test)} test examples of {dataset.name}")
        raise ScenarioError("analysis.eval_examples", n_test,
                            f"is fewer test examples than one batch of training.batch_size "
                            f"{scenario.training['batch_size']}")
    for name, cfg in scenario.samplers.items():
        for split, x, labels in (("train", dataset.x_train, dataset.y_train),
                                 ("test", dataset.x_test[:n_test], dataset.y_test[:n_test])):
            try:
                sampler_for(cfg, x, labels, scenario.training["batch_size"], 0)
            except samplers.SamplerParameterError as error:
                if error.param == "batch_size":
                    path = "training.batch_size"
                elif error.param in ("labels", "features"):
                    path = "data"
                else:
                    path = f"samplers.{name}.{error.param}"
                reason = error.reason
                if split == "test":
                    reason += " (in the test split)"
                raise ScenarioError(path, error.value, f"{reason} ({dataset.name})") from None
            except (Exception, SystemExit) as error:  # noqa: BLE001 - a plugin's own failure, named in one line
                from harness.plugins.output import describe_error

                raise ScenarioError(f"samplers.{name}", cfg["kind"],
                                    f"could not be built: {describe_error(error)}") from None
    return scenario.samplers
