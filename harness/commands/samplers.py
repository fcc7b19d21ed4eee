"""`python -m harness samplers`: every available sampler with its parameters and defaults."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from harness.errors import UsageError

if TYPE_CHECKING:
    import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`samplers [NAME] [--json]`."""
    parser.add_argument("name", nargs="?", default=None,
                        help="show only this sampler (a name or 'module.path:ClassName')")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _describe(name: str) -> dict[str, Any]:
    """(description, {param: default}) for one sampler; errors become the description."""
    import samplers

    cls: Any = samplers.get(name)
    params = {k: (None if v is samplers.REQUIRED else v) for k, v in cls.parameters().items()}
    required = [k for k, v in cls.parameters().items() if v is samplers.REQUIRED]
    return {"name": name, "class": f"{cls.__module__}:{cls.__qualname__}",
            "description": cls.description(), "parameters": params, "required": required}


def main(args: argparse.Namespace) -> int:
    """List the samplers (or one), as text or JSON."""
    import samplers

    if args.name is not None:
        try:
            entries = [_describe(args.name)]
        except samplers.SamplerParameterError as error:
            raise UsageError(str(error)) from None
    else:
        entries = []
        for name in samplers.available():
            try:
                entries.append(_describe(name))
            except samplers.SamplerParameterError as error:  # a broken plugin must not hide the rest
                entries.append({"name": name, "class": None, "description": f"unavailable: {error.reason}",
                                "parameters": {}, "required": []})
    if args.json:
        print(json.dumps(entries, indent=2, default=repr))
        return 0
    for entry in entries:
        print(f"{entry['name']}  ({entry['class']})" if entry["class"] else entry["name"])
        print(f"    {entry['description']}")
        for param, default in entry["parameters"].items():
            shown = "(required)" if param in entry["required"] else f"= {default!r}"
            print(f"    {param} {shown}")
    if args.name is None:
        print("\nAll samplers also take labels, batch_size, seed (and features for 'cluster');"
              " plugins: entry point group 'harness.samplers' or kind 'module.path:ClassName'.")
    return 0
