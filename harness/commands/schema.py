"""`python -m harness schema`: the JSON Schema of the scenario format, for editors and CI checks."""

import sys


def add_arguments(parser):
    parser.add_argument("--builtin-only", action="store_true",
                        help="leave out the sampler plugins installed here (the shipped "
                             "scenarios/scenario.schema.json is generated this way)")


def main(args):
    from harness.schema import dumps, scenario_schema

    sys.stdout.write(dumps(scenario_schema(plugins=not args.builtin_only)))
    return 0
