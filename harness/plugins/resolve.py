"""The one resolver of every plugin kind (samplers, normalizers, models, data sources, metrics): a name is a
built-in, an installed entry point of the kind's group, or "module.path:attribute".

Pure Python and TensorFlow-free, so `samplers` uses it too: resolving a built-in imports nothing heavy, and a
misspelt name is refused (with a "did you mean") before anything is imported. Only a plugin's own module,
loaded when one is named, may import what it likes (`prepare` runs first, e.g. to import TensorFlow quietly).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import inspect
import pkgutil
from collections.abc import Callable, Collection, Iterable
from types import ModuleType
from typing import Any

from harness.errors import ParameterError, did_you_mean
from harness.runtime import heavy


class PluginError(ParameterError):
    """A plugin that does not resolve or does not fit; `.param`, `.value`, `.reason` name what is wrong."""


def one_line(error: BaseException) -> str:
    """An exception as one line: its type and its message with whitespace collapsed."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def entry_points(group: str) -> dict[str, importlib.metadata.EntryPoint]:
    """{name: entry point} of the installed plugins of `group`, read afresh (a newly installed one is seen)."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=group):
        found.setdefault(ep.name, ep)
    return found


def import_path(param: str, name: str, path: str, error: Callable[..., Exception] = PluginError) -> Any:
    """Import "module.path:attribute" (`name` is what the user wrote); failures are one-line `error`s."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise error(param, name, "is not of the form 'module.path:attribute'")
    try:
        obj = importlib.import_module(module_name)
    except Exception as failure:  # any failure while importing the user's module
        raise error(param, name, f"could not be imported ({one_line(failure)})") from failure
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise error(param, name, f"could not be imported (module {module_name!r} has no attribute "
                                     f"{attr!r})") from None
    return obj


def resolve(param: str, name: object, builtins: dict[str, str], group: str, what: str, *,
            error: Callable[..., Exception] = PluginError,
            prepare: Callable[[], object] | None = None) -> tuple[Any, bool]:
    """The object behind `name`: a built-in (`builtins`: name -> "module:attribute"), an entry point of `group`,
    or a "module.path:attribute". Returns (object, is_builtin).

    A name that is none of these is refused with `error(param, name, reason)` (naming the choices and the
    closest one) before anything is imported; `prepare()` runs just before a plugin's own module is loaded.
    """
    if not isinstance(name, str) or not name:
        raise error(param, name, f"must be a {what} name (a non-empty string)")
    if name in builtins:
        return import_path(param, name, builtins[name], error), True
    installed = entry_points(group)
    if name in installed:
        if prepare is not None:
            prepare()
        try:
            return installed[name].load(), False
        except Exception as failure:
            raise error(param, name, f"is an installed plugin ({installed[name].value}) that could not "
                                     f"be loaded ({one_line(failure)})") from failure
    if ":" in name:
        if prepare is not None:
            prepare()
        return import_path(param, name, name, error), False
    known = list(builtins) + sorted(n for n in installed if n not in builtins)
    raise error(param, name, f"is not one of {', '.join(known)}{did_you_mean(name, known)} (or a plugin given as "
                             f"'module.path:attribute')")


def quiet_tensorflow() -> None:
    """`prepare` for plugins that import Keras: TensorFlow is imported first through the harness, which
    silences its start-up."""
    heavy.tensorflow()


def discover(package: str, declared: Callable[[ModuleType], Iterable[tuple[str, str]]]) -> dict[str, str]:
    """The built-ins of a kind whose every built-in is one module of `package`: {name: "module:attribute"},
    sorted by name (the order listings and "did you mean" show).

    Each public module of `package` (its name does not start with "_"), in file-name order, is imported and
    `declared(module)` yields the (name, attribute) pairs it declares; a name declared twice is an error at
    import, naming both modules. Adding a built-in is adding its module: there is no table to edit.
    """
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__, prefix=f"{package}."):
        if info.name.rpartition(".")[2].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        for name, attribute in declared(module):
            path = f"{module.__name__}:{attribute}"
            if name in found:
                raise RuntimeError(f"built-in {name!r} is declared twice: by {found[name]} and by {path}")
            found[name] = path
    return dict(sorted(found.items()))


def available(builtins: dict[str, str], group: str) -> list[str]:
    """Built-in names, then the installed plugins' names."""
    return list(builtins) + sorted(n for n in entry_points(group) if n not in builtins)


# Keras's own constructor arguments: accepted by every layer, never listed as a plugin's parameters.
KERAS_LAYER_ARGUMENTS = {"name", "dtype", "trainable", "autocast", "input_shape", "input_dim", "batch_size",
                         "activity_regularizer", "seed"}


def signature_parameters(obj: Any, skip: Collection[str] = ()) -> tuple[dict[str, Any], bool]:
    """({parameter: default or REQUIRED}, accepts_any_keyword) of a class's constructor or a function."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return {}, True
    params: dict[str, Any] = {}
    any_keyword = False
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            any_keyword = True
        elif parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD) \
                and parameter.name not in skip:
            params[parameter.name] = REQUIRED if parameter.default is parameter.empty else parameter.default
    return params, any_keyword


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


def yaml_safe(value: object) -> bool:
    """Whether a default can be written into the resolved scenario.yaml (and swept)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(yaml_safe(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and yaml_safe(v) for k, v in value.items())
    return False


@dataclasses.dataclass(frozen=True)
class Entry:
    """What a normalizer kind and a model share as registry entries: a name, one line, the parameters.

    `parameters` is given as {parameter: `harness.params.fields.Field`} (its type, default and range, declared once:
    validation and the JSON Schema read it) or, for a plugin known only by its signature, {parameter: default};
    afterwards `parameters` holds the defaults (`REQUIRED` for none) and `fields` the declarations (a plain
    default becomes an open `Field(object, default)`).
    """

    name: str
    description: str
    parameters: dict
    plugin: bool = dataclasses.field(default=False, kw_only=True)
    accepts_any: bool = dataclasses.field(default=False, kw_only=True)  # a plugin taking **kwargs
    fields: dict = dataclasses.field(default=None, kw_only=True, compare=False)  # type: ignore[arg-type]  # None: derived in __post_init__

    def __post_init__(self) -> None:
        from harness.params.fields import _REQUIRED, Field

        if self.fields is None:
            declared = {key: value if isinstance(value, Field)
                        else Field(object, _REQUIRED if value is REQUIRED else value)
                        for key, value in self.parameters.items()}
            object.__setattr__(self, "fields", declared)
        object.__setattr__(self, "parameters", {key: REQUIRED if field.default is _REQUIRED else field.default
                                                for key, field in self.fields.items()})

    def fill(self, given: dict[str, Any], error: Callable[..., Exception], what: str) -> dict[str, Any]:
        """`given` parameters with the (YAML-safe) defaults filled in; `error(param, value, reason)` is raised
        for an unknown or a missing required one, or a value outside its declared type and range."""
        from harness.errors import ScenarioError

        for key in given:
            if key not in self.parameters and not self.accepts_any:
                raise error(key, given[key], f"is not a parameter of {what} {self.name!r} "
                                             f"(known: {sorted(self.parameters)})")
        for key, default in self.parameters.items():
            if default is REQUIRED and key not in given:
                raise error(key, None, f"is required by {what} {self.name!r}")
        for key, value in given.items():
            if key in self.fields:
                try:
                    self.fields[key].check(key, value)  # checked, not converted: the value is kept as given
                except ScenarioError as problem:
                    raise error(problem.path, problem.value, problem.reason) from None
        return {**{k: v for k, v in self.parameters.items() if yaml_safe(v)}, **given}
