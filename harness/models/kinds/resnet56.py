"""The `resnet56` model kind: He et al. 2016's CIFAR ResNet-56 (9 basic blocks per stage)."""

from __future__ import annotations

from harness.models.kinds._cifar import cifar_resnet_kind

KIND = cifar_resnet_kind(56, 9)
