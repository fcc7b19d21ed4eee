"""The one way the harness imports its heavy dependencies: TensorFlow, Keras, matplotlib, seaborn and Ray.

They cost seconds to import, so validation, ``--help`` and the listing commands never import them, and code
that needs one asks for it here, inside the function that uses it: ``tf = heavy.tensorflow()``,
``layers = heavy.keras().layers``, ``plt = heavy.pyplot()``. Each loader imports its library once and applies the
set-up that must come before the import (TensorFlow's log level and silenced start-up, matplotlib's backend), so
no code path can import one of them without it. `HEAVY_MODULES` names them; a submodule that its package does not
load (``tensorflow.python.client.device_lib``) comes through `module`. A test (``tests/runtime/test_heavy.py``)
refuses a function-level ``import`` of these libraries anywhere else in ``harness/`` and ``samplers/``; modules that are
TensorFlow code through and through (the layers of ``harness/norms/``, the networks of ``harness/models/``) import
them at their top and are themselves imported only from functions.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType

_VERBOSE = False


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (unless a caller asked for TensorFlow verbose).

    TensorFlow's native start-up lines (CUDA probing, absl's "before
    InitializeLog" notice) are written straight to fd 2 and ignore
    TF_CPP_MIN_LOG_LEVEL, so they are silenced at the descriptor.
    """
    if _VERBOSE:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def tensorflow(verbose: bool = False) -> ModuleType:
    """TensorFlow, imported with its start-up chatter (oneDNN, CUDA probing) silenced unless `verbose`.

    The environment variables only take effect before the first import, so every harness code path imports
    TensorFlow through here. On the first import each GPU is set to take memory as needed (so several workers
    share one GPU). A TensorFlow the caller imported already is returned as it is.
    """
    global _VERBOSE
    _VERBOSE = _VERBOSE or verbose
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    if not _VERBOSE:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        warnings.filterwarnings("ignore", module="keras")
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe prints here, once
    for gpu in tf.config.list_physical_devices("GPU"):
        try:  # take GPU memory as needed, so several workers can share one GPU
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU is initialised already
            pass
    if not _VERBOSE:
        tf.get_logger().setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
    return tf


@functools.cache
def keras() -> ModuleType:
    """Keras, after `tensorflow` (its backend, whose start-up is silenced there)."""
    tensorflow()
    import keras as module

    return module


@functools.cache
def matplotlib() -> ModuleType:
    """matplotlib, with the Agg backend (no display) chosen before pyplot is imported, unless one was chosen.

    A notebook's inline backend (``MPLBACKEND``, set by its kernel) or a pyplot the user imported already is
    left alone: a report drawn from a notebook must not stop the user's own plots from showing.
    """
    import matplotlib as module

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        module.use("Agg", force=False)
    return module


@functools.cache
def pyplot() -> ModuleType:
    """matplotlib.pyplot, after `matplotlib` chose the backend."""
    matplotlib()
    import matplotlib.pyplot as module

    return module


@functools.cache
def seaborn() -> ModuleType:
    """seaborn, after `pyplot` (seaborn imports pyplot itself, so the backend is chosen first)."""
    pyplot()
    import seaborn as module

    return module


@functools.cache
def ray() -> ModuleType:
    """Ray (an optional dependency: ImportError when it is not installed)."""
    import ray as module

    return module


# every heavy library, by the name of its top-level package, with the loader that imports it
HEAVY_MODULES: Mapping[str, Callable[[], ModuleType]] = {
    "tensorflow": tensorflow, "keras": keras, "matplotlib": matplotlib, "seaborn": seaborn, "ray": ray,
}


def module(name: str) -> ModuleType:
    """A submodule of a heavy library (e.g. ``"tensorflow.python.client.device_lib"``), after its library's loader.

    Raises ValueError when `name` is not a heavy library's module.
    """
    root = name.partition(".")[0]
    if root not in HEAVY_MODULES:
        raise ValueError(f"{name!r} is not a module of {', '.join(HEAVY_MODULES)}")
    HEAVY_MODULES[root]()
    return importlib.import_module(name)
