"""Scenario files: the schema, strict validation, and the resolved (all defaults filled) scenario.

A scenario is validated completely before anything runs and before TensorFlow is
imported: unknown keys (with a "did you mean"), wrong types, out-of-range values,
unknown names, and sampler parameters that are infeasible for the real labels.
Every problem is one `ScenarioError` naming the field path, the value and why.
"""

import copy
import dataclasses
import difflib
import hashlib
import json
import math
import os
import re

import yaml

from harness import data as data_sources


class ScenarioError(ValueError):
    """One problem in a scenario, as `<file>: <field path>: <value> <reason>`."""

    def __init__(self, path, value, reason, source=None):
        self.path, self.value, self.reason, self.source = path, value, reason, source
        super().__init__(str(self))

    def __str__(self):
        prefix = f"{self.source}: " if self.source else ""
        shown = "" if self.value is _MISSING else f"{_show(self.value)} "
        return f"{prefix}{self.path}: {shown}{self.reason}"


_MISSING = object()
_REQUIRED = object()


def _show(value):
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


@dataclasses.dataclass(frozen=True)
class Field:
    """One scalar or list field: its type, default and allowed range or choices."""

    kind: type
    default: object = _REQUIRED
    low: float = None
    high: float = None
    low_open: bool = False
    choices: tuple = None
    list_of: type = None
    nullable: bool = False

    def check(self, path, value):
        if value is None and self.nullable:
            return None
        if self.list_of is not None:
            if not isinstance(value, list) or not value:
                raise ScenarioError(path, value, f"must be a non-empty list of {self.list_of.__name__}")
            return [Field(self.list_of, low=self.low, high=self.high).check(f"{path}[{i}]", v) for i, v in enumerate(value)]
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and self.kind is not bool or not isinstance(value, self.kind):
            raise ScenarioError(path, value, f"must be {self.kind.__name__}, got {type(value).__name__}")
        if isinstance(value, str) and "\0" in value:
            raise ScenarioError(path, value, "must not contain a NUL character")
        if self.kind is float and not math.isfinite(value):
            raise ScenarioError(path, value, "must be a finite number")
        if self.choices is not None and value not in self.choices:
            raise ScenarioError(path, value, f"is not one of {', '.join(self.choices)}{_did_you_mean(value, self.choices)}")
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            raise ScenarioError(path, value, f"must be {'>' if self.low_open else '>='} {self.low}")
        if self.high is not None and value > self.high:
            raise ScenarioError(path, value, f"must be <= {self.high}")
        return value


def _did_you_mean(word, candidates):
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _mapping(path, value):
    if not isinstance(value, dict):
        raise ScenarioError(path, value, f"must be a mapping, got {type(value).__name__}")
    return value


def _check_fields(path, given, fields):
    """Validate a mapping against `fields`: unknown keys, missing required keys, each value."""
    given = _mapping(path, given)
    for key in given:
        if key not in fields:
            raise ScenarioError(f"{path}.{key}", _MISSING, f"unknown key{_did_you_mean(key, fields)}")
    resolved = {}
    for key, field in fields.items():
        if key in given:
            resolved[key] = field.check(f"{path}.{key}", given[key])
        elif field.default is _REQUIRED:
            raise ScenarioError(f"{path}.{key}", _MISSING, "is required")
        else:
            resolved[key] = copy.deepcopy(field.default)
    return resolved


# Seeds feed NumPy's legacy seeding (via Keras), which takes [0, 2**32); trials add offsets of up to ~1e5.
MAX_SEED = 2**32 - 1 - 200_000

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

DATA_COMMON = {
    "name": Field(str, choices=data_sources.DATA_SOURCES),
}
DATA_FIELDS = {
    "digits": {"test_fraction": Field(float, 0.3, low=0, high=0.9, low_open=True), "split_seed": Field(int, 0, low=0, high=MAX_SEED)},
    "synthetic": {
        "test_fraction": Field(float, 0.3, low=0, high=0.9, low_open=True),
        "split_seed": Field(int, 0, low=0, high=MAX_SEED),
        "num_classes": Field(int, 10, low=2),
        "image_size": Field(int, 8, low=4, high=512),
        "channels": Field(int, 1, low=1, high=16),
        "examples_per_class": Field(int, 150, low=4),
        "noise": Field(float, 1.0, low=0),
        "seed": Field(int, 0, low=0, high=MAX_SEED),
    },
    "npz": {"path": Field(str)},
    **{name: {"train_limit": Field(int, None, low=1, nullable=True)} for name in ("mnist", "fashion_mnist", "cifar10", "cifar100")},
}

MODEL_FIELDS = {
    "mlp": {"widths": Field(list, [128, 128], list_of=int, low=1)},
    "convnet": {"widths": Field(list, [32, 64], list_of=int, low=1)},
    "resnet": {"widths": Field(list, [16, 32], list_of=int, low=1), "blocks_per_stage": Field(int, 1, low=1, high=8)},
}

TRAINING_FIELDS = {
    "batch_size": Field(int, 16, low=1),
    "steps": Field(int, 1500, low=1),
    "optimizer": Field(str, "adam", choices=("adam", "sgd", "momentum", "rmsprop")),
    "learning_rate": Field(float, 1e-3, low=0, low_open=True),
    "steps_per_call": Field(int, 100, low=1),
}

ANALYSIS_FIELDS = {
    "eval_every": Field(int, 100, low=1),
    "probe_batches": Field(int, 8, low=1),
    "precise_batches": Field(int, 100, low=1),
    "eval_examples": Field(int, None, low=1, nullable=True),
    "composition_batches": Field(int, 32, low=1),
}

TOP_LEVEL = ("name", "description", "data", "model", "normalizers", "samplers", "training", "seeds", "analysis", "sweep")


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

    def to_dict(self):
        return copy.deepcopy(dataclasses.asdict(self))

    def to_yaml(self):
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def smoke(self):
        """The tiny variant of this scenario: few steps, one seed, small analysis; same shape."""
        steps = min(self.training["steps"], 60)
        return dataclasses.replace(
            self,
            name=f"{self.name}_smoke",
            training={**self.training, "steps": steps, "steps_per_call": min(self.training["steps_per_call"], 30)},
            seeds=self.seeds[:1],
            analysis={**self.analysis, "eval_every": max(steps // 2, 1), "probe_batches": 2,
                      "precise_batches": 10, "composition_batches": min(self.analysis["composition_batches"], 16)},
            sweep=_smoke_sweep(self.sweep, {"training.steps": 60, "training.steps_per_call": 30}),
        )

    @property
    def baseline_normalizer(self):
        """The normalizer paired differences are taken against: `bn`, else the first of kind batchnorm."""
        if "bn" in self.normalizers:
            return "bn"
        kinds = [name for name, cfg in self.normalizers.items() if cfg["kind"] == "batchnorm"]
        return kinds[0] if kinds else next(iter(self.normalizers))


def _smoke_sweep(sweep, caps):
    """The sweep of a smoke run: swept values of the capped fields (training.steps...) capped too, so a sweep
    over them trains the smoke budget; points that become equal are kept once."""
    def cap(path, values):
        if path not in caps or not isinstance(values, list):
            return values
        return [min(v, caps[path]) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]

    def first_of_each(rows):
        seen, kept = set(), []
        for row in rows:
            if json.dumps(row, default=str) not in seen:
                seen.add(json.dumps(row, default=str))
                kept.append(row)
        return kept

    result = {}
    for path, values in sweep.items():
        if path == "zip" and isinstance(values, dict):
            capped = {k: cap(k, v) for k, v in values.items()}
            if all(isinstance(v, list) for v in capped.values()) and capped:
                rows = first_of_each([list(row) for row in zip(*capped.values())])
                capped = {k: [row[i] for row in rows] for i, k in enumerate(capped)}
            result[path] = capped
        else:
            capped = cap(path, values)
            result[path] = first_of_each(capped) if isinstance(capped, list) else capped
    return result


def config_hash(config):
    """A stable hash of a JSON-able config: what makes a finished trial reusable on resume."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def load_yaml(path):
    """Read a scenario file with a safe loader only (no tags that build objects), within the limits of
    `harness.limits`: bounded size and aliases, no duplicate keys."""
    from harness import limits

    if not os.path.exists(path):
        raise ScenarioError("file", path, "does not exist")
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
        raise ScenarioError(where, _MISSING, f"is not valid YAML: {problem}", source=os.path.basename(path))
    return raw


def load(path, check_feasibility=True, skip_infeasible=False):
    """Load and validate a scenario file; errors carry the file name."""
    raw = _resolve_data_paths(load_yaml(path), os.path.dirname(os.path.abspath(path)))
    try:
        return validate(raw, check_feasibility=check_feasibility, skip_infeasible=skip_infeasible)
    except ScenarioError as error:
        error.source = os.path.basename(path)
        raise


def _resolve_data_paths(raw, folder):
    """Relative npz paths (in `data.path` and in a sweep over it) are relative to the scenario file's folder;
    the resolved scenario records them absolute."""
    def absolute(value):
        if isinstance(value, str) and value and "\0" not in value and not os.path.isabs(value):
            return os.path.normpath(os.path.join(folder, os.path.expanduser(value)))
        return value

    if not isinstance(raw, dict):
        return raw
    data = raw.get("data")
    if isinstance(data, dict) and data.get("name") == "npz" and "path" in data:
        raw = {**raw, "data": {**data, "path": absolute(data["path"])}}
    sweep = raw.get("sweep")
    if isinstance(sweep, dict):
        def resolve_axes(axes):
            return {k: [absolute(v) for v in values] if k == "data.path" and isinstance(values, list) else values
                    for k, values in axes.items()}

        sweep = resolve_axes(sweep)
        if isinstance(sweep.get("zip"), dict):
            sweep["zip"] = resolve_axes(sweep["zip"])
        raw = {**raw, "sweep": sweep}
    return raw


def check_name(path, name):
    """A name that becomes a folder or file name has a bounded length (the file system's limit is ~255 bytes)."""
    from harness.limits import MAX_NAME_LENGTH

    if len(name) > MAX_NAME_LENGTH:
        raise ScenarioError(path, f"{name[:20]}...", f"is {len(name)} characters long, more than {MAX_NAME_LENGTH}")


def validate(raw, check_feasibility=True, skip_infeasible=False):
    """Validate a scenario mapping and return the resolved `Scenario`.

    With a sweep, feasibility is checked at every point (infeasible points are an
    error, or dropped with a warning when `skip_infeasible`).
    """
    raw = _mapping("scenario", raw)
    for key in raw:
        if key not in TOP_LEVEL:
            raise ScenarioError(key, _MISSING, f"unknown key{_did_you_mean(key, TOP_LEVEL)}")
    for key in ("name", "data", "model", "normalizers", "samplers", "seeds"):
        if key not in raw:
            raise ScenarioError(key, _MISSING, "is required")
    name = Field(str).check("name", raw["name"])
    if not NAME_PATTERN.fullmatch(name):
        raise ScenarioError("name", name, "must be letters, digits, '_', '-' or '.' (it names the output folder)")
    check_name("name", name)
    description = Field(str, "").check("description", raw.get("description", ""))

    data_raw = _mapping("data", raw["data"])
    source = DATA_COMMON["name"].check("data.name", _required(data_raw, "name", "data.name"))
    data = {"name": source, **_check_fields("data", {k: v for k, v in data_raw.items() if k != "name"}, DATA_FIELDS[source])}
    if source == "npz" and not os.path.isfile(data["path"]):
        raise ScenarioError("data.path", data["path"], "does not exist" if not os.path.exists(data["path"])
                            else "is not a file")
    if source == "synthetic":
        from harness.limits import MAX_SYNTHETIC_VALUES

        values = data["num_classes"] * data["examples_per_class"] * data["image_size"] ** 2 * data["channels"]
        if values > MAX_SYNTHETIC_VALUES:
            raise ScenarioError("data", values, f"synthetic pixel values (num_classes x examples_per_class x "
                                                f"image_size^2 x channels) exceed the limit {MAX_SYNTHETIC_VALUES:,}")

    model_raw = _mapping("model", raw["model"])
    model_name = Field(str, choices=tuple(MODEL_FIELDS)).check("model.name", _required(model_raw, "name", "model.name"))
    model = {"name": model_name, **_check_fields("model", {k: v for k, v in model_raw.items() if k != "name"}, MODEL_FIELDS[model_name])}

    training = _check_fields("training", raw.get("training", {}), TRAINING_FIELDS)
    seeds = Field(list, list_of=int, low=0, high=MAX_SEED).check("seeds", raw["seeds"])
    if len(set(seeds)) != len(seeds):
        raise ScenarioError("seeds", seeds, "has repeated seeds")
    analysis = _check_fields("analysis", raw.get("analysis", {}), ANALYSIS_FIELDS)

    normalizers = _validate_normalizers(raw["normalizers"], training)
    samplers_raw = _validate_sampler_names(raw["samplers"])
    sweep = _mapping("sweep", raw.get("sweep") or {})
    scenario = Scenario(name, description, data, model, normalizers, samplers_raw, training, seeds, analysis, sweep)
    if sweep:
        from harness.sweep import expand

        if check_feasibility:
            expand(scenario, skip_infeasible)  # every point validated, feasibility included, before anything runs
        return scenario
    if check_feasibility:
        dataset = load_data_or_explain(scenario.data)
        check_model_fits(scenario)
        scenario = dataclasses.replace(scenario, samplers=check_samplers(scenario, dataset))
    return scenario


def load_data_or_explain(data_config):
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


def check_model_fits(scenario):
    """GroupNorm's groups must divide every width the model gives it."""
    for name, cfg in scenario.normalizers.items():
        if cfg["kind"] != "groupnorm":
            continue
        for width in scenario.model["widths"]:
            if width % cfg["groups"]:
                raise ScenarioError(f"normalizers.{name}.groups", cfg["groups"],
                                    f"does not divide model width {width}")


def _required(mapping, key, path):
    if key not in mapping:
        raise ScenarioError(path, _MISSING, "is required")
    return mapping[key]


def _named_sections(path, value):
    value = _mapping(path, value)
    if not value:
        raise ScenarioError(path, value, "must name at least one entry")
    for key, cfg in value.items():
        if not isinstance(key, str) or not NAME_PATTERN.fullmatch(key) or "__" in key:
            raise ScenarioError(f"{path}.{key!r}", _MISSING, "is not a valid name (letters, digits, '_', '-', '.'; no '__')")
        check_name(f"{path} name", key)
        cfg = _mapping(f"{path}.{key}", cfg)
        if "kind" not in cfg:
            raise ScenarioError(f"{path}.{key}.kind", _MISSING, "is required")
        if not isinstance(cfg["kind"], str):
            raise ScenarioError(f"{path}.{key}.kind", cfg["kind"], f"must be str, got {type(cfg['kind']).__name__}")
    return value


def _validate_normalizers(value, training):
    from harness.norms.spec import NORMALIZER_KINDS, NormalizerConfigError, validate_normalizer_config

    resolved = {}
    for name, cfg in _named_sections("normalizers", value).items():
        kind = cfg["kind"]
        if kind not in NORMALIZER_KINDS:
            raise ScenarioError(f"normalizers.{name}.kind", kind,
                                f"is not one of {', '.join(NORMALIZER_KINDS)}{_did_you_mean(kind, NORMALIZER_KINDS)}")
        for key in cfg:
            if key != "kind" and key not in NORMALIZER_KINDS[kind]:
                raise ScenarioError(f"normalizers.{name}.{key}", _MISSING,
                                    f"unknown parameter for kind {kind}{_did_you_mean(key, NORMALIZER_KINDS[kind])}")
        try:
            resolved[name] = validate_normalizer_config(dict(cfg))
        except NormalizerConfigError as error:
            raise ScenarioError(f"normalizers.{name}.{error.param}", error.value, error.reason) from None
        microbatch = resolved[name].get("microbatch_size")
        if microbatch and training["batch_size"] % microbatch:
            raise ScenarioError(f"normalizers.{name}.microbatch_size", microbatch,
                                f"does not divide training.batch_size {training['batch_size']}")
    return resolved


def _validate_sampler_names(value):
    import samplers

    resolved = {}
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


def build_sampler(sampler_config, labels, batch_size, seed, features=None):
    """Construct a sampler from its resolved config (`kind` plus parameters)."""
    import samplers

    params = {k: v for k, v in sampler_config.items() if k != "kind"}
    cls = samplers.get(sampler_config["kind"])
    return cls(labels, batch_size, seed=seed, features=features, **params)


def test_examples(analysis, dataset):
    """How many test examples the analysis uses (all, or the first `eval_examples`)."""
    n_test = len(dataset.y_test)
    return n_test if analysis["eval_examples"] is None else min(analysis["eval_examples"], n_test)


def check_samplers(scenario, dataset):
    """Construct every sampler on the real training and test labels, so infeasible parameters fail now."""
    import samplers

    features = dataset.x_train.reshape(len(dataset.x_train), -1)
    n_test = test_examples(scenario.analysis, dataset)
    test_features = dataset.x_test[:n_test].reshape(n_test, -1)
    if n_test < scenario.training["batch_size"]:
        if scenario.analysis["eval_examples"] is None or len(dataset.y_test) < scenario.training["batch_size"]:
            raise ScenarioError("training.batch_size", scenario.training["batch_size"],
                                f"is larger than the {len(dataset.y_test)} test examples of {dataset.name}")
        raise ScenarioError("analysis.eval_examples", n_test,
                            f"is fewer test examples than one batch of training.batch_size {scenario.training['batch_size']}")
    for name, cfg in scenario.samplers.items():
        for labels, feats in ((dataset.y_train, features), (dataset.y_test[:n_test], test_features)):
            try:
                build_sampler(cfg, labels, scenario.training["batch_size"], 0, feats)
            except samplers.SamplerParameterError as error:
                if error.param == "batch_size":
                    path = "training.batch_size"
                elif error.param in ("labels", "features"):
                    path = "data"
                else:
                    path = f"samplers.{name}.{error.param}"
                reason = error.reason
                if feats is test_features:
                    reason += " (in the test split)"
                raise ScenarioError(path, error.value, f"{reason} ({dataset.name})") from None
            except (Exception, SystemExit) as error:  # noqa: BLE001 - a plugin's own failure, named in one line
                from harness.plugin_checks import describe_error

                raise ScenarioError(f"samplers.{name}", cfg["kind"], f"could not be built: {describe_error(error)}") from None
    return scenario.samplers
