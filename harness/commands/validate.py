"""`python -m harness validate FILE`: check a scenario (feasibility included) without running it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.errors import UsageError

if TYPE_CHECKING:
    import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`validate FILE [--skip-infeasible]`."""
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument("--skip-infeasible", action="store_true",
                        help="drop infeasible sweep points with a warning instead of failing")


def load_scenario(path: str, skip_infeasible: bool = False) -> Any:
    """The validated scenario, or a one-line UsageError naming the field, the value and the reason."""
    from harness.api import ScenarioError
    from harness.api import load_scenario as load

    try:
        return load(path, skip_infeasible=skip_infeasible)
    except ScenarioError as error:
        raise UsageError(str(error)) from None


def main(args: argparse.Namespace) -> int:
    """Validate the scenario and print its trial count; 0 when it is valid."""
    from harness.run.runner import plan

    scenario = load_scenario(args.scenario, args.skip_infeasible)
    trials = plan(scenario, args.skip_infeasible)
    print(f"{args.scenario}: ok ({len(trials)} trials: {len(scenario.samplers)} samplers x "
          f"{len(scenario.normalizers)} normalizers x {len(scenario.seeds)} seeds"
          + (f" x {len(trials) // (len(scenario.samplers) * len(scenario.normalizers) * len(scenario.seeds))}"
             " sweep points)" if scenario.sweep else ")"))
    return 0
