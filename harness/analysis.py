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
        self._compiled = {}

    # -- running the network -------------------------------------------------
    def _over_batches(self, key, per_batch, x_batches):
        """`per_batch(trainable, non_trainable, batch)` on every batch of (n_batches, batch, ...) inputs.

        One compiled call, vectorised over batches (each batch keeps its own statistics);
        the variables' values are arguments, so the model is read and never written.
        Compiled once per `key`.
        """
        if key not in self._compiled:
            import tensorflow as tf

            @tf.function(reduce_retracing=True)
            def over_batches(trainable, non_trainable, x_batches):
                return tf.vectorized_map(lambda xb: per_batch(trainable, non_trainable, xb), x_batches,
                                         fallback_to_while_loop=True)

            self._compiled[key] = over_batches
        trainable = [v.value for v in self.probe.trainable_variables]
        non_trainable = [v.value for v in self.probe.non_trainable_variables]
        return self._compiled[key](trainable, non_trainable, x_batches)

    def input_moments(self, x_batches):
        """Per normalization layer, the training-mode input's mean and variance per (micro)batch and channel.

        Returns [(means, variances)] with arrays of shape (n_batches, groups, channels),
        groups = batch / microbatch_size (1 without microbatches): the r, d and PreciseBN
        statistics need nothing else.
        """
        import tensorflow as tf

        probe, layers = self.probe, self.norm_layers
        groups = [len(x_batches[0]) // (getattr(layer, "microbatch_size", None) or len(x_batches[0]))
                  for layer in layers]

        def moments_of_batch(trainable, non_trainable, xb):
            outputs, _ = probe.stateless_call(trainable, non_trainable, xb, training=True)
            result = []
            for layer, n_groups, value in zip(layers, groups, outputs[:len(layers)]):
                value = tf.experimental.numpy.moveaxis(tf.cast(value, tf.float32), _channel_axis(layer), -1)
                value = tf.reshape(value, [n_groups, -1, tf.shape(value)[-1]])
                mean, variance = tf.nn.moments(value, axes=[1])
                result.extend([mean, variance])
            return tuple(result)

        flat = [np.asarray(v, np.float64) for v in self._over_batches("moments", moments_of_batch, x_batches)]
        return list(zip(flat[0::2], flat[1::2]))

    def output_mismatch(self, x_batches):
        """Per normalization layer, relative L2 of training- vs inference-mode output, per batch.

        Returns (local, propagated), each (n_batches, n_layers): local feeds the layer
        the same input (its inference-mode input) in both modes; propagated runs each
        mode through the whole network. Layers without a training mode (GroupNorm,
        LayerNorm, identity) behave the same in both: local 0.
        """
        import tensorflow as tf

        probe, layers = self.probe, self.norm_layers
        n = len(layers)
        has_mode = ["training" in inspect.signature(layer.call).parameters for layer in layers]

        def relative_l2(a, b):
            return tf.norm(a - b) / tf.maximum(tf.norm(b), 1e-12)

        def mismatch_of_batch(trainable, non_trainable, xb):
            train, _ = probe.stateless_call(trainable, non_trainable, xb, training=True)
            inference, _ = probe.stateless_call(trainable, non_trainable, xb, training=False)
            local, propagated = [], []
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

        local, propagated = self._over_batches("mismatch", mismatch_of_batch, x_batches)
        return np.asarray(local, np.float64), np.asarray(propagated, np.float64)

    def batch_logits(self, x_batches, training):
        """Logits of (n_batches, batch, ...) inputs, each batch run on its own."""
        probe = self.probe

        def logits_of_batch(trainable, non_trainable, xb):
            return probe.stateless_call(trainable, non_trainable, xb, training=training)[0][-1]

        key = "logits_training" if training else "logits_inference"
        return np.asarray(self._over_batches(key, logits_of_batch, x_batches))

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
        moments = self.input_moments(self.dataset.x_train[index_batches])
        pooled = {}
        for i, _ in layers:
            group_means, group_variances = moments[i]
            # equal-sized groups: the pooled mean and variance of all examples (law of total variance)
            mean = group_means.mean(axis=(0, 1))
            variance = group_variances.mean(axis=(0, 1)) + ((group_means - mean) ** 2).mean(axis=(0, 1))
            pooled[i] = mean, variance
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
        moments = self.input_moments(self.x_test[index_batches])
        fractions = [np.mean(_at_clip(*_renorm_factors(*moments[i], layer, *stats), *limits))
                     for i, layer, limits, stats in renorm]
        return float(np.mean(fractions))

    def layer_statistics(self, index_batches):
        """One dict per normalization layer (depth from 1): r/d quantiles, mismatches, clip fraction."""
        from harness.norms import clip_limits, population_statistics, renorm_reference_statistics

        per_layer = [{"log_r": [], "d": [], "local": [], "propagated": [], "clipped": []} for _ in self.norm_layers]
        population = [population_statistics(layer) for layer in self.norm_layers]
        limits = [clip_limits(layer) for layer in self.norm_layers]
        reference = [renorm_reference_statistics(layer) for layer in self.norm_layers]
        moments = self.input_moments(self.x_test[index_batches])
        for i, layer in enumerate(self.norm_layers):
            if population[i] is None:
                continue
            r, d = _renorm_factors(*moments[i], layer, *population[i])
            per_layer[i]["log_r"].append(np.log(r).ravel())
            per_layer[i]["d"].append(d.ravel())
            if limits[i] is not None:
                per_layer[i]["clipped"].append(_at_clip(*_renorm_factors(*moments[i], layer, *reference[i]),
                                                        *limits[i]).ravel())
        local, propagated = self.output_mismatch(self.x_test[index_batches])
        for i, acc in enumerate(per_layer):
            acc["local"], acc["propagated"] = local[:, i], propagated[:, i]
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


def _renorm_factors(group_means, group_variances, layer, population_mean, population_std):
    """Per (micro)batch and channel: r = sigma_B / sigma and d = (mu_B - mu) / sigma, as Algorithm 1 defines them."""
    epsilon = float(getattr(layer, "epsilon", 1e-3))
    sigma_b = np.sqrt(group_variances + epsilon)
    return sigma_b / population_std, (group_means - population_mean) / population_std


def _at_clip(r, d, r_max, d_max):
    """Where r or d sits at its clip limit (so the layer is not the exact inference transform there)."""
    return (np.abs(np.log(r)) >= np.log(r_max) - CLIP_TOLERANCE) | (np.abs(d) >= d_max - CLIP_TOLERANCE)


def _log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
