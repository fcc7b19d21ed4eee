"""`python -m harness run SCENARIO`: validate, train every trial (resuming), analyse, write tables and report."""

import os
import shlex
import sys

from harness.run import rundir
from harness.commands.validate import load_scenario


def add_arguments(parser):
    parser.add_argument("scenario", help="scenario YAML file")
    parser.add_argument("--out", help="run directory (default: reports/<scenario name>)")
    parser.add_argument("--fresh", action="store_true", help="discard finished trials and start over")
    parser.add_argument("--smoke", action="store_true", help="a tiny version: few steps, one seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--verbose", action="store_true", help="keep TensorFlow's own start-up log lines")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    parser.add_argument("--skip-infeasible", action="store_true",
                        help="drop infeasible sweep points with a warning instead of failing")
    parser.add_argument("--executor", choices=("auto", "local", "process", "ray"), default="auto",
                        help="where trials run (default: auto: process workers on a CPU machine with 2+ cores and "
                             "12+ trials, else local, one after another in this process)")
    parser.add_argument("--workers", type=int, default=None, help="process executor: worker processes (default: cores)")
    parser.add_argument("--workers-per-gpu", type=int, default=1,
                        help="process executor: workers sharing one GPU (default 1; with GPUs, --workers defaults "
                             "to GPUs x this)")
    parser.add_argument("--address", default=None,
                        help="ray executor: 'auto' or a cluster address to join (default: start a local instance)")
    parser.add_argument("--gpus-per-trial", type=float, default=0.0, help="ray executor: GPUs per trial")
    parser.add_argument("--max-retries", type=int, default=2, help="ray executor: retries of a task whose worker died")


def main(args):
    from harness import api

    api.check_options(args.executor, args.workers, args.workers_per_gpu, args.gpus_per_trial, args.max_retries)
    scenario = load_scenario(args.scenario, args.skip_infeasible)
    if args.smoke:
        scenario = scenario.smoke()
    command = "python -m harness " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out_dir, results = api.execute(
        scenario, args.out, fresh=args.fresh, executor=args.executor, workers=args.workers,
        workers_per_gpu=args.workers_per_gpu, address=args.address, gpus_per_trial=args.gpus_per_trial,
        max_retries=args.max_retries, quiet=args.quiet, verbose=args.verbose, report=not args.no_report,
        skip_infeasible=args.skip_infeasible, command=command)
    where = os.path.join(out_dir, rundir.REPORT) if not args.no_report else out_dir
    print(f"results: {out_dir}/  report: {where}")  # also with --quiet: where the results are is never noise
    failed = [r for r in results if r["status"] == rundir.FAILED]
    if results and len(failed) == len(results):  # nothing was done: never exit 0
        print(f"error: all {len(results)} trials failed (first: {failed[0]['id']}: {failed[0]['error']}); "
              "see summary.md, fix the cause and run again", file=sys.stderr)
        return 1
    return 0
