"""The `resnet20` model kind: He et al. 2016's CIFAR ResNet-20 (3 basic blocks per stage)."""

from __future__ import annotations

from harness.models.kinds._cifar import cifar_resnet_kind

KIND = cifar_resnet_kind(20, 3)
