"""Non-i.i.d. minibatch stress-test harness for normalization layers.

The package imports nothing heavy at import time: scenario validation and the
CLI's argument parsing must run before TensorFlow is loaded.
"""

__version__ = "0.1.0"
