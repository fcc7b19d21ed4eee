"""`python -m harness bench executors`: wall time of one grid of small trials on each executor, as ratios.

The grid is the default scenario's shape, shortened (fewer steps), so it
measures how well trials spread over cores, not how fast one trial is.
"""

import json
import os
import tempfile
import time

from harness.bench_run import DEFAULT_SCENARIO


def add_arguments(parser):
    parser.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, help="scenario file (default: noniid_small)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per trial (default 300)")
    parser.add_argument("--workers", type=int, default=None, help="process executor workers (default: cores)")
    parser.add_argument("--ray", action="store_true", help="also time the Ray executor on a local instance")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def main(args):
    import dataclasses

    import pandas as pd

    from harness.errors import UsageError
    from harness.executors import make_executor
    from harness.tfsetup import device_info, import_tensorflow
    from harness.validate_cmd import load_scenario

    if args.steps < 1:
        raise UsageError(f"--steps: {args.steps} must be >= 1")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers: {args.workers} must be >= 1")
    import_tensorflow()
    from harness import runner

    scenario = load_scenario(args.scenario)
    scenario = dataclasses.replace(
        scenario, training={**scenario.training, "steps": args.steps},
        analysis={**scenario.analysis, "eval_every": args.steps})
    names = ["local", "process"] + (["ray"] if args.ray else [])
    seconds, summaries = {}, {}
    for name in names:
        executor = make_executor(name, workers=args.workers)
        with tempfile.TemporaryDirectory() as out_dir:
            tic = time.perf_counter()
            runner.run(scenario, out_dir, executor=executor, quiet=True, report=False)
            seconds[name] = time.perf_counter() - tic
            frame = pd.read_csv(os.path.join(out_dir, "summary.csv"))
            summaries[name] = frame[frame["metric"] == "acc_inference"]["value"].to_numpy()
    if args.ray:
        import ray

        ray.shutdown()
    n_trials = len(runner.plan(scenario))
    out = {
        "scenario": scenario.name, "trials": n_trials, "steps": args.steps,
        "workers": args.workers or os.cpu_count(), "seconds": seconds,
        "speedup_over_local": {name: seconds["local"] / s for name, s in seconds.items() if name != "local"},
        "same_results": {name: bool((summaries[name] == summaries["local"]).all()) for name in names if name != "local"},
        "device": device_info(),
    }
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{n_trials} trials of {args.steps} steps ({scenario.name}) on {out['device']['cpu_count']} cores:")
    for name in names:
        extra = "" if name == "local" else (f"  speed-up {out['speedup_over_local'][name]:.2f}x, "
                                             f"identical results: {out['same_results'][name]}")
        print(f"  {name:<8} {seconds[name]:6.1f} s{extra}")
    return 0
