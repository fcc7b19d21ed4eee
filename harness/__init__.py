"""Non-i.i.d. minibatch stress-test harness for normalization layers.

The Python API (`harness.api`): `run_scenario`, `load_run`, `Run`, `validate` and `ScenarioError`.

The package imports nothing heavy at import time: scenario validation and the CLI's argument parsing must run
before TensorFlow is loaded, so the API's names are loaded on first use (PEP 562).

Examples
--------
>>> import harness
>>> run = harness.run_scenario("scenarios/noniid_small.yaml", smoke=True)   # doctest: +SKIP
>>> run.summary.head()                                                        # doctest: +SKIP
"""

import typing

__version__ = "0.1.0"

__all__ = ["Run", "ScenarioError", "__version__", "load_run", "run_scenario", "validate"]

_API = {"Run", "load_run", "run_scenario", "validate", "ScenarioError"}


def __getattr__(name: str) -> typing.Any:
    """The API's names, imported from `harness.api` when first asked for."""
    if name in _API:
        import importlib

        # by name, not `from harness import api`: the package's root stays below every layer (lint-imports)
        return getattr(importlib.import_module("harness.api"), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The package's names, the lazily imported API's included."""
    public = {name for name in globals() if name == "__version__" or not name.startswith("_") and name != "typing"}
    return sorted(public | _API)
