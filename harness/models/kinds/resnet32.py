"""The `resnet32` model kind: He et al. 2016's CIFAR ResNet-32 (5 basic blocks per stage)."""

from __future__ import annotations

from harness.models.kinds._cifar import cifar_resnet_kind

KIND = cifar_resnet_kind(32, 5)
