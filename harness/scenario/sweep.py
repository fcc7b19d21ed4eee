"""Sweeps: a scenario's `sweep:` section expanded into validated scenario points.

    sweep:
      training.batch_size: [2, 4, 8, 16, 32]        # cartesian product over plain keys
      zip:                                           # paired lists, advanced together
        samplers.corr.classes_per_batch: [1, 2, 4]
        normalizers.brn.r_max: [1.5, 2, 3]

This module only builds the grid of raw scenario mappings; `harness.scenario.expand` validates every
point (feasibility included) before anything runs. It imports nothing of the harness but its errors,
so the scenario module can use it without an import circle.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Sequence
from typing import Any

from harness.errors import MISSING as _MISSING
from harness.errors import ScenarioError
from harness.errors import did_you_mean as _did_you_mean
from harness.params.limits import MAX_SWEEP_POINTS


def _axes(sweep: dict[str, Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(paths, list of value tuples) for the product of plain keys and the zipped group."""
    plain = {k: v for k, v in sweep.items() if k != "zip"}
    zipped = sweep.get("zip") or {}
    if not isinstance(zipped, dict):
        raise ScenarioError("sweep.zip", zipped, "must map field paths to lists")
    for path in set(plain) & set(zipped):
        raise ScenarioError(f"sweep.zip.{path}", _MISSING, "is also swept outside zip")
    for path, values in [*plain.items(), *zipped.items()]:
        where = f"sweep.zip.{path}" if path in zipped else f"sweep.{path}"
        if not isinstance(path, str) or not path:
            raise ScenarioError(f"sweep.{'zip.' if path in zipped else ''}{path!r}", _MISSING,
                                "is not a field path (a string such as training.batch_size)")
        if not isinstance(values, list) or not values:
            raise ScenarioError(where, values, "must be a non-empty list of values")
        if path not in zipped:
            _check_distinct(where, values)
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        raise ScenarioError("sweep.zip", {k: len(v) for k, v in zipped.items()}, "lists must have equal lengths")
    if len(lengths) == 1:  # zipped lists may repeat a value, but not a whole row
        _check_distinct("sweep.zip", [list(row) for row in zip(*zipped.values(), strict=False)])
    n_points = math.prod(len(v) for v in plain.values()) * (lengths.pop() if lengths else 1)
    if n_points > MAX_SWEEP_POINTS:
        raise ScenarioError("sweep", n_points, f"points exceed the limit of {MAX_SWEEP_POINTS:,} per scenario")
    paths = list(plain) + list(zipped)
    zipped_rows = list(zip(*zipped.values(), strict=False)) if zipped else [()]
    rows = [tuple(p) + tuple(z) for p in itertools.product(*plain.values()) for z in zipped_rows]
    return paths, rows


def _check_distinct(where: str, values: Sequence[Any]) -> None:
    """A value given twice would run one point twice and count its result as two."""
    seen: set[str] = set()
    for value in values:
        try:
            key = json.dumps(_numbers_as_floats(value), sort_keys=True, default=repr)
        except (TypeError, ValueError):  # keys of mixed types: compare by repr
            key = repr(value)
        if key in seen:
            raise ScenarioError(where, value, "is repeated (each swept value may appear once)")
        seen.add(key)


def _numbers_as_floats(value: Any) -> Any:
    """1 and 1.0 set a float field to the same value."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        return [_numbers_as_floats(v) for v in value]
    return value


def _set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node = tree
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            known = [".".join(keys[:depth] + [k]) for k in node] if isinstance(node, dict) else []
            raise ScenarioError(f"sweep.{path}", _MISSING,
                                f"names no field of the scenario{_did_you_mean(path, known)}")
        if depth == len(keys) - 1:
            node[key] = value
        else:
            node = node[key]


def _is_kind(path: str) -> bool:
    """A swept path that changes a normalizer's or sampler's kind (`normalizers.<name>.kind`)."""
    parts = path.split(".")
    return len(parts) == 3 and parts[0] in ("normalizers", "samplers") and parts[2] == "kind"


def grid(base: dict[str, Any], sweep: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """[(point, raw scenario mapping)] for every point of `sweep` applied to the mapping `base` (not validated)."""
    paths, rows = _axes(sweep)
    if any(path.split(".")[0] in ("sweep", "seeds", "name") for path in paths):
        raise ScenarioError("sweep", paths, "may not sweep name, seeds or sweep")
    base = copy.deepcopy(base)
    base["sweep"] = {}
    for path in paths:
        _set_path(copy.deepcopy(base), path, None)  # every path names a field, whatever the values
    points = []
    for row in rows:
        point = dict(zip(paths, row, strict=False))
        raw = copy.deepcopy(base)
        for path, value in sorted(point.items(), key=lambda item: not _is_kind(item[0])):  # kinds first
            if _is_kind(path):
                section, name, _ = path.split(".")
                entry = raw.get(section, {}).get(name)
                if isinstance(entry, dict) and entry.get("kind") != value:
                    # another kind: the parameters (defaults filled in) were the old kind's; the new one starts
                    # from its own defaults, and from the parameters swept at this point
                    raw[section][name] = {"kind": entry.get("kind")}
            _set_path(raw, path, value)
        points.append((point, raw))
    return points
