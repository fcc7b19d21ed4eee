"""Battery files: the conditions a normalizer is put through, all of them in the file, nothing in code.

    name: digits
    description: ...
    scenario: {data: ..., model: ..., training: ..., analysis: ...}   # shared by every condition
    seeds: [0, 1, 2, 3, 4]
    references: {bn: {kind: batchnorm}, brn: {...}, groupnorm: {...}}   # always trained beside the profiled ones
    reference_condition: iid_32                                         # drops are measured from it
    conditions:
      iid_2: {label: batch 2, axis: batch_size, x: 2, batch_size: 2, sampler: {kind: iid}}
      micro_2: {label: ..., axis: microbatch, x: 2, batch_size: 32, sampler: {kind: iid}, microbatch_size: 2}
    quick: {seeds: 2, steps: 150, conditions: [...]}                    # what --quick trains

A condition with `microbatch_size` applies only to normalizers whose kind takes that parameter; the
others have no cell there. Validated in pure Python (the scenario of each condition is validated by
`harness.scenario.validate` when the profile is planned).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable
from typing import Any

from harness.errors import MISSING, ScenarioError, did_you_mean
from harness.params.fields import Field, _check_fields, _mapping, check_keys

BATTERY_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "scenarios", "profile")
DEFAULT_BATTERY = "digits"
TOP_LEVEL = ("name", "description", "scenario", "seeds", "references", "reference_condition", "conditions", "quick")
SCENARIO_KEYS = ("data", "model", "training", "analysis")
# The curves of the page, in this order: the axis a condition belongs to and how its x value reads.
AXES = {"batch_size": "batch size", "classes_per_batch": "classes per batch", "dirichlet_alpha": "Dirichlet alpha",
        "microbatch": "microbatch size"}
CONDITION_FIELDS = {
    "label": Field(str, doc="How the condition reads in sentences (e.g. '1 class per batch')."),
    "axis": Field(str, choices=tuple(AXES), doc="The dependence curve the condition is a point of."),
    "x": Field(float, doc="Its position on that curve's axis."),
    "batch_size": Field(int, low=1, doc="training.batch_size of the condition."),
    "sampler": Field(dict, doc="The sampler of the condition's batches (kind and parameters)."),
    "microbatch_size": Field(int, None, low=1, nullable=True,
                             doc="Normalizers that take microbatch_size see microbatches of this size."),
}
QUICK_FIELDS = {
    "seeds": Field(int, 2, low=1, doc="Seeds of --quick (the first ones of `seeds`)."),
    "steps": Field(int, 150, low=1, doc="training.steps of --quick (schedules scale with it)."),
    "conditions": Field(list, None, list_of=str, nullable=True, doc="Conditions of --quick (null: all)."),
}


@dataclasses.dataclass(frozen=True)
class Battery:
    """A validated battery: the shared scenario fields, seeds, references and conditions."""

    name: str
    description: str
    path: str
    scenario: dict
    seeds: list
    references: dict
    reference_condition: str
    conditions: dict
    quick: dict

    def quick_variant(self) -> Battery:
        """The --quick battery: its first `quick.seeds` seeds, `quick.steps` steps (step-counted schedules of
        the references scaled with them), and the `quick.conditions` (the reference condition always)."""
        from harness.scenario import scale_schedules

        steps = self.scenario["training"].get("steps", 1500)
        factor = self.quick["steps"] / steps
        keep = self.quick["conditions"] or list(self.conditions)
        if self.reference_condition not in keep:
            keep = [self.reference_condition, *keep]
        from harness.scenario.recipe import scale_schedule

        training = {**self.scenario["training"], "steps": self.quick["steps"],
                    "steps_per_call": min(self.scenario["training"].get("steps_per_call", 100), self.quick["steps"])}
        if "lr_schedule" in training:  # a warm-up or step boundaries shrink with the steps, as in --smoke
            training["lr_schedule"] = scale_schedule(training["lr_schedule"], steps, self.quick["steps"])
        return dataclasses.replace(
            self, seeds=self.seeds[:self.quick["seeds"]], scenario={**self.scenario, "training": training},
            references=scale_schedules(self.references, factor),
            conditions={k: v for k, v in self.conditions.items() if k in keep})

    @property
    def steps(self) -> int:
        """training.steps of every trial."""
        return self.scenario["training"].get("steps", 1500)


def find(name_or_path: str) -> str:
    """The battery file: a path, or the name of a file in scenarios/profile/ (ScenarioError when neither)."""
    if os.path.isfile(name_or_path):
        return name_or_path
    shipped = os.path.join(BATTERY_DIR, f"{name_or_path}.yaml")
    if os.path.isfile(shipped):
        return shipped
    names = (sorted(f[:-5] for f in os.listdir(BATTERY_DIR) if f.endswith(".yaml"))
             if os.path.isdir(BATTERY_DIR) else [])
    raise ScenarioError("--battery", name_or_path,
                        f"is neither a file nor a shipped battery ({', '.join(names)})"
                        f"{did_you_mean(name_or_path, names)}")


def load(name_or_path: str) -> Battery:
    """Read and validate a battery file (`find` locates it); every problem is one ScenarioError."""
    from harness.scenario import _resolve_data_paths, load_yaml

    path = find(name_or_path)
    raw = load_yaml(path)
    try:
        return validate(_resolve_battery_paths(raw, os.path.dirname(os.path.abspath(path)), _resolve_data_paths),
                        path)
    except ScenarioError as error:
        error.source = os.path.basename(path)
        raise


def _resolve_battery_paths(raw: Any, folder: str, resolve: Callable[[dict, str], dict]) -> Any:
    if isinstance(raw, dict) and isinstance(raw.get("scenario"), dict):
        raw = {**raw, "scenario": resolve(raw["scenario"], folder)}
    return raw


def validate(raw: dict, path: str = "<battery>") -> Battery:
    """A `Battery` from a mapping: keys, types, condition names and fields, the reference condition."""
    from harness.scenario import MAX_SEED, NAME_PATTERN, _named_sections

    raw = _mapping("battery", raw)
    check_keys(raw, TOP_LEVEL, ("name", "scenario", "seeds", "references", "reference_condition", "conditions"))
    name = Field(str).check("name", raw["name"])
    if not NAME_PATTERN.fullmatch(name):
        raise ScenarioError("name", name, "must be letters, digits, '_', '-' or '.'")
    scenario = _mapping("scenario", raw["scenario"])
    for key in scenario:
        if key not in SCENARIO_KEYS:
            why = ("comes from the profile's normalizers and the battery's references"
                   if key == "normalizers" else "comes from the conditions" if key in ("samplers", "sweep")
                   else f"unknown key{did_you_mean(key, SCENARIO_KEYS)}")
            raise ScenarioError(f"scenario.{key}", MISSING, why)
    for key in ("data", "model"):
        if key not in scenario:
            raise ScenarioError(f"scenario.{key}", MISSING, "is required")
    scenario = copy.deepcopy(scenario)
    scenario.setdefault("training", {})
    scenario.setdefault("analysis", {})
    _mapping("scenario.training", scenario["training"])
    if "batch_size" in scenario["training"]:
        raise ScenarioError("scenario.training.batch_size", MISSING, "is set by each condition")
    seeds = Field(list, list_of=int, low=0, high=MAX_SEED).check("seeds", raw["seeds"])
    if len(set(seeds)) != len(seeds):
        raise ScenarioError("seeds", seeds, "has repeated seeds")
    references = _named_sections("references", raw["references"])
    conditions: dict[str, dict] = {}
    for cname, cfg in _mapping("conditions", raw["conditions"]).items():
        if not isinstance(cname, str) or not NAME_PATTERN.fullmatch(cname) or "__" in cname:
            raise ScenarioError(f"conditions.{cname!r}", MISSING,
                                "is not a valid name (letters, digits, '_', '-', '.')")
        conditions[cname] = _check_fields(f"conditions.{cname}", _mapping(f"conditions.{cname}", cfg),
                                          CONDITION_FIELDS)
        if "kind" not in conditions[cname]["sampler"]:
            raise ScenarioError(f"conditions.{cname}.sampler.kind", MISSING, "is required")
    if not conditions:
        raise ScenarioError("conditions", {}, "must name at least one condition")
    reference_condition = Field(str).check("reference_condition", raw["reference_condition"])
    if reference_condition not in conditions:
        raise ScenarioError("reference_condition", reference_condition,
                            f"is not a condition of this battery{did_you_mean(reference_condition, conditions)}")
    if conditions[reference_condition]["microbatch_size"] is not None:
        raise ScenarioError("reference_condition", reference_condition, "must not be a microbatch condition")
    quick = _check_fields("quick", raw.get("quick") or {}, QUICK_FIELDS)
    if quick["seeds"] > len(seeds):
        raise ScenarioError("quick.seeds", quick["seeds"], f"is more than the {len(seeds)} seeds")
    for i, cname in enumerate(quick["conditions"] or []):
        if cname not in conditions:
            raise ScenarioError(f"quick.conditions[{i}]", cname,
                                f"is not a condition of this battery{did_you_mean(cname, conditions)}")
    return Battery(name, Field(str, "").check("description", raw.get("description", "")), os.path.abspath(path)
                   if path != "<battery>" else path, scenario, seeds, references, reference_condition, conditions,
                   quick)
