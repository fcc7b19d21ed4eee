"""A JSON Schema (draft 2020-12) of the scenario format, generated from the definitions validation uses.

Editors (the YAML language server, PyCharm, VS Code) validate and complete a scenario file from it. It is
built from the same `Field` tables and registries that `harness.scenario.validate` checks against, so the two
cannot drift; it may be looser than validation where a check needs the data (feasibility) or code (a plugin's
own argument checks), never stricter: a scenario the schema rejects is rejected by `validate` too (tested).

Examples
--------
>>> from harness.scenario.schema import scenario_schema
>>> schema = scenario_schema(plugins=False)
>>> schema["properties"]["training"]["properties"]["batch_size"]["minimum"]
1
"""

from __future__ import annotations

import json
import math
from types import ModuleType
from typing import Any

from harness import scenario as sc
from harness.params import fields as field_defs

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# A plugin given as "module.path:ClassOrFunction": the schema cannot know its parameters.
PLUGIN_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*$"



def _fields_object(fields: dict, extra: dict | None = None, description: str = "") -> dict:
    """A closed object of `fields` (unknown keys rejected, as validation does), required ones listed."""
    properties = {**(extra or {}), **{key: field.json_schema() for key, field in fields.items()}}
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    required = [key for key, field in fields.items() if field.default is field_defs._REQUIRED]
    if required:
        schema["required"] = required
    if description:
        schema["description"] = description
    return schema


def _default_schema(default: object) -> dict:
    """A parameter known only by its default: its JSON type, or null (several parameters take None, e.g.
    keras_renorm's r_max for "no clip", which only their validation code knows); any type when the default is
    None."""
    if default is None or type(default) not in field_defs._JSON_TYPES:
        return {}
    schema: dict[str, Any] = {"type": [field_defs._JSON_TYPES[type(default)], "null"]}
    if not (isinstance(default, float) and not math.isfinite(default)):
        schema["default"] = default
    return schema


def _discriminated(key: str, variants: dict, open_pattern: str | None = None, description: str = "") -> dict:
    """An object whose `key` picks one of `variants` (name -> closed object schema without `key`).

    With `open_pattern`, a `key` matching it (a plugin path) admits any other keys.
    """
    names = list(variants)
    key_schema: dict[str, Any] = {"type": "string"}
    if open_pattern is None:
        key_schema["enum"] = names
    else:
        key_schema["anyOf"] = [{"enum": names}, {"pattern": open_pattern}]
    branches = []
    for name, body in variants.items():
        branch_properties = {key: {"const": name}, **body.get("properties", {})}
        then = {"properties": branch_properties, "additionalProperties": body.get("additionalProperties", False)}
        if body.get("required"):
            then["required"] = body["required"]
        branches.append({"if": {"properties": {key: {"const": name}}, "required": [key]}, "then": then})
    schema = {"type": "object", "properties": {key: key_schema}, "required": [key], "allOf": branches}
    if description:
        schema["description"] = description
    return schema


def _data_schema() -> dict:
    """Each source's own fields, plus the input fields every source takes (`standardize`, `augment` with its
    own closed object of fields)."""
    common = _fields_object(sc.DATA_INPUT_FIELDS)["properties"]
    common["augment"] = {**common["augment"], **_fields_object(sc.AUGMENT_FIELDS)}
    from harness.data import sources as data_sources

    variants = {name: _fields_object(data_sources.get(name).fields, extra=common) for name in data_sources.BUILTINS}
    return _discriminated("name", variants, PLUGIN_PATTERN,
                          "The dataset: a built-in source and its options, or a plugin loader 'module.path:function'.")


def _parameter_schema(field: field_defs.Field) -> dict:
    """A registry entry's parameter: its declared type and range (`harness.params.fields.Field`), or, for a plugin's
    parameter known only by its default, that default's type."""
    if field.kind is object:
        return _default_schema(None if field.default is field_defs._REQUIRED else field.default)
    return field.json_schema()


def _registry_variants(registry: ModuleType, plugins: bool) -> dict:
    """{name: object schema of its parameters} for a registry (`harness.models.kinds`, `harness.norms.kinds`):
    the built-ins, and with `plugins` the entry-point plugins installed here (a broken one is left out)."""
    from harness.plugins import resolve as plugin_api

    names = list(registry.BUILTINS) if not plugins else registry.available()
    variants = {}
    for name in names:
        try:
            entry = registry.get(name)
        except plugin_api.PluginError:
            continue  # validate reports it; the schema leaves it out
        body: dict[str, Any] = {"type": "object",
                                "properties": {p: _parameter_schema(field) for p, field in entry.fields.items()}}
        required = [p for p, d in entry.parameters.items() if d is plugin_api.REQUIRED]
        if required:
            body["required"] = required
        if entry.accepts_any:
            body["additionalProperties"] = True
        variants[name] = body
    return variants


def _model_schema(plugins: bool) -> dict:
    from harness.models import kinds as model_kinds

    return _discriminated("name", _registry_variants(model_kinds, plugins), PLUGIN_PATTERN,
                          "The network, a built-in or a plugin 'module.path:function'; every normalization slot "
                          "gets the trial's normalizer.")


def _normalizer_schema(plugins: bool) -> dict:
    from harness.norms import kinds

    return _discriminated("kind", _registry_variants(kinds, plugins), PLUGIN_PATTERN,
                          "A normalizer: a built-in kind and its parameters, or a plugin "
                          "'module.path:ClassOrFactory'.")


def _sampler_schema(plugins: bool) -> dict:
    import samplers

    names = list(samplers.registry.BUILTINS) if not plugins else samplers.available()
    variants = {}
    for name in names:
        try:
            parameters = samplers.get(name).parameters()
        except samplers.SamplerParameterError:
            continue  # a broken plugin: validate reports it; the schema leaves it out
        body = {"type": "object",
                "properties": {p: _default_schema(None if d is samplers.REQUIRED else d)
                               for p, d in parameters.items()}}
        required = [p for p, d in parameters.items() if d is samplers.REQUIRED]
        if required:
            body["required"] = required
        variants[name] = body
    return _discriminated("kind", variants, PLUGIN_PATTERN, "A minibatch sampler: a built-in kind and its "
                                                            "parameters, or a plugin 'module.path:ClassName'.")


def _named(entry: dict, description: str) -> dict:
    """A mapping of user-chosen names (validated as `NAME_PATTERN`, no '__') to `entry`."""
    return {"type": "object", "minProperties": 1, "description": description,
            "propertyNames": {"pattern": sc.NAME_PATTERN.pattern, "not": {"pattern": "__"}},
            "additionalProperties": entry}


def scenario_schema(plugins: bool = True) -> dict:
    """The JSON Schema of a scenario file.

    Parameters
    ----------
    plugins : bool
        Include the sampler plugins installed here (entry points). The file shipped in the repository is
        generated with ``plugins=False`` so it does not depend on the machine.

    Returns
    -------
    dict
        A draft 2020-12 JSON Schema.
    """
    seed = sc.Field(int, low=0, high=sc.MAX_SEED).json_schema()
    properties = {
        "name": {"type": "string", "pattern": sc.NAME_PATTERN.pattern,
                 "description": "Names the output folder reports/<name>/."},
        "description": {"type": "string", "default": ""},
        "data": _data_schema(),
        "model": _model_schema(plugins),
        "normalizers": _named(_normalizer_schema(plugins), "The normalizers compared, by the names the tables use."),
        "samplers": _named(_sampler_schema(plugins), "The minibatch samplers, by the names the tables use."),
        "training": _fields_object(sc.TRAINING_FIELDS, description="How every trial trains."),
        "seeds": {"type": "array", "items": seed, "minItems": 1, "uniqueItems": True,
                  "description": "One trial per seed; the same seed gives every normalizer the same initial "
                                 "weights and batch stream."},
        "analysis": _fields_object(sc.ANALYSIS_FIELDS, description="What the analyzer measures, and when."),
        "sweep": {"type": ["object", "null"], "description": "Dotted field paths mapped to lists of values "
                                                             "(cartesian product); `zip:` pairs lists.",
                  "properties": {"zip": {"type": "object", "description": "Paired lists, advanced together.",
                                         "additionalProperties": {"type": "array", "minItems": 1}}},
                  "additionalProperties": {"type": "array", "minItems": 1}},
    }
    assert set(properties) == set(sc.TOP_LEVEL), "the schema's top level must list exactly the scenario's keys"
    return {
        "$schema": DIALECT,
        "title": "minibatch-harness scenario",
        "description": "A scenario of the non-i.i.d. minibatch stress-test harness (python -m harness run FILE).",
        "type": "object",
        "properties": properties,
        "required": ["name", "data", "model", "normalizers", "samplers", "seeds"],
        "additionalProperties": False,
    }


def dumps(schema: dict) -> str:
    """The schema as the text of the shipped file (stable key order, trailing newline)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
