"""`python -m harness run SCENARIO`: validate, train every trial (resuming), analyse, write tables and report."""

import os
import shlex
import sys

from harness.run import rundir
from harness.errors import UsageError
from harness.commands.validate import load_scenario
from harness.commands.numbers import MAX_GPUS_PER_TRIAL, MAX_RETRIES, MAX_WORKERS, integer, real


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
    parser.add_argument("--workers", type=integer(1, MAX_WORKERS), default=None,
                        help="process executor: worker processes (default: cores; never more than the trials)")
    parser.add_argument("--workers-per-gpu", type=integer(1, MAX_WORKERS), default=1,
                        help="process executor: workers sharing one GPU (default 1; with GPUs, --workers defaults "
                             "to GPUs x this)")
    parser.add_argument("--address", default=None,
                        help="ray executor: 'auto' or a cluster address to join (default: start a local instance)")
    parser.add_argument("--gpus-per-trial", type=real(0, MAX_GPUS_PER_TRIAL), default=0.0, help="ray executor: GPUs per trial")
    parser.add_argument("--max-retries", type=integer(0, MAX_RETRIES), default=2, help="ray executor: retries of a task whose worker died")


def main(args):
    if args.executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UsageError('--executor ray: Ray is not installed (pip install -e ".[ray]")') from None
    from harness.run.executors import auto_executor, make_executor
    from harness.run.runner import run, trial_count

    scenario = load_scenario(args.scenario, args.skip_infeasible)
    if args.smoke:
        scenario = scenario.smoke()
    out_dir = args.out or os.path.join("reports", scenario.name)
    from harness.out_guard import claim

    claim(out_dir)  # never a folder holding files no run wrote (the user's scenario, their pages)
    if args.executor == "auto":
        args.executor = "process" if args.workers is not None else auto_executor(trial_count(scenario))
    # process workers start here, once the scenario is valid, and import TensorFlow while this process plans the
    # run (started before the data checks, they made this process's import of scikit-learn fail now and then on a
    # loaded machine, cause not found)
    try:
        executor = make_executor(args.executor, args.workers, args.address, args.gpus_per_trial, args.max_retries,
                                 args.workers_per_gpu, trials=trial_count(scenario))
    except ValueError as error:  # more workers than the GPUs can take
        raise UsageError(f"--workers: {error}") from None
    try:
        if args.executor != "process":
            from harness.tfsetup import import_tensorflow

            import_tensorflow(verbose=args.verbose)  # this process trains: TensorFlow here

        command = "python -m harness " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        results = run(scenario, out_dir, fresh=args.fresh, executor=executor, quiet=args.quiet, command=command,
                      report=not args.no_report, skip_infeasible=args.skip_infeasible)
    finally:
        executor.shutdown()  # also when the run is refused before any trial: workers may still be starting
    where = os.path.join(out_dir, rundir.REPORT) if not args.no_report else out_dir
    print(f"results: {out_dir}/  report: {where}")  # also with --quiet: where the results are is never noise
    failed = [r for r in results if r["status"] == rundir.FAILED]
    if results and len(failed) == len(results):  # nothing was done: never exit 0
        print(f"error: all {len(results)} trials failed (first: {failed[0]['id']}: {failed[0]['error']}); "
              "see summary.md, fix the cause and run again", file=sys.stderr)
        return 1
    return 0
