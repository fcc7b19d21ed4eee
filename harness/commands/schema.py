"""`python -m harness schema`: the JSON Schema of the scenario format, for editors and CI checks."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`schema [--builtin-only]`."""
    parser.add_argument("--builtin-only", action="store_true",
                        help="leave out the sampler plugins installed here (the shipped "
                             "scenarios/scenario.schema.json is generated this way)")


def main(args: argparse.Namespace) -> int:
    """Print the scenario JSON Schema on stdout."""
    from harness.scenario.schema import dumps, scenario_schema

    sys.stdout.write(dumps(scenario_schema(plugins=not args.builtin_only)))
    return 0
