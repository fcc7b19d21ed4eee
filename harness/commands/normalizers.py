"""`python -m harness normalizers`: every normalizer kind with its parameters and defaults."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from harness.errors import UsageError

if TYPE_CHECKING:
    import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`normalizers [KIND] [--json]`."""
    parser.add_argument("kind", nargs="?", help="show only this kind (a name or 'module.path:ClassOrFactory')")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def main(args: argparse.Namespace) -> int:
    """List the normalizer kinds (or one), as text or JSON."""
    from harness.norms import kinds
    from harness.norms.spec import NormalizerConfigError

    if args.kind is not None:
        try:
            entries = [_describe(args.kind)]
        except NormalizerConfigError as error:
            raise UsageError(f"kind: {error.value!r} {error.reason}") from None
    else:
        entries = []
        for name in kinds.available():
            try:
                entries.append(_describe(name))
            except NormalizerConfigError as error:  # a broken plugin must not hide the rest
                entries.append({"name": name, "source": "plugin", "description": f"unavailable: {error.reason}",
                                "parameters": {}, "traits": None})
    if args.json:
        print(json.dumps(entries, indent=2, default=repr))
        return 0
    for entry in entries:
        print(f"{entry['name']}  ({entry['source']})")
        print(f"    {entry['description']}")
        for param, default in entry["parameters"].items():
            print(f"    {param} = {default!r}")
    if args.kind is None:
        print("\nPlugins: entry point group 'harness.normalizers' or kind 'module.path:ClassOrFactory' "
              "(its keyword arguments are the parameters).")
    return 0


def _describe(name: str) -> dict[str, Any]:
    from harness.norms import kinds

    kind = kinds.get(name)
    builtin = kinds.is_builtin(name)
    return {"name": name, "source": "built-in" if builtin else "plugin", "description": kind.description,
            "parameters": dict(kind.parameters), "traits": kind.traits or "from the layer (hooks or duck-typed)"}
