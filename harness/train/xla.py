"""XLA for the compiled training chunk and the analyzer's passes: when `auto` turns it on.

`training.jit_compile` is `auto`, `true` or `false`. `auto` looks up the model family and the device type in
`AUTO`, a table filled from `python -m harness bench xla` on the development machine (see the README's
benchmark section): where XLA was not faster there, `auto` leaves it off. The compiled functions themselves,
and their fallback when XLA refuses a graph, are `harness.runtime.compile.Function`.
"""

from __future__ import annotations

from typing import Any

from harness.runtime import heavy

JIT_COMPILE_CHOICES = ("auto", True, False)

# (device type, model family) -> whether `auto` puts XLA on for the training chunk and for the analyzer's passes
# (evaluations, PreciseBN's moments, the layer mismatch). CPU: measured with `python -m harness bench xla` on the
# 2-core development machine (README, "XLA"). GPU: not measured (no GPU here); on, as small networks on a GPU are
# bound by kernel launches as small ones on a CPU are by op dispatch, which is what XLA's fusion removes.
# On this CPU XLA trained the MLP 2.3-8x faster, the resnets 5-12x slower (its convolutions against oneDNN's), and
# the analyzer's passes gained at most 1.3x for the MLP, less than their compile time costs a run, and lost on
# convolutions. `convnet` trains off everywhere: under TensorFlow's op determinism XLA refuses max pooling's gradient.
AUTO: dict[tuple[str, str | None], dict[str, bool]] = {
    ("CPU", "mlp"): {"training": True, "analysis": False},
    ("CPU", "convnet"): {"training": False, "analysis": False},
    ("CPU", "resnet"): {"training": False, "analysis": False},
    ("GPU", "mlp"): {"training": True, "analysis": True},
    ("GPU", "convnet"): {"training": False, "analysis": True},
    ("GPU", "resnet"): {"training": True, "analysis": True},
}
OFF = {"training": False, "analysis": False}


def device_type() -> str:
    """"GPU" when TensorFlow sees one (training runs there), else "CPU"."""
    return "GPU" if heavy.tensorflow().config.list_physical_devices("GPU") else "CPU"


def resolve(setting: str | bool, family: str | None, device: str | None = None) -> dict[str, Any]:
    """{"training": bool, "analysis": bool}: where XLA is on for `training.jit_compile` = `setting`.

    `true` and `false` apply to both; `auto` looks the model *family* (a model kind's `family`, e.g. `resnet`
    for resnet20) and device type up in `AUTO` (a family missing from it, or None, gets XLA off until it is
    measured).
    """
    if setting not in JIT_COMPILE_CHOICES or isinstance(setting, int) and not isinstance(setting, bool):
        raise ValueError(f"jit_compile must be one of auto, true, false. Received: jit_compile={setting!r}")
    if setting != "auto":
        return {"training": setting, "analysis": setting}
    return dict(AUTO.get((device or device_type(), family), OFF))


def resolve_for(model_spec: dict, device: str | None = None, setting: str | bool = "auto") -> dict:
    """{"training": bool, "analysis": bool} for a scenario's `model` section (`{"name": ..., ...}`) on `device`
    ("CPU" or "GPU"; None: the device TensorFlow sees). Pure: with `device` given it imports no TensorFlow
    (a plugin model is resolved through the registry, which imports what the plugin imports)."""
    from harness.models import kinds as model_kinds

    return resolve(setting, model_kinds.get(model_spec["name"]).family, device)
