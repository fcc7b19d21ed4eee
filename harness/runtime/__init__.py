"""Runtime: the heavy libraries' one import path (`heavy`), TensorFlow set-up, compiled functions, progress bars and
atomic writes."""
