"""Training: the trial loop, XLA's `auto` rule and the test batches."""
