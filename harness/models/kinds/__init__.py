"""The model registry: every network a scenario's `model.name` can name, each one entry.

Pure Python: a scenario with a built-in model is validated without importing TensorFlow. The builders
live in `harness.models.builders` (or in a plugin) and are imported when a model is built.

Builder contract: `build(norm, input_shape, num_classes, **params) -> keras.Model` returning logits, where
`norm()` returns a new layer of the scenario's normalizer for each normalization slot. A builder that never
calls `norm` and returns a model with `keras.layers.BatchNormalization` layers gets each of them replaced by
the scenario's normalizer. A builder that accepts a `seed` keyword gets the trial's seed.

Built-ins are found exactly as plugins are: `BUILTINS` maps each name to the "module:attribute" of its
entry. Plugins: an entry point of group `harness.models.builders`, or the name "module.path:function".
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from harness.params.fields import Field
from harness.plugins import resolve as plugins

ENTRY_POINT_GROUP = "harness.models"


class ModelConfigError(plugins.PluginError):
    """A bad model parameter: `.param` (relative to `model.`), `.value`, `.reason`."""


@dataclasses.dataclass(frozen=True)
class ModelKind(plugins.Entry):
    """One model.

    Parameters
    ----------
    name : str
        As `model.name` names it.
    description : str
        One line.
    parameters : dict
        Every parameter with its default (the resolved scenario has them all).
    builder : str or callable
        "module:function" (imported when a model is built) or the function, following the builder contract.
    check : callable, optional
        `check(params)` on the parameters with defaults filled; raises ModelConfigError. Pure Python.
    slot_widths : callable, optional
        `slot_widths(params) -> list of int`: the channel counts its normalization slots see (lets a
        normalizer check it fits without building the model).
    family : str, optional
        The architecture family XLA's `auto` setting is measured by (`harness.train.xla.AUTO`: mlp, convnet,
        resnet); None (a plugin that declares none): XLA off under `auto` until measured.
    tabular : bool, optional
        Whether it accepts flat (N, F) tabular input; None (a plugin that declares nothing): not refused
        before the plugin check builds it on the real input.
    """

    builder: str | Callable[..., Any] | None = None
    check: Callable[[dict[str, Any]], object] | None = None
    slot_widths: Callable[[dict[str, Any]], list[int]] | None = None
    family: str | None = dataclasses.field(default=None, kw_only=True)
    tabular: bool | None = dataclasses.field(default=None, kw_only=True)

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` (without `name`) with the defaults filled in; ModelConfigError on a bad one."""
        full = self.fill(params, ModelConfigError, "model")
        if self.check is not None:
            self.check(full)
        return full

    def load(self) -> Callable[..., Any]:
        """The builder function."""
        if callable(self.builder):
            return self.builder
        return plugins.import_path("name", self.name, self.builder)  # type: ignore[arg-type]  # set on every entry


# ------------------------------------------------------------------------------------------ built-ins
# Every built-in parameter declared once, with its type and range: validation (`ModelKind.validate`) and the JSON
# Schema (`harness.scenario.schema`) read these; cross-parameter rules are the kinds' `check`.
def _widths_field(default: list[int]) -> Field:
    return Field(list, default, list_of=int, low=1, doc="Units or channels of each stage (its normalization slots).")


def _widths(params: dict[str, Any]) -> list[int]:
    return params["widths"]


MLP = ModelKind("mlp", "Dense layers of `widths` units, each followed by the normalizer and ReLU",
                {"widths": _widths_field([128, 128])}, "harness.models.builders:mlp", None, _widths, family="mlp",
                tabular=True)
CONVNET = ModelKind("convnet", "3x3 convolutions of `widths` filters (normalizer, ReLU, 2x2 max-pooling between)",
                    {"widths": _widths_field([32, 64])}, "harness.models.builders:convnet", None, _widths,
                    family="convnet", tabular=False)
RESNET = ModelKind("resnet", "a small residual network: one stage of `blocks_per_stage` basic blocks per width",
                   {"widths": _widths_field([16, 32]),
                    "blocks_per_stage": Field(int, 1, low=1, high=8, doc="Basic blocks per stage.")},
                   "harness.models.builders:resnet", None, _widths, family="resnet", tabular=False)

SHORTCUTS = ("zero_pad", "projection")


def _check_cifar_resnet(params: dict[str, Any]) -> None:
    widths = params["widths"]
    if params["shortcut"] == "zero_pad" and any(b < a for a, b in zip(widths, widths[1:], strict=False)):
        raise ModelConfigError("widths", widths, "must not decrease with shortcut zero_pad (use projection: "
                                                 "option A pads channels, it cannot drop them)")


def _cifar_resnet(depth: int, blocks: int) -> ModelKind:
    return ModelKind(f"resnet{depth}", f"He et al. 2016's CIFAR ResNet-{depth}: 3 stages of {blocks} basic blocks "
                     "(16/32/64 channels); identity shortcuts, zero-padding (option A) or projection (B) where the "
                     "shape changes",
                     {"widths": _widths_field([16, 32, 64]),
                      "shortcut": Field(str, "zero_pad", choices=SHORTCUTS,
                                        doc="Where the shape changes: zero_pad (option A) or projection (B).")},
                     f"harness.models.builders:resnet{depth}", _check_cifar_resnet, _widths, family="resnet",
                     tabular=False)


RESNET20, RESNET32, RESNET56 = _cifar_resnet(20, 3), _cifar_resnet(32, 5), _cifar_resnet(56, 9)

BUILTINS = {
    "mlp": "harness.models.kinds:MLP",
    "convnet": "harness.models.kinds:CONVNET",
    "resnet": "harness.models.kinds:RESNET",
    "resnet20": "harness.models.kinds:RESNET20",
    "resnet32": "harness.models.kinds:RESNET32",
    "resnet56": "harness.models.kinds:RESNET56",
}

# Arguments the harness passes itself: never a scenario's model parameter.
RESERVED = ("norm", "input_shape", "num_classes", "seed")


def plugin_kind(name: str, obj: object) -> ModelKind:
    """The entry of a plugin builder function: its parameters are its keyword arguments after the contract's.

    A builder may declare its family and tabular input as attributes (`builder.family = "resnet"`,
    `builder.tabular = True`); a `ModelKind` declares them as fields. Undeclared: no family (XLA off under
    `auto`), tabular input not refused before the plugin check.
    """
    if isinstance(obj, ModelKind):
        return dataclasses.replace(obj, name=name, plugin=True)
    if not callable(obj) or inspect.isclass(obj):
        raise ModelConfigError("name", name, f"is {obj!r}, not a model builder function")
    found, any_keyword = plugins.signature_parameters(obj, skip=RESERVED)
    description = ((obj.__doc__ or "").strip().splitlines() or [f"plugin {name}"])[0]
    family, tabular = getattr(obj, "family", None), getattr(obj, "tabular", None)
    if family is not None and not isinstance(family, str):
        raise ModelConfigError("name", name, f"declares family {family!r}, not a string")
    if tabular is not None and not isinstance(tabular, bool):
        raise ModelConfigError("name", name, f"declares tabular {tabular!r}, not true or false")
    return ModelKind(name, description, found, obj, plugin=True, accepts_any=any_keyword, family=family,
                     tabular=tabular)


def get(name: str) -> ModelKind:
    """The registry entry of `name`: a built-in, an entry-point name or "module.path:function"."""
    obj, builtin = plugins.resolve("name", name, BUILTINS, ENTRY_POINT_GROUP, "model", error=ModelConfigError,
                                   prepare=plugins.quiet_tensorflow)
    return obj if builtin else plugin_kind(name, obj)


def available() -> list[str]:
    """The built-in model names, then the installed plugins' (module paths are not enumerable)."""
    return plugins.available(BUILTINS, ENTRY_POINT_GROUP)
