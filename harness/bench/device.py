"""`python -m harness bench device`: training steps/s on this machine's accelerator, shared by process workers.

For the ResNet-20 paper shape (scenarios/paper/cifar10_resnet20_bn_brn.yaml's model, recipe, normalizer and
batch of 32, on generated CIFAR-sized data: 32x32x3, 10 classes) and the default MLP (scenarios/noniid_small.yaml),
with XLA on and off: K worker processes (K from `--workers-per-gpu`, default 1 2 4 8) train the same shape at
once on the one device, each its own copy of the model, exactly as `run --workers-per-gpu K` would place them.

The workers of one (model, XLA) pair are started once (importing TensorFlow, building the trial's workbench and
tracing or compiling its training chunk, twice called as a warm-up), then timed in windows: in each window the
first K of them train for `--seconds` while the others wait, so every figure is a steady-state rate free of
start-up. steps_per_s is the sum of the K workers' own rates (throughput of the device); peak_device_mb the
largest peak memory of one worker: on a GPU `tf.config.experimental.get_memory_info`'s peak (TensorFlow's
allocator, memory growth on), on a CPU the worker process's peak resident set size (the JSON says which).
Without a GPU it measures the CPU and says that no GPU was seen. The parent never imports TensorFlow, so it
holds no device memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.bench import SCENARIOS_DIR
from harness.commands.numbers import MAX_SECONDS, MAX_STEPS, MAX_WORKERS, integer, real
from harness.runtime import heavy

if TYPE_CHECKING:
    import argparse

MODELS: dict[str, tuple[str, dict[str, Any] | None]] = {
    # name: (scenario the shape comes from, changes to its data section: generated data of the same shape)
    "resnet20": (os.path.join(SCENARIOS_DIR, "paper", "cifar10_resnet20_bn_brn.yaml"),
                 {"name": "synthetic", "num_classes": 10, "image_size": 32, "channels": 3,
                  "examples_per_class": 100, "augment": {"crop_padding": 4, "flip": True}, "standardize": True}),
    "mlp": (os.path.join(SCENARIOS_DIR, "noniid_small.yaml"), None),
}
WORKERS = (1, 2, 4, 8)
SECONDS = 8.0  # timed window per worker count
QUICK: dict[str, Any] = {"workers": (1, 2), "seconds": 2.0, "steps_per_call": 10}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options and arguments, added to `parser` (its subcommand parser)."""
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--workers-per-gpu", type=integer(1, MAX_WORKERS), nargs="+", default=None, metavar="K",
                        help=f"worker counts sharing the device (default: {' '.join(map(str, WORKERS))}; "
                             f"--quick: {' '.join(map(str, QUICK['workers']))})")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS),
                        help="shapes to measure (default: resnet20 mlp)")
    parser.add_argument("--xla", choices=("both", "on", "off"), default="both", help="XLA settings to measure")
    parser.add_argument("--seconds", type=real(0, MAX_SECONDS, open_low=True), default=None,
                        help=f"timed window per worker count (default {SECONDS:g}; --quick {QUICK['seconds']:g})")
    parser.add_argument("--steps-per-call", type=integer(1, MAX_STEPS), default=None,
                        help="training steps per compiled call (default: the scenario's; --quick "
                             f"{QUICK['steps_per_call']})")
    parser.add_argument("--quick", action="store_true",
                        help="a reduced grid for a first look or a test: 1 and 2 workers, short windows, short calls")


def trial_config(model: str, steps_per_call: int | None = None) -> dict[str, Any]:
    """The trial config a worker trains: the model's scenario (generated data for resnet20), first sampler,
    last normalizer (Batch Renorm in both), seed 0."""
    import yaml

    from harness.scenario import validate
    from harness.train.trial import make_trial_config

    path, data = MODELS[model]
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    if data is not None:
        raw["data"] = data
    if steps_per_call is not None:
        raw.setdefault("training", {})["steps_per_call"] = int(steps_per_call)
    scenario = validate(raw)
    return make_trial_config(scenario, next(iter(scenario.samplers)), list(scenario.normalizers)[-1],
                             scenario.seeds[0])


def _peak_memory_mb(tf: Any) -> tuple[float, str]:
    """(MB, what): the process's peak device memory on a GPU, else its peak resident set size."""
    if tf.config.list_physical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2 ** 20, "gpu_allocator_peak"
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_peak_rss"


def worker(model: str, xla: bool, steps_per_call: int | None = None) -> int:
    """A worker process: build and warm up the trial's compiled training, say "ready", then train for the
    seconds each "run S" line on stdin asks and answer one JSON line each; "quit" (or end of input) ends it."""
    import numpy as np

    from harness.runtime.tfsetup import device_info, set_determinism
    from harness.scenario import batch_stream
    from harness.train.trial import load_dataset, workbench

    tf = heavy.tensorflow()
    config = trial_config(model, steps_per_call)
    config["training"] = {**config["training"], "jit_compile": bool(xla)}
    set_determinism(config["seed"])
    dataset = load_dataset(config["data"])
    per_call, batch_size = config["training"]["steps_per_call"], config["training"]["batch_size"]
    stream = batch_stream(config["sampler_config"], dataset.x_train, dataset.y_train, batch_size, config["seed"],
                          per_call * 64, config["sampler"])
    bench = workbench(config, dataset)
    chunks = [stream[i:i + per_call] for i in range(0, len(stream), per_call)]

    def call(i: int) -> None:
        losses, _ = bench.train_chunk(chunks[i % len(chunks)])
        np.asarray(losses)  # wait for the device

    for i in range(2):  # trace (and compile), then one steady call
        call(i)
    info = device_info()
    print(json.dumps({"ready": True, "device": {"type": info["type"], "name": info["name"]},
                      "xla": bool(bench.train_chunk.jit)}), flush=True)
    calls = 0
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] != "run":
            break
        seconds, steps, tic = float(parts[1]), 0, time.perf_counter()
        while True:
            call(calls)
            calls += 1
            steps += per_call
            elapsed = time.perf_counter() - tic
            if elapsed >= seconds:
                break
        peak, kind = _peak_memory_mb(tf)
        print(json.dumps({"steps": steps, "seconds": elapsed, "peak_mb": peak, "memory": kind}), flush=True)
    return 0


def _start_workers(model: str, xla: bool, count: int, steps_per_call: int | None) -> list[subprocess.Popen[str]]:
    """`count` worker processes (this module with --worker), their stdin and stdout piped as text."""
    command = [sys.executable, "-m", "harness.bench.device", "--worker", json.dumps(
        {"model": model, "xla": xla, "steps_per_call": steps_per_call})]
    return [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(count)]


def _read(process: subprocess.Popen[str]) -> dict[str, Any]:
    """The next JSON line of a worker; RuntimeError when it exited instead."""
    assert process.stdout is not None  # piped by _start_workers
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"a bench device worker exited with status {process.wait()} (its error is above)")
    return json.loads(line)


def measure(model: str, xla: bool, workers: Sequence[int], seconds: float,
            steps_per_call: int | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(device, [result per worker count]) for one model and XLA setting; see the module docstring."""
    processes = _start_workers(model, xla, max(workers), steps_per_call)
    try:
        ready = [_read(p) for p in processes]
        rows = []
        for k in sorted(set(workers)):
            for process in processes[:k]:
                assert process.stdin is not None  # piped by _start_workers
                process.stdin.write(f"run {seconds}\n")
                process.stdin.flush()
            answers = [_read(p) for p in processes[:k]]
            rates = [a["steps"] / a["seconds"] for a in answers]
            rows.append({"model": model, "xla": xla, "xla_ran": ready[0]["xla"], "workers": k,
                         "steps_per_s": float(sum(rates)), "steps_per_s_per_worker": [float(r) for r in rates],
                         "peak_device_mb": float(max(a["peak_mb"] for a in answers)),
                         "memory": answers[0]["memory"]})
        return ready[0]["device"], rows
    finally:
        for process in processes:
            try:
                assert process.stdin is not None  # piped by _start_workers
                process.stdin.write("quit\n")
                process.stdin.close()
            except OSError:
                pass
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main(args: argparse.Namespace) -> int:
    """Measure every (model, XLA) pair at each worker count and print the table (or one JSON object)."""
    from harness.errors import UsageError

    workers = args.workers_per_gpu or (QUICK["workers"] if args.quick else WORKERS)
    if any(k < 1 for k in workers):
        raise UsageError(f"--workers-per-gpu: {min(workers)} is not a worker count (must be >= 1)")
    seconds = args.seconds if args.seconds is not None else (QUICK["seconds"] if args.quick else SECONDS)
    if not 0 < seconds <= 600:
        raise UsageError(f"--seconds: {seconds:g} is not a timing window (must be > 0 and <= 600)")
    if args.steps_per_call is not None and args.steps_per_call < 1:
        raise UsageError(f"--steps-per-call: {args.steps_per_call} is not a step count (must be >= 1)")
    steps_per_call = args.steps_per_call or (QUICK["steps_per_call"] if args.quick else None)
    settings = {"both": (True, False), "on": (True,), "off": (False,)}[args.xla]
    device, results, tic = None, [], time.perf_counter()
    for model in args.models:
        for xla in settings:
            device, rows = measure(model, xla, workers, seconds, steps_per_call)
            results.extend(rows)
    assert device is not None  # --models names one model or more
    out = {"device": {**device, "gpu_seen": device["type"] == "GPU"},
           "memory": "peak_device_mb: " + ("TensorFlow's GPU allocator peak per worker" if device["type"] == "GPU"
                                           else "no GPU was seen: peak resident set size (CPU RAM) per worker"),
           "seconds_per_window": seconds, "wall_seconds": time.perf_counter() - tic, "results": results}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    if device["type"] != "GPU":
        print("no GPU was seen: these are CPU figures (peak memory is the worker's peak RSS)")
    print(f"device: {device['name']} ({device['type']}), {seconds:g} s per window, {out['wall_seconds']:.0f} s in all")
    print(f"  {'model':<9} {'XLA':<4} {'workers':>7} {'steps/s':>9} {'per worker':>11} {'peak MB':>9}")
    for row in results:
        xla_shown = ("on" if row["xla_ran"] else "off*") if row["xla"] else "off"
        print(f"  {row['model']:<9} {xla_shown:<4} {row['workers']:>7} {row['steps_per_s']:>9.1f} "
              f"{row['steps_per_s'] / row['workers']:>11.1f} {row['peak_device_mb']:>9.0f}")
    if any(row["xla"] and not row["xla_ran"] for row in results):
        print("  off*: XLA was asked for but refused the graph; plain tf.function ran")
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    options = json.loads(sys.argv[2])
    sys.exit(worker(options["model"], options["xla"], options["steps_per_call"]))
