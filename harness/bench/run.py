"""`python -m harness bench run`: where a run's wall time goes, and the harness's training speed vs a bare loop.

The bare loop is written here independently of the runner: the same model,
optimizer and index batches, every step inside one plain `tf.function` call (no
XLA), no evaluation: the reference the harness's compiled training (under XLA
where `training.jit_compile` puts it) is measured against. After the run, the
harness's own compiled training and the bare loop are timed alternately in the
same process, and the ratio is the median over back-to-back pairs, so it is free
of the machine's drift; the ms/step measured during the run is printed beside it.
"""

import json
import os
import tempfile
import time

from harness.analysis.metrics import STEP_TIME
from harness.bench import SCENARIOS_DIR

DEFAULT_SCENARIO = os.path.join(SCENARIOS_DIR, "noniid_small.yaml")
REPEATS = 9  # back-to-back pairs (harness chunk, bare loop) per normalizer


def add_arguments(parser):
    parser.add_argument("scenario", nargs="?", default=DEFAULT_SCENARIO, help="scenario file (default: noniid_small)")
    parser.add_argument("--smoke", action="store_true", help="time the scenario's smoke variant")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def training_ms_per_step(config, repeats=REPEATS):
    """ms/step of the harness's compiled training and of a bare loop, timed alternately `repeats` times each.

    The harness side is the trial's own compiled chunk (`steps_per_call` steps per call, per-step losses and
    the count of correct predictions returned), called as `run_trial` calls it; the bare side is a minimal
    hand-written loop doing the same training work, every step in one call. Alternating the two, in one process
    on the same batches, keeps this VM's drift out of each pair; which goes first alternates too. Evaluation is not included: its cost is in the
    time split. Returns {"harness": [ms/step, ...], "bare_loop": [...]}, pair i measured back to back.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from harness.models import build_model
    from harness.scenario import batch_stream
    from harness.run.trial import load_dataset, make_optimizer, workbench

    dataset = load_dataset(config["data"])
    batch_size, steps = config["training"]["batch_size"], config["training"]["steps"]
    per_call = config["training"]["steps_per_call"]
    indices = batch_stream(config["sampler_config"], dataset.x_train, dataset.y_train, batch_size, config["seed"], steps)
    model = build_model(config["model"], config["normalizer_config"], dataset.input_shape, dataset.num_classes, 0)
    optimizer = make_optimizer(config["training"])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x_all, y_all = tf.constant(dataset.x_train), tf.constant(dataset.y_train)

    # the number of steps left open: the 2-step warm-up call below traces the function the timed calls run
    @tf.function(input_signature=[tf.TensorSpec([None, batch_size], tf.as_dtype(indices.dtype))])
    def train(index_batches):
        for i in tf.range(tf.shape(index_batches)[0]):
            x, y = tf.gather(x_all, index_batches[i]), tf.gather(y_all, index_batches[i])
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    def bare():
        train(indices).numpy()

    chunk = workbench(config, dataset).train_chunk  # the run's traced chunk (its shape's workbench is cached)

    def harness():
        for start in range(0, steps, per_call):
            [np.asarray(t) for t in chunk(indices[start:start + per_call])]  # read back, as a trial reads them

    train(indices[:2]).numpy()  # trace once
    harness()  # traced by the run already, or here
    times = {"harness": [], "bare_loop": []}
    for repeat in range(repeats):
        pair = (("harness", harness), ("bare_loop", bare))
        for name, work in pair[::-1] if repeat % 2 else pair:  # each goes first in every other pair
            tic = time.perf_counter()
            work()
            times[name].append((time.perf_counter() - tic) * 1000 / steps)
    return times


def main(args):
    import numpy as np

    from harness.tfsetup import device_info, import_tensorflow
    from harness.commands.validate import load_scenario

    import_tensorflow()
    from harness.run import rundir, runner

    scenario = load_scenario(args.scenario)
    if args.smoke:
        scenario = scenario.smoke()
    with tempfile.TemporaryDirectory() as out_dir:
        tic = time.perf_counter()
        results = runner.run(scenario, out_dir, quiet=True, report=True)
        wall = time.perf_counter() - tic
        with open(os.path.join(out_dir, rundir.PROVENANCE)) as handle:
            run_timing = json.load(handle)["timing"]
    ok = [r for r in results if r["status"] == rundir.OK]
    train = sum(r["timing"]["train"] for r in ok)
    trace = sum(r["timing"]["trace"] for r in ok)
    analysis = sum(r["timing"]["analysis"] for r in ok)
    other = wall - train - analysis - run_timing["io"] - run_timing["report"]
    run_ms = {}
    for r in ok:
        run_ms.setdefault(r["config"]["normalizer"], []).append(r["final"][STEP_TIME])
    samples = {name: training_ms_per_step(next(r["config"] for r in ok if r["config"]["normalizer"] == name))
               for name in run_ms}
    harness_ms = {name: float(np.median(samples[name]["harness"])) for name in samples}
    bare_ms = {name: float(np.median(samples[name]["bare_loop"])) for name in samples}
    # the ratio of each back-to-back pair, then their median and quartiles: drift cancels within a pair
    pair_ratios = {name: np.divide(samples[name]["harness"], samples[name]["bare_loop"]) for name in samples}
    speedups = {name: np.divide(samples[name]["bare_loop"], samples[name]["harness"]) for name in samples}
    out = {
        "scenario": scenario.name, "trials": len(results), "wall_seconds": wall,
        "split_seconds": {"training": train - trace, "tracing": trace, "analysis": analysis,
                          "io": run_timing["io"], "report": run_timing["report"], "other": other},
        "analysis_and_io_fraction": (analysis + run_timing["io"]) / wall,
        "ms_per_step": {"harness": harness_ms, "bare_loop": bare_ms,
                        "in_run": {name: float(np.median(v)) for name, v in run_ms.items()}},
        "ms_per_step_samples": samples,
        "harness_over_bare": {name: float(np.median(r)) for name, r in pair_ratios.items()},
        "harness_over_bare_quartiles": {name: [float(q) for q in np.quantile(r, [0.25, 0.75])]
                                        for name, r in pair_ratios.items()},
        # the same pairs the other way round: how much faster the harness trains than a plain tf.function loop
        "harness_ms_per_step": harness_ms,
        "bare_tf_function_ms_per_step": bare_ms,
        "speedup_over_bare_tf_function": {name: float(np.median(r)) for name, r in speedups.items()},
        "speedup_over_bare_tf_function_quartiles": {name: [float(q) for q in np.quantile(r, [0.25, 0.75])]
                                                    for name, r in speedups.items()},
        "jit_compile": {name: next(r["environment"]["jit_compile"] for r in ok if r["config"]["normalizer"] == name)
                        for name in samples},
        "device": device_info(),
    }
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{scenario.name}: {len(results)} trials in {wall:.1f} s on {out['device']['name']} "
          f"({out['device']['cpu_count']} cores)")
    for part, seconds in out["split_seconds"].items():
        print(f"  {part:<9} {seconds:7.1f} s  {100 * seconds / wall:5.1f}%")
    print(f"  analysis + I/O: {100 * out['analysis_and_io_fraction']:.1f}% of wall time (target <= 10%)")
    for name in harness_ms:
        low, high = out["speedup_over_bare_tf_function_quartiles"][name]
        xla = "XLA" if out["jit_compile"][name]["training"] else "tf.function"
        print(f"  {name}: harness ({xla}) {harness_ms[name]:.2f} ms/step, bare tf.function loop {bare_ms[name]:.2f} "
              f"ms/step, speed-up {out['speedup_over_bare_tf_function'][name]:.2f}x (median of {REPEATS} back-to-back "
              f"pairs after the run, quartiles {low:.2f}-{high:.2f}; "
              f"{out['ms_per_step']['in_run'][name]:.2f} ms/step during the run, evaluations overlapping)")
    return 0
