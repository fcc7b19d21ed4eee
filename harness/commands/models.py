"""`python -m harness models`: every model kind with its family, tabular input and parameters."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from harness.errors import UsageError

if TYPE_CHECKING:
    import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`models [NAME] [--json]`."""
    parser.add_argument("name", nargs="?", help="show only this model (a name or 'module.path:function')")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def describe(name: str) -> dict:
    """One model kind as `models --json` lists it: name, source, family, tabular, description, parameters."""
    from harness.models import kinds as model_kinds

    kind = model_kinds.get(name)
    return {"name": name, "source": "plugin" if kind.plugin else "built-in", "family": kind.family,
            "tabular": kind.tabular, "description": kind.description, "parameters": dict(kind.parameters)}


def main(args: argparse.Namespace) -> int:
    """List the model kinds (or one), as text or JSON."""
    from harness.models import kinds as model_kinds

    if args.name is not None:
        try:
            entries = [describe(args.name)]
        except model_kinds.ModelConfigError as error:
            raise UsageError(f"name: {error.value!r} {error.reason}") from None
    else:
        entries = []
        for name in model_kinds.available():
            try:
                entries.append(describe(name))
            except model_kinds.ModelConfigError as error:  # a broken plugin must not hide the rest
                entries.append({"name": name, "source": "plugin", "family": None, "tabular": None,
                                "description": f"unavailable: {error.reason}", "parameters": {}})
    if args.json:
        print(json.dumps(entries, indent=2, default=repr))
        return 0
    for entry in entries:
        tabular = {True: ", tabular input", False: "", None: ", tabular input undeclared"}[entry["tabular"]]
        print(f"{entry['name']}  ({entry['source']}; family {entry['family'] or 'undeclared (XLA off under auto)'}"
              f"{tabular})")
        print(f"    {entry['description']}")
        for param, default in entry["parameters"].items():
            print(f"    {param} = {default!r}")
    if args.name is None:
        print("\nPlugins: entry point group 'harness.models' or name 'module.path:function' (its keyword arguments "
              "after norm, input_shape, num_classes are the parameters; declare `function.family` and "
              "`function.tabular`).")
    return 0
