"""Compiled functions: a `tf.function` under XLA where asked, falling back to plain `tf.function` where XLA refuses.

A function whose graph XLA cannot compile (an op without an XLA kernel, such as `tf.numpy_function` or a string
op in a plugin layer) falls back to a plain `tf.function` with one warning line, on the call XLA refuses (it
compiles per input shape, so usually the first): XLA refuses before anything runs, so the state the function
would have changed is untouched and the call is simply repeated. Errors that are not XLA refusing a graph are
raised as they are. Where XLA is asked for is decided by `harness.train.xla`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from harness.runtime import heavy


def refused(error: BaseException) -> str | None:
    """The op XLA could not compile if `error` is XLA refusing a graph, else None."""
    tf = heavy.tensorflow()
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
        tf = heavy.tensorflow()

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
            tf = heavy.tensorflow()

            print(f"warning: XLA cannot compile {self.what} ({op}); it runs under plain tf.function", file=sys.stderr)
            self.jit = False
            self._function = tf.function(self.python_function, **self.kwargs)
        return self._function(*args)
