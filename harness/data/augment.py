"""The network's input, made inside the compiled training step: uint8 -> float32, standardised, augmented.

`make_transform(data_config, dataset)` returns a `Transform` (or None when the stored
arrays already are the input, as for digits and synthetic data without options):
called in the graph as `transform(images, step)` on a gathered batch as stored, it

1. crops and flips (`data.augment`: `crop_padding` zero pixels on every side, then a
   random crop back to the original size; `flip`: a horizontal flip with probability 1/2),
   on the stored values (zero padding is black, as in He et al. 2016);
2. converts to float32 and divides by the dataset's `scale` (255 for uint8 images);
3. standardises per channel (`data.standardize`) with the training split's statistics.

Steps 2 and 3 are the same float32 operations as `Dataset.to_float`, which prepares the
evaluation data. The random draws are stateless, keyed by (trial seed, optimizer step):
the same seed and step give the same crops and flips whatever the sampler, normalizer,
process or the trials run before, so paired comparisons and bit-identical reruns hold.
"""

from __future__ import annotations

from typing import Any

from harness.runtime import heavy

AUGMENT_SALT = 2_654_435_761  # keeps the augmentation's key apart from other uses of the trial seed


class Transform:
    """The in-graph input function of one dataset and data section; `reset(seed)` keys it for a trial."""

    def __init__(self, scale: float, mean: Any, std: Any, crop_padding: int, flip: bool) -> None:
        """Divide by `scale`, standardise with per-channel `mean`/`std` (None: not), crop after `crop_padding`
        pixels of zero padding (0: no crops) and flip when `flip`."""
        tf = heavy.tensorflow()

        self.scale, self.crop_padding, self.flip = float(scale), int(crop_padding), bool(flip)
        self.mean = None if mean is None else tf.constant(mean, tf.float32)
        self.std = None if std is None else tf.constant(std, tf.float32)
        self.seed = tf.Variable(0, dtype=tf.int64, trainable=False, name="augment_seed")

    def reset(self, seed: int) -> None:
        """Key the random crops and flips by this trial's seed."""
        self.seed.assign((int(seed) + AUGMENT_SALT) % 2**62)

    def augment(self, images: Any, step: Any) -> Any:
        """Random crops (after zero padding) and horizontal flips of a (B, H, W, C) batch, keyed by (seed, step)."""
        tf = heavy.tensorflow()

        pad, shape = self.crop_padding, tf.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        key = tf.stack([self.seed, tf.cast(step, tf.int64)])
        draws = tf.random.stateless_uniform([batch, 3], seed=key)
        if pad:
            images = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        offsets = tf.cast(tf.floor(draws[:, :2] * (2 * pad + 1)), tf.int32)
        offsets = tf.minimum(offsets, 2 * pad)
        rows = offsets[:, :1] + tf.range(height)[None, :]
        columns = tf.range(width)[None, :]
        if self.flip:
            flipped = draws[:, 2:] < 0.5
            columns = tf.where(flipped, width - 1 - columns, columns)
        columns = offsets[:, 1:] + columns
        images = tf.gather(images, rows, axis=1, batch_dims=1)
        return tf.gather(images, columns, axis=2, batch_dims=1)

    def to_float(self, images: Any) -> Any:
        """As `Dataset.to_float`, in the graph."""
        tf = heavy.tensorflow()

        if images.dtype != tf.float32 or self.scale != 1.0:
            images = tf.cast(images, tf.float32)
        if self.scale != 1.0:
            images = images / tf.constant(self.scale, tf.float32)
        if self.mean is not None:
            images = (images - self.mean) / self.std
        return images

    def __call__(self, images: Any, step: Any) -> Any:
        if self.crop_padding or self.flip:
            images = self.augment(images, step)
        return self.to_float(images)


def make_transform(data_config: dict[str, Any], dataset: Any) -> Transform | None:
    """The Transform for this data section and dataset, or None when the stored arrays are the input as they are."""
    import numpy as np

    augment = data_config.get("augment") or {}
    crop_padding, flip = augment.get("crop_padding", 0), augment.get("flip", False)
    if (dataset.x_train.dtype == np.float32 and dataset.scale == 1.0 and dataset.mean is None
            and not crop_padding and not flip):
        return None
    return Transform(dataset.scale, dataset.mean, dataset.std, crop_padding, flip)
