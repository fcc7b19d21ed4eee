"""The analyzer: how much a trained network depends on the composition of its minibatch.

All training-mode evaluation goes through `stateless_call`, so it reads the
model's variables but never writes them: evaluating cannot change what is
being evaluated.

Metrics (names as in the run directory's tables):
- acc_inference: inference mode (population statistics), what a deployed model gets.
- acc_batch_iid / acc_batch_sampler: training mode (batch statistics) on test batches
  of the training batch size built by the i.i.d. / the scenario's sampler; every test example is scored
  (examples the sampler's batches miss are padded in from the same sampler: `harness.train.coverage`).
- acc_precise_iid: inference accuracy after re-estimating population statistics on
  i.i.d. training batches (PreciseBN, Wu & Johnson 2021).
- acc_precise_own: inference accuracy with each layer's statistics set to what its own moving
  average tracks (mean sigma_B for Batch Renorm, mean group variance for BN and microbatch BN),
  averaged with equal weights over the scenario's sampler's training batches: no staleness.
- per normalization layer: r = sigma_B / sigma and d = (mu_B - mu) / sigma per channel
  (quantiles of |log r| and |d|), relative L2 mismatch of training- vs inference-mode
  outputs with the same input (local) and through the whole network (propagated),
  and for renormalizing layers the fraction of (channel, batch) pairs whose r or d hit the clip.
- at the logits: disagreement of the argmax and mean KL(p_train || p_inference).

Each of these metrics is described (when produced, label, unit, range, report group) in
`harness.analysis.metrics.METRICS`, which the trial, the tables and the report read; the final numbers computed
after training are the `Evaluator` entries there (each names what it returns), which call the methods here.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable

import numpy as np

from harness.analysis.metrics import QUANTILES
from harness.models.builders import normalization_layers
from harness.runtime import heavy

if typing.TYPE_CHECKING:
    from harness.data.sources import Dataset

Statistics = tuple[np.ndarray, np.ndarray]
"""(mean, variance) per channel of a layer's input."""
Estimate = Callable[[np.ndarray, np.ndarray, typing.Any], Statistics]
"""`estimate(group_means, group_variances, layer)`: a layer's population statistics from its groups' moments."""

CLIP_TOLERANCE = 1e-6
INFERENCE_CHUNK = 512


def finite_array(values: typing.Any) -> bool:
    """True when every element of `values` (logits, activations) is finite: a metric computed from anything else
    is NaN, never a number (argmax of NaN is class 0; see `harness.results.finite`)."""
    return bool(np.isfinite(np.asarray(values)).all())


class Passes(typing.NamedTuple):
    """What one call of the analyzer returns (None where not asked for).

    inference_logits: (n_test, classes), inference mode. logits: (n_batches, batch, classes),
    training mode, each batch normalized with its own statistics. moments: per normalization
    layer, (means, variances) of its training-mode input, each (n_batches, groups, channels),
    groups = batch / microbatch_size (1 without microbatches): r, d and PreciseBN need nothing
    else. clipped: {layer index: (n_batches,)} for renormalizing layers, the fraction of
    (group, channel) pairs whose r or d sits at the clip the layer's next training step uses,
    from these moments and the clip reference read in the same compiled call.
    """

    inference_logits: typing.Any
    logits: typing.Any
    moments: typing.Any
    clipped: typing.Any


class Analyzer:
    """Evaluates one model on the test split; index batches are passed to each method.

    Everything runs through two compiled functions per model and batch size, each
    traced once (the numbers of chunks and batches are left open): `_passes`, the
    inference logits of the test split together with a training-mode pass over
    batches, and the layer-mismatch pass of `output_mismatch`; a third, `snapshot()`,
    copies the variables' values. `_passes` takes those values as arguments (the current
    ones, or a snapshot taken earlier); the mismatch pass reads them when called. So one
    Analyzer serves every trial that reuses the model.
    """

    def __init__(self, model: typing.Any, dataset: Dataset, eval_examples: int | None = None,
                 jit_compile: bool = False) -> None:
        """Analyze `model` (a Keras model) on the first `eval_examples` test examples of `dataset` (all by default);
        `jit_compile`: compile the passes with XLA."""
        from harness.norms import clip_limits

        keras, tf = heavy.keras(), heavy.tensorflow()

        self.model = model
        self.norm_layers = normalization_layers(model)
        self.dataset = dataset
        n_test = len(dataset.y_test) if eval_examples is None else min(eval_examples, len(dataset.y_test))
        self.x_test, self.y_test = dataset.to_float(dataset.x_test[:n_test]), dataset.y_test[:n_test]
        outputs = [layer.input for layer in self.norm_layers] + [layer.output for layer in self.norm_layers]
        self.probe = keras.Model(model.inputs, outputs + [model.output])
        # equal chunks of at most INFERENCE_CHUNK: padding to a multiple of INFERENCE_CHUNK computed up to ~2x the
        # test split (540 digits -> 1,024 rows); each example's logits do not depend on its chunk's size
        chunk = -(-n_test // -(-n_test // INFERENCE_CHUNK))
        padded = np.concatenate([self.x_test, np.zeros((-n_test % chunk, *self.x_test.shape[1:]), np.float32)])
        self._test_chunks = tf.constant(padded.reshape(-1, chunk, *self.x_test.shape[1:]))
        self._renormalizing = [i for i, layer in enumerate(self.norm_layers) if clip_limits(layer) is not None]
        self._compiled: dict[typing.Any, Callable[..., typing.Any]] = {}
        self._last_batch_size = 1
        self.jit_compile = bool(jit_compile)  # XLA for the passes; False once XLA has refused one of them

    # -- running the network -------------------------------------------------
    def _variables(self) -> tuple[list[typing.Any], list[typing.Any]]:
        """The probe's variable values, read when the compiled function runs, for `stateless_call`."""
        tf = heavy.tensorflow()

        return ([tf.convert_to_tensor(v.value) for v in self.probe.trainable_variables],
                [tf.convert_to_tensor(v.value) for v in self.probe.non_trainable_variables])

    def snapshot(self) -> typing.Any:
        """The model's variable values now, for `evaluate(..., variables=)` later.

        TensorFlow copies a variable's buffer before updating it while a read of it is
        alive, so training on does not change the snapshot: the evaluation can run on
        another thread, overlapping training, and give what evaluating now would.
        """
        if "snapshot" not in self._compiled:
            tf = heavy.tensorflow()

            self._compiled["snapshot"] = tf.function(self._variables, autograph=False)
        return self._compiled["snapshot"]()

    def _passes(self, batch_size: int) -> Callable[..., typing.Any]:
        """The compiled call behind `Passes`, for batches of `batch_size`.

        Inference is a sequential map over chunks of the test split (examples are
        independent there, only memory matters); the training-mode pass is vectorised
        over batches. `stateless_call`: the model is read, never written.
        """
        if ("passes", batch_size) not in self._compiled:
            from harness.norms import renorm_clip_reference

            keras, tf = heavy.keras(), heavy.tensorflow()

            probe, layers = self.probe, self.norm_layers
            groups = [batch_size // (getattr(layer, "microbatch_size", None) or batch_size) for layer in layers]
            shape = self.x_test.shape[1:]

            def training_pass(trainable: typing.Any, non_trainable: typing.Any, xb: typing.Any) -> typing.Any:
                outputs, _ = probe.stateless_call(trainable, non_trainable, xb, training=True)
                moments: list[typing.Any] = []
                for i, (layer, value) in enumerate(zip(layers, outputs[:len(layers)], strict=False)):
                    value = tf.experimental.numpy.moveaxis(tf.cast(value, tf.float32), _channel_axis(layer), -1)
                    value = tf.reshape(value, [groups[i], -1, tf.shape(value)[-1]])
                    moments.append(tf.nn.moments(value, axes=[1]))
                return outputs[-1], moments

            def specs(variables: typing.Any) -> list[typing.Any]:
                return [tf.TensorSpec(v.shape, v.dtype) for v in variables]

            def passes(trainable: typing.Any, non_trainable: typing.Any, x_chunks: typing.Any,
                       x_batches: typing.Any) -> typing.Any:
                mapping = [*zip(probe.trainable_variables, trainable, strict=False),
                           *zip(probe.non_trainable_variables, non_trainable, strict=False)]
                with keras.StatelessScope(state_mapping=mapping):  # the clip references read the given values too
                    references = [[tf.cast(value, tf.float32) for value in renorm_clip_reference(layers[i])]
                                  for i in self._renormalizing]
                inference = tf.map_fn(
                    lambda xc: probe.stateless_call(trainable, non_trainable, xc, training=False)[0][-1], x_chunks)
                training = tf.vectorized_map(lambda xb: training_pass(trainable, non_trainable, xb),
                                             x_batches, fallback_to_while_loop=True)
                return inference, training, references

            self._compiled["passes", batch_size] = self._function(passes, "the analyzer's passes", input_signature=[
                specs(probe.trainable_variables), specs(probe.non_trainable_variables),
                tf.TensorSpec([None, *self._test_chunks.shape[1:]]), tf.TensorSpec([None, batch_size, *shape])])
        self._last_batch_size = batch_size
        return self._compiled["passes", batch_size]

    def run(self, x_batches: np.ndarray | None = None, inference: bool = True,
            variables: typing.Any = None) -> Passes:
        """One compiled call: inference logits of the test split (if `inference`) and the training-mode pass
        over (n_batches, batch, ...) inputs (if given), with the model's current variables or a `snapshot()`.
        Returns `Passes`. Without batches it reuses the function of the last batch size (its training half
        runs on one batch of zeros), so asking for inference alone costs no new trace."""
        variables = self.snapshot() if variables is None else variables
        batch_size = self._last_batch_size if x_batches is None else x_batches.shape[1]
        # under XLA, a map over zero chunks does not compile: one chunk instead, its logits dropped
        chunks = self._test_chunks if inference else self._test_chunks[:1 if self.jit_compile else 0]
        # no batches: one batch of zeros, its outputs dropped (pfor mis-shapes a vectorised map over zero batches)
        batches = np.zeros((1, batch_size, *self.x_test.shape[1:]), np.float32) if x_batches is None else x_batches
        chunk_logits, (logits, moments), references = self._passes(batch_size)(*variables, chunks, batches)
        inference_logits = None
        if inference:
            inference_logits = np.asarray(chunk_logits).reshape(-1, chunk_logits.shape[-1])[:len(self.x_test)]
        if x_batches is None:
            return Passes(inference_logits, None, None, None)
        moments = [(np.asarray(m, np.float64), np.asarray(v, np.float64)) for m, v in moments]
        clipped: dict[int, np.ndarray] = {}
        for i, (mean, std, r_max, d_max) in zip(self._renormalizing, references, strict=False):
            group_means, group_variances = moments[i]
            r, d = _renorm_factors(group_means, group_variances, self.norm_layers[i], np.asarray(mean, np.float64),
                                   np.asarray(std, np.float64))
            clipped[i] = _at_clip(r, d, float(r_max), float(d_max)).mean(axis=(1, 2))
        return Passes(inference_logits, np.asarray(logits), moments, clipped)

    def inference_logits(self) -> np.ndarray:
        """Inference-mode logits of the whole test split."""
        return self.run().inference_logits

    def input_moments(self, x_batches: np.ndarray) -> list[Statistics]:
        """Per normalization layer, (means, variances) of its training-mode input per batch: see `Passes`."""
        return self.run(x_batches, inference=False).moments

    def output_mismatch(self, x_batches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per normalization layer, relative L2 of training- vs inference-mode output, per batch.

        Returns (local, propagated), each (n_batches, n_layers): local feeds the layer
        the same input (its inference-mode input) in both modes; propagated runs each
        mode through the whole network. Layers without a training mode (GroupNorm,
        LayerNorm, identity) behave the same in both: local 0.
        """
        local, propagated = self._mismatch_function(x_batches.shape[1])(x_batches)
        return np.asarray(local, np.float64), np.asarray(propagated, np.float64)

    def warm_up_mismatch(self, batch_size: int) -> None:
        """Trace and instantiate `output_mismatch`'s function for `batch_size` ahead of need.

        The runner calls it on its evaluation thread while training goes on, so the end of
        the first trial of a shape does not wait for it (about half a second for the default
        MLP). The call on a batch of zeros only reads the model.
        """
        if ("mismatch", batch_size) not in self._compiled:
            self._mismatch_function(batch_size)(np.zeros((1, batch_size, *self.x_test.shape[1:]), np.float32))

    def _mismatch_function(self, batch_size: int) -> Callable[..., typing.Any]:
        """The compiled per-batch mismatch pass: a sequential map (final analysis only, on a few batches,
        so cheaper to trace than a vectorised one)."""
        key = "mismatch", batch_size
        if key in self._compiled:
            return self._compiled[key]
        tf = heavy.tensorflow()

        probe, layers = self.probe, self.norm_layers
        n = len(layers)
        has_mode = ["training" in inspect.signature(layer.call).parameters for layer in layers]

        def relative_l2(a: typing.Any, b: typing.Any) -> typing.Any:
            a, b = tf.cast(a, tf.float32), tf.cast(b, tf.float32)  # float16 layers under mixed precision
            return tf.norm(a - b) / tf.maximum(tf.norm(b), 1e-12)

        def mismatch_of_batch(trainable: typing.Any, non_trainable: typing.Any, xb: typing.Any) -> typing.Any:
            train, _ = probe.stateless_call(trainable, non_trainable, xb, training=True)
            inference, _ = probe.stateless_call(trainable, non_trainable, xb, training=False)
            local: list[typing.Any] = []
            propagated: list[typing.Any] = []
            for i, layer in enumerate(layers):
                propagated.append(relative_l2(train[n + i], inference[n + i]))
                if not has_mode[i]:
                    local.append(tf.constant(0.0))
                    continue
                layer_trainable = [v.value for v in layer.trainable_variables]
                layer_non_trainable = [v.value for v in layer.non_trainable_variables]
                y_train, _ = layer.stateless_call(layer_trainable, layer_non_trainable, inference[i], training=True)
                local.append(relative_l2(y_train, inference[n + i]))
            return tf.stack(local), tf.stack(propagated)

        def over_batches(x_batches: typing.Any) -> typing.Any:
            trainable, non_trainable = self._variables()
            return tf.map_fn(lambda xb: mismatch_of_batch(trainable, non_trainable, xb), x_batches,
                             fn_output_signature=(tf.float32, tf.float32))

        self._compiled[key] = self._function(over_batches, "the analyzer's mismatch pass", input_signature=[
            tf.TensorSpec([None, batch_size, *self.x_test.shape[1:]])])
        return self._compiled[key]

    def _function(self, python_function: Callable[..., typing.Any], what: str,
                  input_signature: list[typing.Any]) -> Callable[..., typing.Any]:
        """A compiled pass: under XLA when `jit_compile` (falling back to plain `tf.function` if XLA refuses)."""
        from harness.runtime.compile import Function

        function = Function(python_function, self.jit_compile, f"{what} of {self.model.name}", autograph=False,
                            input_signature=input_signature)

        def call(*args: typing.Any) -> typing.Any:
            outputs = function(*args)
            self.jit_compile = self.jit_compile and function.jit
            return outputs

        return call

    # -- what is tracked along training ------------------------------------
    def evaluate(self, sampler_batches: np.ndarray, probe_batches: int, variables: typing.Any = None,
                 weights: np.ndarray | None = None) -> dict[str, float]:
        """acc_inference, acc_batch_sampler and (renormalizing models only) the clip fraction on the first
        `probe_batches` sampler batches, from one compiled call: the metrics of every evaluation step.

        `variables`: a `snapshot()` to evaluate instead of the model's current state. `weights`: which slots of
        the batches count for acc_batch_sampler (see `harness.train.coverage`; default all).
        """
        passes = self.run(self.x_test[sampler_batches], variables=variables)
        metrics = {"acc_inference": _accuracy(passes.inference_logits, self.y_test),
                   "acc_batch_sampler": _accuracy(passes.logits, self.y_test[sampler_batches], weights)}
        if passes.clipped:
            metrics["clip_fraction"] = _mean_clip_fraction(passes.clipped, probe_batches)
        return metrics

    # -- accuracies ---------------------------------------------------------
    def acc_inference(self) -> float:
        """acc_inference: inference-mode accuracy on the test split."""
        return _accuracy(self.inference_logits(), self.y_test)

    def acc_batch(self, index_batches: np.ndarray, weights: np.ndarray | None = None) -> float:
        """Training-mode accuracy, each batch normalized with its own statistics, over the slots `weights` marks
        (default all: padded batches from `harness.train.coverage` count only their swapped-in examples)."""
        return _accuracy(self.run(self.x_test[index_batches], inference=False).logits, self.y_test[index_batches],
                         weights)

    def acc_precise(self, train_index_batches: np.ndarray) -> float | None:
        """acc_precise_iid: inference accuracy with population statistics re-estimated on i.i.d. training batches
        (Wu & Johnson's PreciseBN).

        Each normalization layer's population mean and variance become those of all
        examples pooled over the batches (mean of batch means; mean of batch variances
        plus the variance of batch means), its inputs taken in training mode as in
        training. Layers are re-estimated in depth order: a renormalizing layer's
        training-mode output depends on its own population statistics, so the layers
        after it are measured again once it has its new ones. The model's statistics
        are restored afterwards. None when a layer may use batch statistics (its traits say so, or are
        unknown) but has no population statistics the harness can set.
        """
        return self._reestimated_accuracy(train_index_batches, _pooled_statistics)

    def acc_precise_own(self, train_index_batches: np.ndarray) -> float | None:
        """acc_precise_own: inference accuracy with each layer's statistics set to what its own moving average
        tracks, averaged with equal weights over the given training batches (the scenario's sampler), without the
        moving average's staleness.

        Per layer: the mean of its (micro)batch means; for a layer that tracks a standard deviation (our Batch
        Renorm, Keras renorm) the mean of sigma_B = sqrt(var_B + epsilon) over (micro)batches, for BN the mean of
        the (micro)batch variances. So for BN on i.i.d. batches it is close to acc_precise_iid (they differ by the
        spread of batch means); for BRN it keeps the function BRN was trained to compute, and for microbatch BN it
        keeps the mean group variance instead of the pooled one. Same depth-order re-estimation as acc_precise.
        """
        return self._reestimated_accuracy(train_index_batches, _own_statistics)

    def _reestimated_accuracy(self, train_index_batches: np.ndarray, estimate: Estimate) -> float | None:
        """Inference accuracy after setting each normalization layer's statistics to `estimate(group_means,
        group_variances, layer)` of its training-mode input over the batches (depth order, see acc_precise)."""
        from harness.norms import clip_limits, set_population_statistics, traits

        known = [traits(layer) for layer in self.norm_layers]
        pending = [(i, layer) for i, layer in enumerate(self.norm_layers)
                   if known[i].settable and known[i].population_statistics() is not None]
        if any(known[i].batch_dependent is not False for i in range(len(known)) if i not in dict(pending)):
            return None  # a layer with batch statistics the harness cannot read or set: no PreciseBN
        if not pending:
            return self.acc_inference()
        saved = [v.numpy() for v in self.model.non_trainable_variables]
        try:
            while pending:
                pooled = self._pooled_input_statistics(train_index_batches, pending, estimate)
                while pending:
                    i, layer = pending.pop(0)
                    set_population_statistics(layer, *pooled[i])
                    if clip_limits(layer) is not None:
                        break  # what comes after this layer in training mode has just changed
            return self.acc_inference()
        finally:
            for variable, value in zip(self.model.non_trainable_variables, saved, strict=False):
                variable.assign(value)

    def _pooled_input_statistics(self, index_batches: np.ndarray, layers: list[tuple[int, typing.Any]],
                                 estimate: Estimate | None = None) -> dict[int, Statistics]:
        """{layer index: (mean, variance)} of each layer's training-mode input over the batches (pooled over all
        examples by default, else `estimate(group_means, group_variances, layer)`)."""
        estimate = estimate or _pooled_statistics
        moments = self.input_moments(self.dataset.to_float(self.dataset.x_train[index_batches]))
        return {i: estimate(*moments[i], layer) for i, layer in layers}

    # -- layers and logits -------------------------------------------------
    def clip_fraction(self, index_batches: np.ndarray) -> float | None:
        """Fraction of (channel, batch) pairs whose r or d sits at the clip, averaged over renormalizing layers.

        r and d are taken against the statistics the layer itself renormalizes with
        (for Keras renorm its separate renorm averages). None when the model has no renormalizing layer.
        """
        clipped = self.run(self.x_test[index_batches], inference=False).clipped
        return _mean_clip_fraction(clipped, len(index_batches)) if clipped else None

    def layer_statistics(self, index_batches: np.ndarray) -> list[dict[str, float]]:
        """One dict per normalization layer (depth from 1): r/d quantiles, mismatches, clip fraction."""
        from harness.norms import population_statistics

        passes = self.run(self.x_test[index_batches], inference=False)
        local, propagated = self.output_mismatch(self.x_test[index_batches])
        rows: list[dict[str, float]] = []
        for i, layer in enumerate(self.norm_layers):
            row: dict[str, float] = {"layer": i + 1, "mismatch_local": float(np.mean(local[:, i])),
                   "mismatch_propagated": float(np.mean(propagated[:, i]))}
            population = population_statistics(layer)
            if population is not None:
                group_means, group_variances = passes.moments[i]
                r, d = _renorm_factors(group_means, group_variances, layer, *population)
                abs_log_r, abs_d = np.abs(np.log(r)).ravel(), np.abs(d).ravel()
                for q in QUANTILES:
                    row[f"abs_log_r_q{round(q * 100):02d}"] = float(np.quantile(abs_log_r, q))
                    row[f"abs_d_q{round(q * 100):02d}"] = float(np.quantile(abs_d, q))
            if i in passes.clipped:
                row["clip_fraction"] = float(np.mean(passes.clipped[i]))
            rows.append(row)
        return rows

    def logit_mismatch(self, index_batches: np.ndarray) -> dict[str, float]:
        """Disagreement rate of the predicted class and mean KL(p_train || p_inference) on sampler batches.

        Inference mode treats every example on its own, so its logits are those of the test split, gathered
        (computed in chunks of the test split, not in these batches: equal up to float rounding, so for
        layers without batch statistics the KL is ~1e-7 rather than exactly 0).
        """
        passes = self.run(self.x_test[index_batches])
        if not (finite_array(passes.logits) and finite_array(passes.inference_logits)):  # see harness.results.finite
            return {"logit_disagreement": float("nan"), "logit_kl": float("nan")}
        log_p_train = _log_softmax(passes.logits)
        log_p_inf = _log_softmax(passes.inference_logits[index_batches])
        kl = (np.exp(log_p_train) * (log_p_train - log_p_inf)).sum(-1)
        return {"logit_disagreement": float(np.mean(log_p_train.argmax(-1) != log_p_inf.argmax(-1))),
                "logit_kl": float(np.mean(kl))}


def _pooled_statistics(group_means: np.ndarray, group_variances: np.ndarray, layer: typing.Any) -> Statistics:
    """PreciseBN's population estimate: mean and variance of all examples pooled over equal-sized groups
    (mean of group means; mean of group variances plus the variance of group means: law of total variance)."""
    mean = group_means.mean(axis=(0, 1))
    variance = group_variances.mean(axis=(0, 1)) + ((group_means - mean) ** 2).mean(axis=(0, 1))
    return mean, variance


def _own_statistics(group_means: np.ndarray, group_variances: np.ndarray, layer: typing.Any) -> Statistics:
    """What the layer's moving averages track, averaged with equal weights over (micro)batches: the mean of group
    means, and the mean of group sigmas (layers keeping a standard deviation) or of group variances (BN).
    Returned as (mean, variance without epsilon), what `set_population_statistics` takes."""
    from harness.norms import tracks_stddev

    mean = group_means.mean(axis=(0, 1))
    if tracks_stddev(layer):
        epsilon = float(getattr(layer, "epsilon", 1e-3))
        sigma = np.sqrt(group_variances + epsilon).mean(axis=(0, 1))
        return mean, np.maximum(sigma ** 2 - epsilon, 0.0)
    return mean, group_variances.mean(axis=(0, 1))


def _accuracy(logits: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    if not finite_array(logits):  # argmax of NaN is class 0: not an accuracy (harness.results.finite)
        return float("nan")
    correct = logits.argmax(-1) == labels
    if weights is None:
        return float(np.mean(correct))
    weights = np.asarray(weights, dtype=bool)
    return float(np.sum(correct & weights) / np.sum(weights))


def _mean_clip_fraction(clipped: dict[int, np.ndarray], n_batches: int) -> float:
    """Mean over renormalizing layers of the clip fraction on the first `n_batches` batches."""
    return float(np.mean([fractions[:n_batches].mean() for fractions in clipped.values()]))


def _channel_axis(layer: typing.Any) -> int:
    axis = getattr(layer, "axis", -1)
    return axis[0] if isinstance(axis, (list, tuple)) else axis


def _renorm_factors(group_means: np.ndarray, group_variances: np.ndarray, layer: typing.Any,
                    population_mean: np.ndarray, population_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (micro)batch and channel: r = sigma_B / sigma and d = (mu_B - mu) / sigma, as Algorithm 1 defines them."""
    epsilon = float(getattr(layer, "epsilon", 1e-3))
    sigma_b = np.sqrt(group_variances + epsilon)
    return sigma_b / population_std, (group_means - population_mean) / population_std


def _at_clip(r: np.ndarray, d: np.ndarray, r_max: float, d_max: float) -> np.ndarray:
    """Where r or d sits at its clip limit (so the layer is not the exact inference transform there)."""
    return (np.abs(np.log(r)) >= np.log(r_max) - CLIP_TOLERANCE) | (np.abs(d) >= d_max - CLIP_TOLERANCE)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
