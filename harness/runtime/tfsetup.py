"""Importing TensorFlow quietly, deterministically, and describing the device it runs on."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import platform
import sys
import warnings
from collections.abc import Iterator
from typing import Any

_VERBOSE = False


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration.

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


def import_tensorflow(verbose: bool = False) -> Any:
    """Import TensorFlow with its start-up chatter (oneDNN, CUDA probing) silenced unless `verbose`.

    The environment variables only take effect before the first import, so every
    harness code path imports TensorFlow through here.
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


PROCESS_SEED = 0


@functools.lru_cache(maxsize=1)
def _seed_process() -> None:
    """TensorFlow's and Keras's global seeds (a constant) and TF op determinism, once per process.

    Setting TF's seed clears its kernel cache, so every compiled function would re-instantiate on its
    next call (about 0.3 s per trial for the default scenario's MLP) if it were set per trial. No trial
    draws from these seeds: every initializer and sampler has an explicit seed.
    """
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(PROCESS_SEED)
    try:
        tf.config.experimental.enable_op_determinism()
    except RuntimeError:  # already enabled in this process
        pass


def set_determinism(seed: int) -> None:
    """Seed Python and NumPy and make TF ops deterministic, so a trial is a pure function of its config."""
    import random

    import numpy as np

    _seed_process()
    random.seed(int(seed))
    np.random.seed(int(seed))


def set_threads(intra_op: int, inter_op: int) -> None:
    """Pin TensorFlow's thread pools (before any op runs), so parallel workers do not fight over cores."""
    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))
    tf.config.threading.set_inter_op_parallelism_threads(int(inter_op))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info() -> dict[str, Any]:
    """Where training runs: device type and name, GPU names if any, CPU model and core count."""
    tf = import_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    gpu_names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        gpu_names.append(details.get("device_name", gpu.name))
    return {
        "type": "GPU" if gpus else "CPU",
        "name": gpu_names[0] if gpu_names else _cpu_model(),
        "gpus": gpu_names,
        "gpu_memory_bytes": _gpu_memory() if gpus else [],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "host_memory_bytes": _host_memory(),
    }


def _gpu_memory() -> list[int]:
    """Each visible GPU's memory as TensorFlow's device list reports it (bytes available to TensorFlow)."""
    try:
        from tensorflow.python.client import device_lib  # no public API gives a GPU's total memory

        return [int(d.memory_limit) for d in device_lib.list_local_devices() if d.device_type == "GPU"]
    except Exception:  # noqa: BLE001 - provenance is best effort
        return []


def _host_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def versions() -> dict[str, str]:
    """Versions of everything a result depends on."""
    import keras
    import numpy
    import sklearn

    import harness

    tf = import_tensorflow()
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "harness": harness.__version__,
    }


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Versions and device (with details) of this process's TensorFlow: what provenance records."""
    return {"versions": versions(), "device": device_info()}
