"""Sampler.as_tf_dataset: the real tf.data adapter (TensorFlow imported only here)."""

import numpy as np

import samplers


def make(seed=0):
    labels = np.repeat(np.arange(6), 20)
    return samplers.get("class_correlated")(labels, 8, seed=seed, classes_per_batch=4)


def test_fixed_length_dataset_matches_the_stream():
    dataset = make().as_tf_dataset(num_batches=5)
    assert dataset.element_spec.shape.as_list() == [8]
    got = np.stack([b.numpy() for b in dataset])
    np.testing.assert_array_equal(got, make().batches(5))


def test_endless_dataset_continues_the_stream_in_chunks():
    import tensorflow as tf

    sampler = make(seed=3)
    dataset = sampler.as_tf_dataset(chunk=3)
    assert dataset.element_spec == tf.TensorSpec((8,), tf.int64)
    got = np.stack([b.numpy() for b in dataset.take(7)])
    np.testing.assert_array_equal(got, make(seed=3).batches(7))
    # indices feed a gather like any index batch
    labels = tf.constant(np.repeat(np.arange(6), 20))
    batch_labels = next(iter(dataset.map(lambda idx: tf.gather(labels, idx))))
    assert len(np.unique(batch_labels.numpy())) == 4
