"""Sampler plugins that misbehave on purpose: break a trial (raise, or kill its worker), which must be recorded as
failed while the run goes on; or stall one, so that a test's interrupt lands mid-run however fast trials get."""

import multiprocessing
import os
import time

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


STALL_VARIABLE = "HARNESS_TEST_STALL"


class StallingSampler(IIDSampler):
    """i.i.d. batches, except that a trial of seed 1 first sleeps for a minute when the environment variable
    HARNESS_TEST_STALL is set: an interrupt sent once seed 0's trials are on disk then always finds a trial running."""

    def batches(self, n):
        if self.seed == 1 and os.environ.get(STALL_VARIABLE):
            time.sleep(60)
        return super().batches(n)
