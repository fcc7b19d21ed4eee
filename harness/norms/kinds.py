"""The normalizer registry: every kind a scenario can name, each one entry.

An entry (`NormalizerKind`) holds the kind's parameters and defaults, its validation (pure Python: a
scenario with built-in kinds is validated without importing TensorFlow), its builder, and the analyzer's
traits of the layers it builds (`traits`: a "module:Class" of `harness.norms.statistics`, or None when
the layer describes itself through the optional hooks, or is duck-typed).

The built-ins are found exactly as plugins are: `BUILTINS` maps each name to the "module:attribute" of
its entry. Plugins: an entry point of group `harness.normalizers`, or the kind "module.path:Attribute",
where the attribute is a Keras layer class, a factory returning a layer, or a `NormalizerKind`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from harness.norms import spec
from harness.params.fields import Field
from harness.plugins import resolve as plugins
from harness.runtime import heavy

ENTRY_POINT_GROUP = "harness.normalizers"

KERAS_BN_TRAITS = "harness.norms.statistics:KerasBatchNormTraits"
NO_BATCH_STATISTICS = "harness.norms.statistics:NoBatchStatistics"


@dataclasses.dataclass(frozen=True)
class NormalizerKind(plugins.Entry):
    """One normalizer kind.

    Parameters
    ----------
    name : str
        The kind as a scenario names it.
    description : str
        One line for `python -m harness normalizers`.
    parameters : dict
        Every parameter with its default (the resolved scenario has them all).
    build : callable
        `build(name, **parameters) -> keras.layers.Layer`; imports TensorFlow itself.
    check : callable, optional
        `check(config)` on the config with defaults filled; raises `spec.NormalizerConfigError`. Pure Python.
    check_width : callable, optional
        `check_width(config, width) -> (parameter, reason) | None`: can this layer normalize `width` channels?
    traits : str, optional
        "module:Class" of the analyzer traits of the layers it builds (see `harness.norms.statistics`);
        None: the layer's own hooks, or a duck-typed check of its variables.
    """

    build: Callable[..., Any] | None = None
    check: Callable[[dict[str, Any]], object] | None = None
    check_width: Callable[[dict[str, Any], int], tuple[str, str] | None] | None = None
    traits: str | None = None

    def validate(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """`cfg` (with `kind`) with the defaults filled in; NormalizerConfigError on a bad entry."""
        params = self.fill({k: v for k, v in cfg.items() if k != "kind"}, spec.NormalizerConfigError, "kind")
        full = {"kind": cfg["kind"], **params}  # each parameter checked against its declaration by `fill`
        if self.check is not None:
            self.check(full)
        return full


# ------------------------------------------------------------------------------------------ built-ins
def _build_batchnorm(name: str, microbatch_size: int | None, **params: Any) -> Any:
    keras = heavy.keras()

    if microbatch_size is None:
        return keras.layers.BatchNormalization(name=name, **params)
    from harness.norms.microbatch_bn import MicrobatchBatchNormalization

    return MicrobatchBatchNormalization(microbatch_size=microbatch_size, name=name, **params)


def _build_batchrenorm(name: str, **params: Any) -> Any:
    from harness.norms.batch_renorm import BatchRenormalization

    return BatchRenormalization(name=name, **params)


def _check_batchrenorm(cfg: dict[str, Any]) -> None:
    spec.check_batch_renorm_arguments(**{k: v for k, v in cfg.items() if k != "kind"})


def _build_keras_renorm(name: str, r_max: float | None, d_max: float | None, **params: Any) -> Any:
    keras = heavy.keras()

    clipping: dict[str, float] = {}
    if r_max is not None:
        clipping.update(rmax=float(r_max), rmin=1.0 / float(r_max))
    if d_max is not None:
        clipping["dmax"] = float(d_max)
    return keras.layers.BatchNormalization(renorm=True, renorm_clipping=clipping, name=name, **params)


def _build_groupnorm(name: str, **params: Any) -> Any:
    keras = heavy.keras()

    return keras.layers.GroupNormalization(name=name, **params)


def _groups_divide(cfg: dict[str, Any], width: int) -> tuple[str, str] | None:
    return None if width % cfg["groups"] == 0 else ("groups", f"does not divide model width {width}")


def _build_layernorm(name: str, **params: Any) -> Any:
    keras = heavy.keras()

    return keras.layers.LayerNormalization(name=name, **params)


def _build_none(name: str) -> Any:
    keras = heavy.keras()

    return keras.layers.Identity(name=name)


# Every built-in parameter declared once, with its type and range: validation (`NormalizerKind.validate`) and the
# JSON Schema (`harness.scenario.schema`) read these; cross-parameter rules are the kinds' `check`.
_AXIS = Field(int, -1, doc="The channel axis.")
_MOMENTUM = Field(float, 0.99, low=0, high=1, low_open=True, high_open=True,
                  doc="Moving-average momentum of the inference statistics.")
_EPSILON = Field(float, 1e-3, low=0, low_open=True, doc="Added to the variance.")
_MICROBATCH = Field(int, None, low=1, nullable=True,
                    doc="Normalize each contiguous group of this many examples with its own statistics (null: off).")
_BN = {"axis": _AXIS, "momentum": _MOMENTUM, "epsilon": _EPSILON}

BATCHNORM = NormalizerKind(
    "batchnorm", "Keras BatchNormalization; microbatch_size=k normalizes each contiguous group of k examples "
    "with its own statistics (ghost batches)",
    {**_BN, "microbatch_size": _MICROBATCH}, _build_batchnorm, traits=KERAS_BN_TRAITS)
BATCHRENORM = NormalizerKind(
    "batchrenorm", "harness.norms.BatchRenormalization: Ioffe 2017, Algorithm 1, with warm-up and r/d schedule",
    {**_BN, "r_max": Field(float, 3.0, low=1, doc="Clip of r in [1/r_max, r_max] after the ramp."),
     "d_max": Field(float, 5.0, low=0, doc="Clip of d in [-d_max, d_max] after the ramp."),
     "warmup_steps": Field(int, 0, low=0, doc="Training steps of plain batch normalization (r = 1, d = 0)."),
     "r_max_ramp_end": Field(int, None, low=0, nullable=True, doc="Step r_max is reached (null: right after the "
                                                                  "warm-up)."),
     "d_max_ramp_end": Field(int, None, low=0, nullable=True, doc="Step d_max is reached (null: right after the "
                                                                  "warm-up)."),
     "microbatch_size": _MICROBATCH},
    _build_batchrenorm, check=_check_batchrenorm)  # traits: the layer's own hooks
KERAS_RENORM = NormalizerKind(
    "keras_renorm", "keras.layers.BatchNormalization(renorm=True): fixed clip r in [1/r_max, r_max], "
    "d in [-d_max, d_max]; None: no clip",
    {**_BN, "renorm_momentum": Field(float, 0.99, low=0, high=1, low_open=True, high_open=True,
                                     doc="Momentum of the renorm moving statistics."),
     "r_max": Field(float, 3.0, low=1, nullable=True, doc="Clip of r (null: no clip)."),
     "d_max": Field(float, 5.0, low=0, nullable=True, doc="Clip of d (null: no clip).")},
    _build_keras_renorm, traits=KERAS_BN_TRAITS)
GROUPNORM = NormalizerKind(
    "groupnorm", "keras.layers.GroupNormalization (no batch statistics)",
    {"axis": _AXIS, "groups": Field(int, 8, low=1, doc="Channel groups (must divide every width)."),
     "epsilon": _EPSILON},
    _build_groupnorm, check_width=_groups_divide, traits=NO_BATCH_STATISTICS)
LAYERNORM = NormalizerKind(
    "layernorm", "keras.layers.LayerNormalization (no batch statistics)", {"axis": _AXIS, "epsilon": _EPSILON},
    _build_layernorm, traits=NO_BATCH_STATISTICS)
NONE = NormalizerKind("none", "no normalization (keras.layers.Identity)", {}, _build_none, traits=NO_BATCH_STATISTICS)

BUILTINS = {
    "batchnorm": "harness.norms.kinds:BATCHNORM",
    "batchrenorm": "harness.norms.kinds:BATCHRENORM",
    "keras_renorm": "harness.norms.kinds:KERAS_RENORM",
    "groupnorm": "harness.norms.kinds:GROUPNORM",
    "layernorm": "harness.norms.kinds:LAYERNORM",
    "none": "harness.norms.kinds:NONE",
}


# ------------------------------------------------------------------------------------------- plugins
def takes_name(obj: object) -> bool:
    """Whether a plugin's class or factory accepts `name=` (a layer class, `name`, or **kwargs)."""
    if isinstance(obj, type):
        return True  # Keras layers take `name`
    found, any_keyword = plugins.signature_parameters(obj)
    return any_keyword or "name" in found


def named_layer_builder(obj: Callable[..., Any]) -> Callable[..., Any]:
    """`build(layer_name, **params)` for a plugin class or factory: the user's own arguments only are passed,
    and the harness names the layer itself (by `name=` where the factory takes it, else by setting the built
    layer's name before it is used)."""
    passes_name = takes_name(obj)

    def build(layer_name: str, **params: Any) -> Any:
        if passes_name:
            return obj(name=layer_name, **params)
        layer = obj(**params)
        try:
            layer.name = layer_name
        except AttributeError:  # not a layer: plugin_check names the problem
            pass
        return layer

    return build


def plugin_kind(name: str, obj: object) -> NormalizerKind:
    """The entry of a plugin given as a layer class or factory: its parameters are its keyword arguments.

    Validating it constructs it (`check_plugin`), which imports whatever the plugin imports.
    """
    if isinstance(obj, NormalizerKind):
        return dataclasses.replace(obj, name=name, plugin=True)
    if not callable(obj):
        raise spec.NormalizerConfigError("kind", name, f"is {obj!r}, not a layer class, a factory or a NormalizerKind")
    found, any_keyword = plugins.signature_parameters(obj, skip=plugins.KERAS_LAYER_ARGUMENTS)
    parameters = {k: v for k, v in found.items() if plugins.yaml_safe(v) or v is plugins.REQUIRED}
    description = ((obj.__doc__ or "").strip().splitlines() or [f"plugin {name}"])[0]

    build = named_layer_builder(obj)
    return NormalizerKind(name, description, parameters, build, plugin=True, accepts_any=any_keyword)


def get(kind: str) -> NormalizerKind:
    """The registry entry of `kind`: a built-in name, an entry-point name or "module.path:Attribute".

    Raises NormalizerConfigError (param `kind`) when it does not resolve or import.
    """
    obj, builtin = plugins.resolve("kind", kind, BUILTINS, ENTRY_POINT_GROUP, "normalizer kind",
                                   error=spec.NormalizerConfigError, prepare=plugins.quiet_tensorflow)
    return obj if builtin else plugin_kind(kind, obj)


def available() -> list[str]:
    """The built-in kinds, then the installed plugins (module paths are not enumerable)."""
    return plugins.available(BUILTINS, ENTRY_POINT_GROUP)


def is_builtin(kind: object) -> bool:
    """Whether `kind` names a built-in normalizer kind (not a plugin)."""
    return kind in BUILTINS



def validate_normalizer_config(cfg: object) -> dict[str, Any]:
    """Return `cfg` with the kind's defaults filled in; raise NormalizerConfigError on a bad entry.

    The rules are the kind's registry entry (this module); a plugin kind is imported to read its
    parameters, not constructed (`harness.norms.plugin_check` does that).
    """
    if not isinstance(cfg, dict):
        raise spec.NormalizerConfigError("kind", cfg, "config must be a mapping with a `kind` key")
    return get(cfg.get("kind")).validate(cfg)  # type: ignore[arg-type]  # a missing kind: get refuses it

# The built-in kinds' parameters and defaults ({kind: {param: default}}), read from their entries.
NORMALIZER_KINDS = {kind: dict(get(kind).parameters) for kind in BUILTINS}
