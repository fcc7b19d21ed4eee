"""Name -> sampler class: built-ins, `harness.samplers` entry points, "module.path:ClassName".

The built-ins are found, not listed: every public module of the `samplers` package is imported (NumPy only) and
each `Sampler` subclass it defines that declares its own `name` (`name = "iid"`) is the built-in of that name.
Adding a built-in sampler is adding its module. They are listed sorted by name. Resolved by the harness's one
plugin resolver (`harness.plugins.resolve`, pure Python: no TensorFlow), which refuses a misspelt name with a
"did you mean" before any plugin is imported.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from types import ModuleType

from harness.plugins import resolve as plugins
from samplers.base import Sampler, SamplerParameterError

ENTRY_POINT_GROUP = "harness.samplers"


def declared(module: ModuleType) -> Iterator[tuple[str, str]]:
    """(name, class name) of each built-in sampler `module` defines: a `Sampler` subclass defined there (not
    imported) whose own class body sets `name`."""
    for attribute, obj in vars(module).items():
        if (inspect.isclass(obj) and issubclass(obj, Sampler) and obj.__module__ == module.__name__
                and isinstance(obj.__dict__.get("name"), str)):
            yield obj.__dict__["name"], attribute


BUILTINS = plugins.discover("samplers", declared)


def available() -> list[str]:
    """Names of the built-in samplers (sorted), then of the installed plugins (module paths are not enumerable)."""
    return plugins.available(BUILTINS, ENTRY_POINT_GROUP)


def get(name: str) -> type[Sampler]:
    """The sampler class for a built-in name, an entry-point name or "module.path:ClassName"."""
    obj, _ = plugins.resolve("kind", name, BUILTINS, ENTRY_POINT_GROUP, "sampler", error=SamplerParameterError)
    if not (isinstance(obj, type) and issubclass(obj, Sampler)):
        raise SamplerParameterError("kind", name, f"is {obj!r}, not a subclass of samplers.Sampler")
    return obj
