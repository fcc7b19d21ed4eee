"""Sweeps: a scenario's `sweep:` section expanded into validated scenario points.

    sweep:
      training.batch_size: [2, 4, 8, 16, 32]        # cartesian product over plain keys
      zip:                                           # paired lists, advanced together
        samplers.corr.classes_per_batch: [1, 2, 4]
        normalizers.brn.r_max: [1.5, 2, 3]

Every point is validated (feasibility included) before anything runs.
"""

import copy
import itertools
import json
import math
import sys

from harness.limits import MAX_SWEEP_POINTS
from harness.scenario import _MISSING, ScenarioError, _did_you_mean, validate


def _axes(sweep):
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
        _check_distinct("sweep.zip", [list(row) for row in zip(*zipped.values())])
    n_points = math.prod(len(v) for v in plain.values()) * (lengths.pop() if lengths else 1)
    if n_points > MAX_SWEEP_POINTS:
        raise ScenarioError("sweep", n_points, f"points exceed the limit of {MAX_SWEEP_POINTS:,} per scenario")
    paths = list(plain) + list(zipped)
    zipped_rows = list(zip(*zipped.values())) if zipped else [()]
    rows = [tuple(p) + tuple(z) for p in itertools.product(*plain.values()) for z in zipped_rows]
    return paths, rows


def _check_distinct(where, values):
    """A value given twice would run one point twice and count its result as two."""
    seen = set()
    for value in values:
        try:
            key = json.dumps(_numbers_as_floats(value), sort_keys=True, default=repr)
        except (TypeError, ValueError):  # keys of mixed types: compare by repr
            key = repr(value)
        if key in seen:
            raise ScenarioError(where, value, "is repeated (each swept value may appear once)")
        seen.add(key)


def _numbers_as_floats(value):
    """1 and 1.0 set a float field to the same value."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        return [_numbers_as_floats(v) for v in value]
    return value


def _set_path(tree, path, value):
    keys = path.split(".")
    node = tree
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            known = [".".join(keys[:depth] + [k]) for k in node] if isinstance(node, dict) else []
            raise ScenarioError(f"sweep.{path}", _MISSING, f"names no field of the scenario{_did_you_mean(path, known)}")
        if depth == len(keys) - 1:
            node[key] = value
        else:
            node = node[key]


_EXPANDED = {}


def expand(scenario, skip_infeasible=False):
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


def _expand(scenario, skip_infeasible):
    paths, rows = _axes(scenario.sweep)
    if any(path.split(".")[0] in ("sweep", "seeds", "name") for path in paths):
        raise ScenarioError("sweep", paths, "may not sweep name, seeds or sweep")
    base = scenario.to_dict()
    base["sweep"] = {}
    points = []
    for path in paths:
        _set_path(copy.deepcopy(base), path, None)  # every path names a field, whatever the values
    for row in rows:
        point = dict(zip(paths, row))
        raw = copy.deepcopy(base)
        for path, value in point.items():
            _set_path(raw, path, value)
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
