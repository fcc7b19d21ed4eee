"""TensorFlow set up for trials (seeds, determinism, thread pools) and a description of the device it runs on.

TensorFlow itself is imported through `harness.runtime.heavy`, the one way to import it.
"""

from __future__ import annotations

import functools
import os
import platform
from typing import Any

from harness.runtime import heavy

PROCESS_SEED = 0


@functools.lru_cache(maxsize=1)
def _seed_process() -> None:
    """TensorFlow's and Keras's global seeds (a constant) and TF op determinism, once per process.

    Setting TF's seed clears its kernel cache, so every compiled function would re-instantiate on its
    next call (about 0.3 s per trial for the default scenario's MLP) if it were set per trial. No trial
    draws from these seeds: every initializer and sampler has an explicit seed.
    """
    tf = heavy.tensorflow()
    heavy.keras().utils.set_random_seed(PROCESS_SEED)
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
    tf = heavy.tensorflow()
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
    tf = heavy.tensorflow()
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
        device_lib = heavy.module("tensorflow.python.client.device_lib")  # no public API gives a GPU's total memory

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
    import numpy
    import sklearn

    import harness

    return {
        "python": platform.python_version(),
        "tensorflow": heavy.tensorflow().__version__,
        "keras": heavy.keras().__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "harness": harness.__version__,
    }


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Versions and device (with details) of this process's TensorFlow: what provenance records."""
    return {"versions": versions(), "device": device_info()}
