"""NORMALIZER arguments of `python -m harness profile`: a built-in kind (`layernorm`), a plugin (`pkg.mod:Layer`
or an entry point's name), or `name=kind,param=value,...` (a name of one's own and parameters inline; values
are read as YAML scalars, so `groups=4` is the integer 4 and `r_max=null` is None).

Each becomes (name, normalizer config), checked by the normalizer registry as a scenario's entry is.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from harness.errors import UsageError, did_you_mean

_NAME_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def default_name(kind: str) -> str:
    """The name a bare kind gets: the kind itself, or a plugin's attribute (`pkg.mod:MyNorm` -> `MyNorm`)."""
    name = _NAME_SAFE.sub("_", kind.rsplit(":", 1)[-1].rsplit(".", 1)[-1])
    return name.lstrip("_.-") or "plugin"


def parse(argument: str) -> tuple[str, dict]:
    """(name, config) of one NORMALIZER argument; UsageError (one line) when it cannot be read."""
    from harness.scenario import NAME_PATTERN

    text = argument.strip()
    if not text:
        raise UsageError("NORMALIZER: '' is empty (a kind, module:attr, or name=kind,param=value)")
    parts = [p.strip() for p in text.split(",")]
    first = parts[0]
    if "=" in first:
        name, kind = (s.strip() for s in first.split("=", 1))
    else:
        name, kind = default_name(first), first
    if not kind:
        raise UsageError(f"NORMALIZER: {argument!r} names no kind (name=kind,param=value)")
    if not NAME_PATTERN.fullmatch(name) or "__" in name:
        raise UsageError(f"NORMALIZER: {name!r} is not a valid name (letters, digits, '_', '-', '.'; no '__')")
    config: dict[str, Any] = {"kind": kind}
    for part in parts[1:]:
        if "=" not in part:
            raise UsageError(f"NORMALIZER {name}: {part!r} is not param=value")
        key, value = (s.strip() for s in part.split("=", 1))
        try:
            config[key] = yaml.safe_load(value) if value else None
        except yaml.YAMLError:
            config[key] = value
    return name, config


def resolve(arguments: list[str], references: dict) -> dict[str, dict]:
    """[(name, validated config)] of the profiled normalizers, references excluded; the same name twice, or
    a name a reference holds with another config, is a UsageError. Kinds and parameters are checked now
    (a plugin is imported to read its parameters)."""
    from harness.norms import kinds
    from harness.norms.spec import NormalizerConfigError

    found: dict[str, dict] = {}
    known = kinds.available()  # built-ins and installed entry points, listed without importing TensorFlow
    for argument in arguments:
        name, config = parse(argument)
        if ":" not in config["kind"] and config["kind"] not in known:
            raise UsageError(f"NORMALIZER {argument}: kind {config['kind']!r} is not one of {', '.join(known)} "
                             f"(or a plugin given as 'module.path:attribute'){did_you_mean(config['kind'], known)}")
        try:
            kind = kinds.get(config["kind"])
            for key in config:
                if key != "kind" and key not in kind.parameters and not kind.accepts_any:
                    raise NormalizerConfigError(key, config[key], f"is an unknown parameter for kind {config['kind']}"
                                                f"{did_you_mean(key, kind.parameters)}")
            config = kind.validate(dict(config))
        except NormalizerConfigError as error:
            raise UsageError(f"NORMALIZER {argument}: {error.param}: {error.value!r} {error.reason}") from None
        if name in found:
            raise UsageError(f"NORMALIZER: {name!r} is given twice (name one of them: other={config['kind']},...)")
        if name in references:
            raise UsageError(f"NORMALIZER: {name!r} is a reference normalizer of the battery (always trained); "
                             f"give yours another name ({name}2={config['kind']},...)")
        found[name] = config
    return found


def supports_microbatches(config: dict) -> bool:
    """Whether a normalizer's kind takes `microbatch_size` (how microbatches are expressed: harness.norms)."""
    from harness.norms import kinds

    return "microbatch_size" in kinds.get(config["kind"]).parameters
