"""A sampler plugin whose stream raises: a trial using it must be recorded as failed, the run must go on."""

from samplers import Sampler


class ExplodingSampler(Sampler):
    """Validates fine, then raises when asked for batches."""

    def batches(self, n):
        raise RuntimeError("plugin bug: batches() exploded")
