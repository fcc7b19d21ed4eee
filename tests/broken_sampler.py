"""Sampler plugins that break a trial (raise, or kill its worker): it must be recorded as failed, the run must go on."""

import multiprocessing
import os

from samplers import Sampler
from samplers.iid import IIDSampler


class ExplodingSampler(Sampler):
    """Validates fine, then raises when asked for batches."""

    def batches(self, n):
        raise RuntimeError("plugin bug: batches() exploded")


class WorkerKillingSampler(IIDSampler):
    """i.i.d. batches, except that a trial of seed 0 run in a worker process kills that process:
    a worker dying mid-trial (killed, out of memory). In the driver (validation, batch composition) it is harmless."""

    def batches(self, n):
        if self.seed == 0 and multiprocessing.parent_process() is not None:
            os._exit(1)
        return super().batches(n)
