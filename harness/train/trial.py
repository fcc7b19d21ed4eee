"""One trial: train one network with one normalizer on one sampler's batch stream, then analyse it.

A trial is a pure function of its config (data, model, normalizer, sampler,
training, analysis, seed): `run_trial(config)` returns a JSON-able result and
touches nothing else, so the runner can cache it, resume it, or run it in
another process or on another machine.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import json
import re
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.analysis import metrics
from harness.data import sources as data_sources
from harness.plugins.output import checked_batches
from harness.results.rundir import DIVERGED, OK, TrialResult, pack_correct
from harness.runtime import heavy
from harness.scenario import batch_stream, config_hash, sampler_for, test_examples

# make_optimizer: bench_run imports it from here
from harness.scenario.recipe import float32_logits, make_loss, make_optimizer, precision_scope  # noqa: F401
from harness.train.coverage import cover_every_example

if TYPE_CHECKING:
    from harness.runtime.compile import Function
    from harness.scenario import Scenario

TEST_SAMPLER_SEED_OFFSET = 7919
PRECISE_SEED_OFFSET = 104729
FINAL_METRICS = frozenset(metrics.produced(metrics.FINAL))  # of the last evaluation's metrics, the final ones too


def trial_id(config: dict[str, Any]) -> str:
    """A readable, unique file name for a trial: sampler, normalizer, seed and any swept values."""
    parts = [config["sampler"], config["normalizer"], f"s{config['seed']}"]
    for path, value in sorted(config.get("point", {}).items()):
        parts.append(f"{path.split('.')[-1]}={value}")
    readable = "__".join(str(p) for p in parts)
    return unique_file_name(readable, config.get("point", {}))


_SAFE_ID = re.compile(r"[^A-Za-z0-9_.=+-]")


def unique_file_name(readable: str, point: dict[str, Any]) -> str:
    """`readable` as a file name that identifies the sweep point: kept as it is when that is safe and unique;
    otherwise (a '/', NUL or other character a file name cannot hold, a '__' or a string that reads as a
    number inside a value, or a name too long for the file system) shortened, sanitised and given a short hash
    of the point, so two points never share a file."""
    from harness.params.limits import MAX_ID_LENGTH

    safe = _SAFE_ID.sub("-", readable)
    ambiguous = any(isinstance(v, str) and ("__" in v or not _reads_as_itself(v)) for v in point.values())
    if safe == readable and len(safe) <= MAX_ID_LENGTH and not ambiguous:
        return readable
    digest = config_hash(sorted(point.items()) if point else readable)[:8]
    return f"{safe[:MAX_ID_LENGTH - 10]}~{digest}"


def _reads_as_itself(text: str) -> bool:
    """Whether a swept string would print like no other YAML value (`1`, `true`, `null` print like numbers...)."""
    import yaml

    try:
        return bool(yaml.safe_load(text) == text)
    except yaml.YAMLError:
        return True


DEVICES = ("cpu", "gpu")


def _xla_plan(config: dict, device: str) -> dict:
    """{"training": bool, "analysis": bool}: where XLA runs for this trial config on `device` (cpu or gpu).

    The one call of the XLA rule (`harness.train.xla.resolve`) for trial configs; pure (no TensorFlow import).
    """
    from harness.train.xla import resolve_for

    return resolve_for(config["model"], device.upper(), setting=config["training"].get("jit_compile", "auto"))


def model_family(model_name: str) -> str | None:
    """The family of a model kind (`harness.models.kinds`), or None where the kind does not declare one."""
    from harness.models import kinds as model_kinds

    if model_name not in getattr(model_kinds, "BUILTINS", {}):
        return None  # a plugin model: resolving it would import TensorFlow
    try:
        return getattr(model_kinds.get(model_name), "family", None)
    except Exception:  # noqa: BLE001 - the family is informative only
        return None


def make_trial_config(scenario: Scenario, sampler: str, normalizer: str, seed: int, point: dict | None = None,
                      device: str = "cpu") -> dict:
    """Everything that determines a trial's result, and nothing else: the scenario's settings for this trial,
    the device kind it runs on (cpu or gpu) and where XLA runs there (`xla`, resolved), so a trial run on
    another device or with another XLA setting is another trial (its hash differs)."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}. Received: device={device!r}")
    config = {
        "data": scenario.data,
        "model": scenario.model,
        "training": scenario.training,
        "analysis": scenario.trial_analysis,
        "sampler": sampler,
        "sampler_config": scenario.samplers[sampler],
        "normalizer": normalizer,
        "normalizer_config": scenario.normalizers[normalizer],
        "seed": seed,
        "point": dict(point or {}),
        "device": device,
    }
    config["xla"] = _xla_plan(config, device)
    config["id"] = trial_id(config)
    config["hash"] = trial_hash(config)
    return config


def trial_hash(config: dict[str, Any]) -> str:
    """What makes a saved result reusable: the config (sweep point aside: two points that resolve to the same
    trial share it), the harness version, and for a user's npz file its size and modification time."""
    import harness

    content = {k: v for k, v in config.items() if k not in ("id", "hash", "point")}
    content["harness_version"] = harness.__version__
    source = data_sources.get(config["data"]["name"])
    if source.identity is not None:  # the files it reads (a user's npz file, the local datasets' archives)
        content.update(source.identity(config["data"]))
    return config_hash(content)


@functools.lru_cache(maxsize=4)
def _dataset(data_json: str) -> data_sources.Dataset:
    return data_sources.load(json.loads(data_json))


def load_dataset(data_config: dict[str, Any]) -> data_sources.Dataset:
    """The dataset, loaded once per process for all trials that share it."""
    return _dataset(json.dumps(data_config, sort_keys=True))


def make_train_chunk(model: Any, optimizer: Any, x_train: np.ndarray, y_train: np.ndarray, batch_size: int,
                     loss_fn: Any = None, transform: Callable[[Any, Any], Any] | None = None,
                     jit_compile: bool = False) -> Function:
    """A compiled function running one training step per row of an (n, batch_size) index array.

    Several steps run per call (a `tf.range` loop inside one `tf.function`), so
    Python dispatch does not dominate small models. Returns the per-step losses (to
    find the step a loss turns NaN) and the number of correct predictions in all.
    `transform(images, step)` (harness.data.augment) turns a gathered batch, as stored (uint8
    images stay uint8 on the device), into the network's float input, augmented for
    the optimizer's step; None feeds the stored arrays as they are.
    With `jit_compile` the function is compiled by XLA, or, if XLA cannot compile
    the model, falls back to a plain `tf.function` with one warning line (its `jit`
    attribute tells which ran). The NaN check runs on the returned losses, outside.
    """
    from harness.runtime.compile import Function

    keras, tf = heavy.keras(), heavy.tensorflow()

    x_all = tf.constant(x_train)
    y_all = tf.constant(y_train)
    loss_fn = loss_fn or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer.build(model.trainable_variables)

    def train_chunk(indices: Any) -> tuple[Any, Any]:
        n = tf.shape(indices)[0]
        losses = tf.TensorArray(tf.float32, size=n)
        correct = tf.constant(0, tf.int64)
        for i in tf.range(n):
            x = tf.gather(x_all, indices[i])
            y = tf.gather(y_all, indices[i])
            if transform is not None:
                x = transform(x, optimizer.iterations)
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                loss = loss_fn(y, logits)
                scaled = optimizer.scale_loss(loss)  # the loss itself unless mixed precision scales it
            gradients = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=False))
            correct += tf.math.count_nonzero(tf.equal(tf.argmax(logits, -1), y))
            losses = losses.write(i, tf.cast(loss, tf.float32))
        return losses.stack(), correct

    return Function(train_chunk, jit_compile, f"the training step of {model.name}",
                    input_signature=[tf.TensorSpec([None, batch_size], tf.int64)])


def resolve_jit_compile(config: dict) -> dict:
    """Where the trial runs XLA ({"training": bool, "analysis": bool}): what its config recorded when it was
    planned (`xla`, part of its identity); a config from before that resolved for this process's device."""
    if "xla" in config:
        return dict(config["xla"])
    from harness.train.xla import device_type

    return _xla_plan(config, device_type().lower())


@functools.lru_cache(maxsize=1)
def _evaluation_thread() -> concurrent.futures.ThreadPoolExecutor:
    """One background thread for evaluations, shared by the trials of this process."""
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="evaluate")


def _eval_steps(steps: int, eval_every: int) -> list[int]:
    points = list(range(eval_every, steps, eval_every))
    return points + [steps]


class _Workbench:
    """A model, optimizer, compiled training chunk and analyzer, reused by every trial of the same shape.

    Tracing the compiled step costs about as much as training a small model, so
    trials that differ only in seed or sampler share one traced graph. `reset`
    gives the model's non-normalization layers the weights of the seed's reference
    model (`harness.models.builders.reference_weights`: one per seed and model, so every
    normalizer starts from the same weights), its normalization layers their weights
    as built, and the optimizer its initial state, so a trial's numbers do not depend
    on which trials ran before it in the process.
    """

    def __init__(self, config: dict[str, Any], dataset: data_sources.Dataset) -> None:
        from harness.analysis.analyzer import Analyzer
        from harness.data.augment import make_transform
        from harness.models.builders import build_model, normalization_layers, seeded

        self.config = config
        self.dataset = dataset
        # seeded: a plugin normalizer's own initial weights must not depend on what ran before
        with precision_scope(config["training"]), seeded(0):
            self.model = float32_logits(build_model(config["model"], config["normalizer_config"],
                                                    dataset.input_shape, dataset.num_classes, config["seed"]),
                                        config["training"])
        self.initial_norm_weights = [layer.get_weights() for layer in normalization_layers(self.model)]
        self.optimizer = make_optimizer(config["training"], self.model)
        self.transform = make_transform(config["data"], dataset)
        self.jit_compile = resolve_jit_compile(config)
        self.train_chunk = make_train_chunk(self.model, self.optimizer, dataset.x_train, dataset.y_train,
                                            config["training"]["batch_size"], make_loss(config["training"]),
                                            self.transform, self.jit_compile["training"])
        self.initial_optimizer_state = [v.numpy() for v in self.optimizer.variables]
        self.analyzer = Analyzer(self.model, dataset, config["analysis"]["eval_examples"],
                                 self.jit_compile["analysis"])

    def reset(self, seed: int) -> None:
        from harness.models.builders import normalization_layers, reference_weights, transplant

        transplant(self.model, reference_weights(self.config["model"], self.dataset.input_shape,
                                                 self.dataset.num_classes, seed))
        for layer, weights in zip(normalization_layers(self.model), self.initial_norm_weights, strict=False):
            layer.set_weights(weights)
        for variable, value in zip(self.optimizer.variables, self.initial_optimizer_state, strict=False):
            variable.assign(value)
        if self.transform is not None:
            self.transform.reset(seed)


_WORKBENCHES: collections.OrderedDict[str, _Workbench] = collections.OrderedDict()
MAX_WORKBENCHES = 8


def shape_key(config: dict[str, Any]) -> str:
    """What the traced graph depends on (not the number of steps, the seed or the sampler)."""
    training = {k: v for k, v in config["training"].items() if k != "steps"}
    return json.dumps({"data": config["data"], "model": config["model"], "normalizer": config["normalizer_config"],
                       "training": training, "eval_examples": config["analysis"]["eval_examples"]}, sort_keys=True)


def workbench(config: dict[str, Any], dataset: data_sources.Dataset) -> _Workbench:
    """The cached workbench for this trial's shape; the least recently used is dropped past MAX_WORKBENCHES."""
    key = shape_key(config)
    if key in _WORKBENCHES:
        _WORKBENCHES.move_to_end(key)
    else:
        while len(_WORKBENCHES) >= MAX_WORKBENCHES:
            _WORKBENCHES.popitem(last=False)
        _WORKBENCHES[key] = _Workbench(config, dataset)
    bench = _WORKBENCHES[key]
    bench.reset(config["seed"])
    return bench


def environment() -> dict[str, Any]:
    """Versions and device name of the process that ran a trial (a resumed run may mix several)."""
    from harness.runtime.tfsetup import environment as process_environment

    process = process_environment()
    device = process["device"]
    return {"versions": process["versions"], "device": device["name"],
            **({"cuda_visible_devices": device["cuda_visible_devices"]} if device.get("gpus") else {})}


def run_trial(config: dict[str, Any], on_step: Callable[[int, int], object] | None = None) -> dict[str, Any]:
    """Train and analyse one trial; returns its result dict. Exceptions are the caller's to record."""
    from harness.runtime.tfsetup import set_determinism
    from harness.train.xla import device_type

    heavy.tensorflow()
    here = device_type().lower()
    if config.get("device", here) != here:  # its identity says where it runs: never file a result from elsewhere
        raise RuntimeError(f"trial {config['id']} was planned for the {config['device']} but this process has "
                           f"the {here} (run with --device {here}, or where the {config['device']} is seen)")
    started = time.perf_counter()
    seed = config["seed"]
    training, analysis = config["training"], config["analysis"]
    batch_size, steps = training["batch_size"], training["steps"]
    set_determinism(seed)
    dataset = load_dataset(config["data"])
    name = config["sampler"]
    stream = batch_stream(config["sampler_config"], dataset.x_train, dataset.y_train, batch_size, seed, steps, name)
    n_test = test_examples(analysis, dataset)
    test_batches = max(n_test // batch_size, 1)
    test_x, test_y = dataset.x_test[:n_test], dataset.y_test[:n_test]
    test_sampler = sampler_for(config["sampler_config"], test_x, test_y, batch_size, seed + TEST_SAMPLER_SEED_OFFSET)
    sampler_batches = checked_batches(test_sampler, test_batches, n_test, name)
    # the batch-statistics modes score every test example: missing ones are padded in from the same sampler
    sampler_test, sampler_weights = cover_every_example(sampler_batches, test_sampler, test_y)
    iid_sampler = sampler_for({"kind": "iid"}, None, test_y, batch_size, seed + TEST_SAMPLER_SEED_OFFSET)
    iid_test, iid_weights = cover_every_example(iid_sampler.batches(test_batches), iid_sampler, test_y)

    bench = workbench(config, dataset)
    from harness.models.builders import init_fingerprint

    fingerprint = init_fingerprint(bench.model)
    train_chunk, analyzer = bench.train_chunk, bench.analyzer
    probe = sampler_batches[: analysis["probe_batches"]]

    curves: list[dict[str, Any]] = []
    chunk_times: list[tuple[float, int]] = []
    timing = {"train": 0.0, "analysis": 0.0}
    step, status, diverged_step = 0, OK, None
    window_losses, window_correct = [], 0
    # Evaluations run on a snapshot of the variables on another thread, overlapping the training that follows.
    evaluations: list[tuple[int, dict[str, Any], concurrent.futures.Future[dict[str, Any]]]] = []
    warm_up: concurrent.futures.Future[Any] | None = None
    try:
        for eval_step in _eval_steps(steps, analysis["eval_every"]):
            while step < eval_step:
                chunk = stream[step:min(eval_step, step + training["steps_per_call"])]
                tic = time.perf_counter()
                losses, correct = (np.asarray(t) for t in train_chunk(chunk))
                chunk_times.append((time.perf_counter() - tic, len(chunk)))
                timing["train"] += chunk_times[-1][0]
                bad = np.flatnonzero(~np.isfinite(losses))
                if bad.size:
                    status, diverged_step = DIVERGED, step + int(bad[0]) + 1
                    break
                window_losses.extend(losses.tolist())
                window_correct += int(correct)
                step += len(chunk)
                if on_step is not None:
                    on_step(step, steps)
            if status == DIVERGED:
                break
            tic = time.perf_counter()
            window = metrics.training_window(window_losses, window_correct, batch_size)
            evaluation = _evaluation_thread().submit(analyzer.evaluate, sampler_test, analysis["probe_batches"],
                                                     analyzer.snapshot(), sampler_weights)
            evaluations.append((step, window, evaluation))
            if warm_up is None:
                warm_up = _evaluation_thread().submit(analyzer.warm_up_mismatch, batch_size)
            timing["analysis"] += time.perf_counter() - tic
            window_losses, window_correct = [], 0
        tic = time.perf_counter()
        for eval_step, window, evaluation in evaluations:
            final = {**window, **evaluation.result()}
            curves.extend({"step": eval_step, "metric": metric, "value": value} for metric, value in final.items())
        if warm_up is not None:
            warm_up.result()
        timing["analysis"] += time.perf_counter() - tic
    finally:
        for future in [evaluation for _, _, evaluation in evaluations] + [warm_up]:
            if future is not None:
                future.cancel()  # after an error or Ctrl-C: the ones not started are dropped

    result = TrialResult(id=config["id"], hash=config["hash"], config=config, status=status,
                         environment={**environment(), "jit_compile": {"training": train_chunk.jit,
                                                                       "analysis": analyzer.jit_compile}},
                         diverged_step=diverged_step, curves=curves,
                         init_fingerprint=fingerprint)
    if status == OK:
        tic = time.perf_counter()
        n_precise = -(-analysis["precise_examples"] // batch_size)  # whole batches covering precise_examples
        precise_batches = batch_stream({"kind": "iid"}, None, dataset.y_train, batch_size,
                                       seed + PRECISE_SEED_OFFSET, n_precise)
        own_batches = batch_stream(config["sampler_config"], dataset.x_train, dataset.y_train, batch_size,
                                   seed + PRECISE_SEED_OFFSET, n_precise)
        final = {k: v for k, v in final.items() if k in FINAL_METRICS}
        context = metrics.FinalContext(analyzer, config, {
            "sampler": sampler_batches, "iid_test": iid_test, "iid_weights": iid_weights,
            "precise": precise_batches, "own": own_batches})
        for evaluator in metrics.final_evaluators(analysis.get("metrics", ())):
            final.update(evaluator(context))
        # which test examples the final model gets right in inference mode (bit-packed): the comparisons'
        # bootstrap over test examples needs them
        correct = context.inference_logits().argmax(-1) == analyzer.y_test
        result.extra["correct"] = {metrics.COMPARED: pack_correct(correct), "n": int(correct.size)}
        result.layers = analyzer.layer_statistics(probe)
        timing["analysis"] += time.perf_counter() - tic
    steady = chunk_times[1:] or chunk_times
    ms_per_step = 1000 * sum(t for t, _ in steady) / max(sum(n for _, n in steady), 1)
    timing["trace"] = max(chunk_times[0][0] - chunk_times[0][1] * ms_per_step / 1000, 0.0) if chunk_times else 0.0
    result.seconds = time.perf_counter() - started
    result.timing = timing
    if status == OK:
        result.final = {**final, **metrics.trial_timing(result.seconds, ms_per_step)}
    return result.to_dict()


def failed_result(config: dict[str, Any], error: BaseException) -> dict[str, Any]:
    """The record of a trial that raised: kept, listed in the report, retried on resume."""
    last = traceback.format_exception_only(type(error), error)[-1].strip()
    return TrialResult.failed(config, last.splitlines()[0][:500]).to_dict()
