"""The model registry: every network a scenario's `model.name` can name, each one entry.

Pure Python: a scenario with a built-in model is validated without importing TensorFlow. Each built-in kind is
one module of this package (`mlp.py`, `resnet20.py`, ...) holding its declaration, `KIND` (a `ModelKind`:
parameters, check, family, tabular input), and its builder, which takes Keras and the shared building blocks
from `harness.models.builders` when it runs (`from harness.models.builders import Layers, keras`). The modules
are found, not listed: adding a built-in model is adding its module (and its test).

Builder contract: `build(norm, input_shape, num_classes, **params) -> keras.Model` returning logits, where
`norm()` returns a new layer of the scenario's normalizer for each normalization slot. A builder that never
calls `norm` and returns a model with `keras.layers.BatchNormalization` layers gets each of them replaced by
the scenario's normalizer. A builder that accepts a `seed` keyword gets the trial's seed.

Built-ins are resolved exactly as plugins are: `BUILTINS` maps each name to the "module:attribute" of its
entry. Plugins: an entry point of group `harness.models`, or the name "module.path:function".
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator
from types import ModuleType
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
# Helpers of the built-in kinds' declarations (`harness/models/kinds/<kind>.py`).
def widths_field(default: list[int]) -> Field:
    """The `widths` parameter: units or channels of each stage, at least 1 each."""
    return Field(list, default, list_of=int, low=1, doc="Units or channels of each stage (its normalization slots).")


def widths(params: dict[str, Any]) -> list[int]:
    """`slot_widths` of a kind whose slots see its `widths` parameter."""
    return params["widths"]


def declared(module: ModuleType) -> Iterator[tuple[str, str]]:
    """(name, "KIND") of the built-in a module of this package declares as `KIND` (a `ModelKind`)."""
    kind = getattr(module, "KIND", None)
    if isinstance(kind, ModelKind):
        yield kind.name, "KIND"


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


# Every public module of this package is one built-in kind (its `KIND`: parameters declared once, with their type
# and range, read by validation and the JSON Schema; family; tabular; its builder, which takes Keras from
# harness.models.builders when it runs): {name: "module:KIND"}, sorted by name. A new model is a new module.
BUILTINS = plugins.discover(__name__, declared)
