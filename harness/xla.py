"""XLA for the compiled training chunk and the analyzer's passes: when `auto` turns it on, and the fallback.

`training.jit_compile` is `auto`, `true` or `false`. `auto` looks up the model family and the device type in
`AUTO`, a table filled from `python -m harness bench xla` on the development machine (see the README's
benchmark section): where XLA was not faster there, `auto` leaves it off. A function whose graph XLA cannot
compile (an op without an XLA kernel, such as `tf.numpy_function` or a string op in a plugin layer) falls back
to a plain `tf.function` with one warning line, on the call XLA refuses (it compiles per input shape, so
usually the first): XLA refuses before anything runs, so the state the function would have changed is
untouched and the call is simply repeated. Errors that are not XLA refusing a graph are raised as they are.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

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
    from harness.tfsetup import import_tensorflow

    return "GPU" if import_tensorflow().config.list_physical_devices("GPU") else "CPU"


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
    from harness import model_kinds

    return resolve(setting, model_kinds.get(model_spec["name"]).family, device)


def refused(error: BaseException) -> str | None:
    """The op XLA could not compile if `error` is XLA refusing a graph, else None."""
    from harness.tfsetup import import_tensorflow

    tf = import_tensorflow()
    message = str(error)
    if not isinstance(error, (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError)) or "XLA" not in message:
        return None
    match = re.search(r"on XLA_\w+: (\w+)", message)
    return f"unsupported op {match.group(1)}" if match else message.splitlines()[0][:120]


class Function:
    """A `tf.function` compiled by XLA when `jit`, falling back to a plain `tf.function` if XLA refuses it.

    Parameters
    ----------
    python_function : callable
        What to compile.
    jit : bool
        Compile with XLA (`tf.function(jit_compile=True)`).
    what : str
        Names the function in the warning line, e.g. "the training step of mlp/brn".
    **kwargs
        Passed to `tf.function` (`input_signature`, `autograph`).

    `jit` tells whether XLA is still in use (it turns False when XLA refuses a call).
    """

    def __init__(self, python_function: Callable[..., Any], jit: bool, what: str, **kwargs: Any) -> None:
        """Wrap `python_function` in a `tf.function` (XLA-compiled when `jit`)."""
        import tensorflow as tf

        self.python_function, self.what, self.kwargs = python_function, what, kwargs
        self.jit = bool(jit)
        self._function = tf.function(python_function, jit_compile=True if self.jit else None, **kwargs)

    def __call__(self, *args: Any) -> Any:
        """Call the compiled function; on XLA refusing the graph, warn once and call it as a plain `tf.function`."""
        if not self.jit:
            return self._function(*args)
        try:  # XLA compiles on the first call of each input shape
            return self._function(*args)
        except Exception as error:  # noqa: BLE001 - anything but XLA refusing the graph is re-raised
            op = refused(error)
            if op is None:
                raise
            import tensorflow as tf

            print(f"warning: XLA cannot compile {self.what} ({op}); it runs under plain tf.function", file=sys.stderr)
            self.jit = False
            self._function = tf.function(self.python_function, **self.kwargs)
        return self._function(*args)
