"""The analyzer: how much a trained network depends on the composition of its minibatch.

All training-mode evaluation goes through `stateless_call`, so it reads the
model's variables but never writes them: evaluating cannot change what is
being evaluated.

Metrics (names as in the run directory's tables):
- acc_inference: inference mode (population statistics), what a deployed model gets.
- acc_batch_iid / acc_batch_sampler: training mode (batch statistics) on test batches
  of the training batch size built by the i.i.d. / the scenario's sampler.
- acc_precise: inference accuracy after re-estimating population statistics on
  i.i.d. training batches (PreciseBN, Wu & Johnson 2021).
- per normalization layer: r = sigma_B / sigma and d = (mu_B - mu) / sigma per channel
  (quantiles of |log r| and |d|), relative L2 mismatch of training- vs inference-mode
  outputs with the same input (local) and through the whole network (propagated),
  and for renormalizing layers the fraction of (channel, batch) pairs whose r or d hit the clip.
- at the logits: disagreement of the argmax and mean KL(p_train || p_inference).
"""

import inspect

import numpy as np

from harness.models import normalization_layers

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
CLIP_TOLERANCE = 1e-6


class Analyzer:
    """Evaluates one model on the test split; index batches are passed to each method.

    Its compiled functions take the model's variable values as arguments, so one
    Analyzer serves every trial that reuses the same model object.
    """

    def __init__(self, model, dataset, eval_examples=None):
        import keras

        self.model = model
        self.norm_layers = normalization_layers(model)
        self.dataset = dataset
        n_test = len(dataset.y_test) if eval_examples is None else min(eval_examples, len(dataset.y_test))
        self.x_test, self.y_test = dataset.x_test[:n_test], dataset.y_test[:n_test]
        outputs = [layer.input for layer in self.norm_layers] + [layer.output for layer in self.norm_layers]
        self.probe = keras.Model(model.inputs, outputs + [model.output])
        self._probe_fn = None
        self._batch_logits_fn = None

    # -- running the network -------------------------------------------------
    def _state(self):
        return ([v.value for v in self.probe.trainable_variables], [v.value for v in self.probe.non_trainable_variables])

    def _probe_call(self, x, training):
        """Norm-layer inputs, norm-layer outputs and logits, without touching the model's state."""
        if self._probe_fn is None:
            import tensorflow as tf

            @tf.function(reduce_retracing=True)
            def probe_fn(trainable, non_trainable, x, training):
                outputs, _ = self.probe.stateless_call(trainable, non_trainable, x, training=training)
                return outputs

            self._probe_fn = probe_fn
        trainable, non_trainable = self._state()
        outputs = self._probe_fn(trainable, non_trainable, x, training)
        n = len(self.norm_layers)
        outputs = [np.asarray(o) for o in outputs]
        return outputs[:n], outputs[n:2 * n], outputs[2 * n]

    def batch_logits(self, x_batches, training):
        """Logits of (n_batches, batch, ...) inputs, each batch run on its own, in one compiled call."""
        if self._batch_logits_fn is None:
            import tensorflow as tf

            model = self.model

            @tf.function(reduce_retracing=True)
            def batch_logits_fn(trainable, non_trainable, x_batches, training):
                return tf.map_fn(
                    lambda xb: model.stateless_call(trainable, non_trainable, xb, training=training)[0],
                    x_batches, fn_output_signature=tf.float32)

            self._batch_logits_fn = batch_logits_fn
        trainable = [v.value for v in self.model.trainable_variables]
        non_trainable = [v.value for v in self.model.non_trainable_variables]
        return np.asarray(self._batch_logits_fn(trainable, non_trainable, x_batches, training))

    def inference_logits(self, batch_size=512):
        n = len(self.x_test)
        padded = -(-n // batch_size) * batch_size
        x = np.concatenate([self.x_test, np.zeros((padded - n, *self.x_test.shape[1:]), np.float32)])
        logits = self.batch_logits(x.reshape(-1, batch_size, *x.shape[1:]), training=False)
        return logits.reshape(padded, -1)[:n]

    # -- accuracies ---------------------------------------------------------
    def acc_inference(self):
        return float(np.mean(self.inference_logits().argmax(-1) == self.y_test))

    def acc_batch(self, index_batches):
        """Training-mode accuracy, each batch normalized with its own statistics."""
        logits = self.batch_logits(self.x_test[index_batches], training=True)
        return float(np.mean(logits.argmax(-1) == self.y_test[index_batches]))

    def accuracies(self, iid_batches, sampler_batches):
        return {
            "acc_inference": self.acc_inference(),
            "acc_batch_iid": self.acc_batch(iid_batches),
            "acc_batch_sampler": self.acc_batch(sampler_batches),
        }

    def acc_precise(self, train_index_batches):
        """Inference accuracy with population statistics re-estimated on i.i.d. training batches.

        Each normalization layer's population mean and variance become those of all
        examples pooled over the batches (mean of batch means; mean of batch variances
        plus the variance of batch means), its inputs taken in training mode as in
        training. Layers are re-estimated in depth order: a renormalizing layer's
        training-mode output depends on its own population statistics, so the layers
        after it are measured again once it has its new ones. The model's statistics
        are restored afterwards.
        """
        from harness.norms import clip_limits, population_statistics, set_population_statistics

        pending = [(i, layer) for i, layer in enumerate(self.norm_layers) if population_statistics(layer) is not None]
        if not pending:
            return self.acc_inference()
        saved = [v.numpy() for v in self.model.non_trainable_variables]
        try:
            while pending:
                pooled = self._pooled_input_statistics(train_index_batches, pending)
                while pending:
                    i, layer = pending.pop(0)
                    set_population_statistics(layer, *pooled[i])
                    if clip_limits(layer) is not None:
                        break  # what comes after this layer in training mode has just changed
            return self.acc_inference()
        finally:
            for variable, value in zip(self.model.non_trainable_variables, saved):
                variable.assign(value)

    def _pooled_input_statistics(self, index_batches, layers):
        """{layer index: (mean, variance)} of each layer's training-mode input pooled over the batches."""
        means = {i: [] for i, _ in layers}
        variances = {i: [] for i, _ in layers}
        for batch in index_batches:
            inputs, _, _ = self._probe_call(self.dataset.x_train[batch], training=True)
            for i, layer in layers:
                flat = _channels_last(inputs[i], layer)
                means[i].append(flat.mean(axis=0))
                variances[i].append(flat.var(axis=0))
        pooled = {}
        for i, _ in layers:
            batch_means = np.stack(means[i])
            mean = batch_means.mean(axis=0)
            pooled[i] = mean, np.stack(variances[i]).mean(axis=0) + ((batch_means - mean) ** 2).mean(axis=0)
        return pooled

    # -- layers and logits -------------------------------------------------
    def clip_fraction(self, index_batches):
        """Fraction of (channel, batch) pairs whose r or d sits at the clip, averaged over renormalizing layers.

        r and d are taken against the statistics the layer itself renormalizes with
        (for Keras renorm its separate renorm averages). None when the model has no renormalizing layer.
        """
        from harness.norms import clip_limits, renorm_reference_statistics

        renorm = [(i, layer, clip_limits(layer), renorm_reference_statistics(layer))
                  for i, layer in enumerate(self.norm_layers) if clip_limits(layer) is not None]
        if not renorm:
            return None
        fractions = []
        for batch in index_batches:
            train_in, _, _ = self._probe_call(self.x_test[batch], training=True)
            for i, layer, limits, stats in renorm:
                fractions.append(np.mean(_at_clip(*_renorm_factors(train_in[i], layer, *stats), *limits)))
        return float(np.mean(fractions))

    def layer_statistics(self, index_batches):
        """One dict per normalization layer (depth from 1): r/d quantiles, mismatches, clip fraction."""
        from harness.norms import clip_limits, population_statistics, renorm_reference_statistics

        per_layer = [{"log_r": [], "d": [], "local": [], "propagated": [], "clipped": []} for _ in self.norm_layers]
        population = [population_statistics(layer) for layer in self.norm_layers]
        limits = [clip_limits(layer) for layer in self.norm_layers]
        reference = [renorm_reference_statistics(layer) for layer in self.norm_layers]
        for batch in index_batches:
            x = self.x_test[batch]
            train_in, train_out, _ = self._probe_call(x, training=True)
            inf_in, inf_out, _ = self._probe_call(x, training=False)
            for i, layer in enumerate(self.norm_layers):
                acc = per_layer[i]
                acc["propagated"].append(_relative_l2(train_out[i], inf_out[i]))
                acc["local"].append(self._local_mismatch(layer, inf_in[i]))
                if population[i] is None:
                    continue
                r, d = _renorm_factors(train_in[i], layer, *population[i])
                acc["log_r"].append(np.log(r).ravel())
                acc["d"].append(d.ravel())
                if limits[i] is not None:
                    acc["clipped"].append(_at_clip(*_renorm_factors(train_in[i], layer, *reference[i]), *limits[i]).ravel())
        rows = []
        for depth, acc in enumerate(per_layer, start=1):
            row = {"layer": depth, "mismatch_local": float(np.mean(acc["local"])),
                   "mismatch_propagated": float(np.mean(acc["propagated"]))}
            if acc["log_r"]:
                abs_log_r = np.abs(np.concatenate(acc["log_r"]))
                abs_d = np.abs(np.concatenate(acc["d"]))
                for q in QUANTILES:
                    row[f"abs_log_r_q{round(q * 100):02d}"] = float(np.quantile(abs_log_r, q))
                    row[f"abs_d_q{round(q * 100):02d}"] = float(np.quantile(abs_d, q))
            if acc["clipped"]:
                row["clip_fraction"] = float(np.mean(np.concatenate(acc["clipped"])))
            rows.append(row)
        return rows

    def _local_mismatch(self, layer, layer_input):
        """This layer alone: the same input through training and inference mode."""
        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]
        if "training" not in inspect.signature(layer.call).parameters:
            return 0.0  # a layer without a training mode (GroupNorm, LayerNorm, identity) behaves the same in both
        y_train, _ = layer.stateless_call(trainable, non_trainable, layer_input, training=True)
        y_inf, _ = layer.stateless_call(trainable, non_trainable, layer_input, training=False)
        return _relative_l2(np.asarray(y_train), np.asarray(y_inf))

    def logit_mismatch(self, index_batches):
        """Disagreement rate of the predicted class and mean KL(p_train || p_inference) on sampler batches."""
        x = self.x_test[index_batches]
        log_p_train = _log_softmax(self.batch_logits(x, training=True))
        log_p_inf = _log_softmax(self.batch_logits(x, training=False))
        kl = (np.exp(log_p_train) * (log_p_train - log_p_inf)).sum(-1)
        return {"logit_disagreement": float(np.mean(log_p_train.argmax(-1) != log_p_inf.argmax(-1))),
                "logit_kl": float(np.mean(kl))}


def _channel_axis(layer):
    axis = getattr(layer, "axis", -1)
    return axis[0] if isinstance(axis, (list, tuple)) else axis


def _channels_last(values, layer):
    """(examples x positions, channels) view of a layer input, for the layer's channel axis."""
    values = np.moveaxis(values, _channel_axis(layer), -1)
    return values.reshape(-1, values.shape[-1])


def _renorm_factors(layer_input, layer, population_mean, population_std):
    """Per (micro)batch and channel: r = sigma_B / sigma and d = (mu_B - mu) / sigma, as Algorithm 1 defines them."""
    group = getattr(layer, "microbatch_size", None) or len(layer_input)
    epsilon = float(getattr(layer, "epsilon", 1e-3))
    values = np.moveaxis(layer_input, _channel_axis(layer), -1)
    values = values.reshape(len(values) // group, -1, values.shape[-1])
    mu_b = values.mean(axis=1)
    sigma_b = np.sqrt(values.var(axis=1) + epsilon)
    return sigma_b / population_std, (mu_b - population_mean) / population_std


def _at_clip(r, d, r_max, d_max):
    """Where r or d sits at its clip limit (so the layer is not the exact inference transform there)."""
    return (np.abs(np.log(r)) >= np.log(r_max) - CLIP_TOLERANCE) | (np.abs(d) >= d_max - CLIP_TOLERANCE)


def _relative_l2(y_train, y_inference):
    return float(np.linalg.norm(y_train - y_inference) / max(np.linalg.norm(y_inference), 1e-12))


def _log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
