"""Scenario fields: the typed, range-checked `Field` each scenario value is validated with, and the helpers
that validate a mapping of them. One place, so the scenario, the recipe and the JSON Schema use the same
definitions (`harness.scenario.schema` renders them; `harness.scenario` and `harness.scenario.recipe` check with them).

Pure Python: validation never imports TensorFlow.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from harness.errors import MISSING, ScenarioError, did_you_mean

_MISSING = MISSING  # the names this module and its callers have always used
_REQUIRED = object()

# Seeds feed NumPy's legacy seeding (via Keras), which takes [0, 2**32); trials add offsets of up to ~1e5.
MAX_SEED = 2**32 - 1 - 200_000


@dataclasses.dataclass(frozen=True)
class Field:
    """One scalar or list field: its type, default and allowed range or choices."""

    kind: type[Any]
    default: object = _REQUIRED
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple | None = None
    list_of: type | None = None
    nullable: bool = False
    doc: str = ""  # what the field means: the schema's description (editors show it)
    high_open: bool = False  # the range excludes `high` (e.g. a momentum in (0, 1))

    def check(self, path: str, value: Any) -> Any:
        """`value` checked against this field (an int given for a float becomes a float); a `ScenarioError`
        at `path` names what is wrong."""
        if value is None and self.nullable:
            return None
        if self.kind is object:  # any value: checked by code elsewhere (a plugin's, a source's own check)
            return value
        if self.list_of is not None:
            if not isinstance(value, list) or not value:
                raise ScenarioError(path, value, f"must be a non-empty list of {self.list_of.__name__}")
            item = Field(self.list_of, low=self.low, high=self.high, low_open=self.low_open, high_open=self.high_open)
            return [item.check(f"{path}[{i}]", v) for i, v in enumerate(value)]
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and self.kind is not bool or not isinstance(value, self.kind):
            raise ScenarioError(path, value, f"must be {self.kind.__name__}, got {type(value).__name__}")
        if isinstance(value, str) and "\0" in value:
            raise ScenarioError(path, value, "must not contain a NUL character")
        if self.kind is float and not math.isfinite(value):
            raise ScenarioError(path, value, "must be a finite number")
        if self.choices is not None and value not in self.choices:
            raise ScenarioError(path, value,
                                f"is not one of {', '.join(self.choices)}{_did_you_mean(value, self.choices)}")
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            raise ScenarioError(path, value, f"must be {'>' if self.low_open else '>='} {self.low}")
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            raise ScenarioError(path, value, f"must be {'<' if self.high_open else '<='} {self.high}")
        return value

    def json_schema(self) -> dict[str, Any]:
        """This field as a JSON Schema (draft 2020-12): type, range, choices, default; see `harness.scenario.schema`."""
        schema: dict[str, Any]
        if self.list_of is not None:
            schema = {"type": "array", "items": Field(self.list_of, low=self.low, high=self.high,
                                                      low_open=self.low_open,
                                                      high_open=self.high_open).json_schema(),
                      "minItems": 1}
        else:
            # a kind JSON has no name for (`object`: checked by code elsewhere) leaves the type open
            schema = {"type": _JSON_TYPES[self.kind]} if self.kind in _JSON_TYPES else {}
            if self.choices is not None:
                schema["enum"] = list(self.choices)
            if self.low is not None:
                schema["exclusiveMinimum" if self.low_open else "minimum"] = self.low
            if self.high is not None:
                schema["exclusiveMaximum" if self.high_open else "maximum"] = self.high
        if self.nullable:
            schema = {"anyOf": [schema, {"type": "null"}]}
        if self.default is not _REQUIRED:
            schema["default"] = self.default
        if self.doc:
            schema["description"] = self.doc
        return schema


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


class PairsField(Field):
    """A list of distinct [a, b] pairs of names (which names exist is checked where they are known)."""

    def __init__(self, doc: str = "") -> None:
        """A pairs field (default: no pairs) described by `doc`."""
        super().__init__(list, [], doc=doc)

    def check(self, path: str, value: Any) -> Any:
        """`value` as a list of [a, b] pairs, each a distinct pair of two different names."""
        if not isinstance(value, list):
            raise ScenarioError(path, value, f"must be a list of [a, b] pairs, got {type(value).__name__}")
        seen: dict[frozenset, int] = {}
        for i, pair in enumerate(value):
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(name, str) for name in pair)):
                raise ScenarioError(f"{path}[{i}]", pair, "must be a pair of names [a, b]")
            if pair[0] == pair[1]:
                raise ScenarioError(f"{path}[{i}]", pair, "compares a normalizer with itself")
            key = frozenset(pair)
            if key in seen:
                raise ScenarioError(f"{path}[{i}]", pair, f"repeats the pair {path}[{seen[key]}]")
            seen[key] = i
        return [list(pair) for pair in value]

    def json_schema(self) -> dict[str, Any]:
        """This field as a JSON Schema: an array of two-string arrays."""
        pair = {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}
        return {"type": "array", "items": pair, "default": [], **({"description": self.doc} if self.doc else {})}


@dataclasses.dataclass(frozen=True)
class AutoOrBool(Field):
    """A switch that is `auto` (the harness decides), `true` or `false` (YAML booleans)."""

    kind: type[Any] = object

    def check(self, path: str, value: Any) -> Any:
        """`value` if it is `auto`, `true` or `false`."""
        if value == "auto" or isinstance(value, bool):
            return value
        raise ScenarioError(path, value, "must be auto, true or false")

    def json_schema(self) -> dict[str, Any]:
        """This field as a JSON Schema: the constant `auto` or a boolean."""
        return {"anyOf": [{"const": "auto"}, {"type": "boolean"}], "default": self.default,
                **({"description": self.doc} if self.doc else {})}


_did_you_mean = did_you_mean


def _mapping(path: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ScenarioError(path, value, f"must be a mapping, got {type(value).__name__}")
    return value


def check_keys(given: Mapping[str, Any], allowed: Iterable[str], required: Iterable[str]) -> None:
    """Refuse a top-level key of `given` not in `allowed` (naming the closest one) and a missing `required` key."""
    allowed = list(allowed)
    for key in given:
        if key not in allowed:
            raise ScenarioError(key, _MISSING, f"unknown key{_did_you_mean(key, allowed)}")
    for key in required:
        if key not in given:
            raise ScenarioError(key, _MISSING, "is required")


def _check_fields(path: str, given: Any, fields: Mapping[str, Field]) -> dict[str, Any]:
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
