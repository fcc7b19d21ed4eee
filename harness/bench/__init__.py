"""`python -m harness bench <what>`: benchmarks, reported as ratios measured in one run."""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

SCENARIOS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "scenarios")

BENCHMARKS = {
    "layers": "Training-step time of BN, Keras renorm and our BRN in one compiled loop.",
    "samplers": "Indices per second of every built-in sampler.",
    "run": "Where a run's wall time goes (training, analysis, I/O, report) vs a bare training loop.",
    "executors": "Speed-up of the process executor over the local one: the whole `run` command on a sweep grid.",
    "device": "Training steps/s of the ResNet-20 paper shape and the default MLP, XLA on/off, 1-8 workers on one "
              "device.",
    "xla": "Training chunk and analyzer passes under tf.function vs XLA, per model family and normalizer.",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One subcommand per benchmark, each with its own module's options."""
    sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", parser_class=type(parser))
    sub.required = True
    for name, help_text in BENCHMARKS.items():
        bench_parser = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(f"harness.bench.{name}").add_arguments(bench_parser)


def main(args: argparse.Namespace) -> int:
    """Run the benchmark `args.benchmark` names; its exit code."""
    return importlib.import_module(f"harness.bench.{args.benchmark}").main(args)
