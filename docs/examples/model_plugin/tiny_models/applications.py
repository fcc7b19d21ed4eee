"""A `keras.applications` network as a model plugin: its BatchNormalization layers get the scenario's normalizer."""

import keras


def resnet50(norm, input_shape, num_classes):
    """Keras's ResNet50, untrained, with logits out; it never calls `norm`, so each BatchNormalization is replaced."""
    return keras.applications.ResNet50(weights=None, input_shape=input_shape, classes=num_classes,
                                       classifier_activation=None)
