"""Contiguous microbatches, shared by BatchRenormalization and microbatch BN."""

from __future__ import annotations

import tensorflow as tf


def group_microbatches(x: tf.Tensor, k: int) -> tf.Tensor:
    """(batch, ...) -> (batch / k, k, ...): each contiguous group of k examples becomes one microbatch.

    Contiguous, not strided (tf-keras `virtual_batch_size` interleaves), so a sampler
    decides what shares a microbatch. A batch that is not a multiple of k is a
    ValueError when the batch size is known when tracing, and a runtime assertion
    with the same message when it is not.
    """
    batch = x.shape[0]
    if batch is not None:
        if batch % k:
            raise ValueError(f"The batch size must be a multiple of microbatch_size={k}. Received: batch size {batch}")
        check: list[tf.Operation] = []
    else:
        check = [
            tf.debugging.assert_equal(
                tf.math.floormod(tf.shape(x)[0], k),
                0,
                message=f"The batch size must be a multiple of microbatch_size={k}",
            )
        ]
    with tf.control_dependencies(check):
        return tf.reshape(x, tf.concat([[-1, k], tf.shape(x)[1:]], axis=0))
