"""Runtime: TensorFlow set-up, compiled functions, progress bars and atomic writes."""
