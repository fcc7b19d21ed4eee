"""Executors: where trials run. Each yields trial results as they finish; only the driver writes files.

- local: one after another in this process.
- process: N worker processes on this machine, TensorFlow threads split between them.
- ray: one Ray task per trial on a local or existing Ray cluster (optional extra `ray`).

A trial is a pure function of its config, so all three give the same numbers.
"""

import concurrent.futures
import multiprocessing
import os


def _run_or_record(config, on_step=None):
    """Run a trial; a trial that raises is recorded as failed instead of stopping the run."""
    from harness.trial import failed_result, run_trial

    try:
        return run_trial(config, on_step=on_step)
    except Exception as error:  # noqa: BLE001 - any trial failure is data, not a crash of the run
        return failed_result(config, error)


class LocalExecutor:
    """Trials one after another in this process; the progress bar shows the current trial's step."""

    def run(self, configs, progress=None):
        for config in configs:
            def on_step(step, steps, config=config):
                if progress is not None:
                    progress.set_postfix_str(f"{config['id']} step {step}/{steps}")

            yield _run_or_record(config, on_step)


def _init_worker(intra_op_threads):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from harness.tfsetup import set_threads

    set_threads(intra_op_threads, 1)


class ProcessExecutor:
    """N worker processes (spawned, so no TensorFlow state is forked), each with cores/N TF threads."""

    def __init__(self, workers=None):
        self.workers = workers or os.cpu_count() or 1

    def run(self, configs, progress=None):
        if not configs:
            return
        threads = max((os.cpu_count() or 1) // self.workers, 1)
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=min(self.workers, len(configs)), mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(threads,))
        from harness.trial import failed_result

        futures = {pool.submit(_run_or_record, config): config for config in configs}
        try:
            for future in concurrent.futures.as_completed(futures):
                try:
                    yield future.result()
                except concurrent.futures.process.BrokenProcessPool as error:
                    # a worker died (killed, out of memory): its trials are recorded as failed and rerun on resume
                    yield failed_result(futures[future], error)
        finally:
            # on Ctrl-C or an error, do not wait for trials in flight: they are abandoned, resume reruns them
            pool.shutdown(wait=False, cancel_futures=True)


class RayExecutor:
    """One Ray task per trial. `address=None` starts a local Ray instance; "auto" or an address joins a cluster.

    Results come back to the driver (no shared disk needed); failed tasks are
    retried `max_retries` times, and a trial whose worker died is recorded as failed and rerun on resume.
    """

    def __init__(self, address=None, gpus_per_trial=0.0, max_retries=2, cpus_per_trial=1.0):
        self.address = address
        self.gpus_per_trial = gpus_per_trial
        self.max_retries = max_retries
        self.cpus_per_trial = cpus_per_trial

    def run(self, configs, progress=None):
        if not configs:
            return
        import ray

        from harness.trial import failed_result

        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR", configure_logging=True)
        task = ray.remote(_ray_trial).options(
            num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial, max_retries=self.max_retries)
        pending = {task.remote(config): config for config in configs}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    config = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except ray.exceptions.RayError as error:
                        yield failed_result(config, error)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


def _ray_trial(config):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from harness.tfsetup import set_threads

    try:
        set_threads(1, 1)
    except RuntimeError:  # a reused worker whose TensorFlow is already initialised
        pass
    return _run_or_record(config)


def make_executor(name, workers=None, address=None, gpus_per_trial=0.0, max_retries=2):
    if name == "local":
        return LocalExecutor()
    if name == "process":
        return ProcessExecutor(workers)
    if name == "ray":
        return RayExecutor(address, gpus_per_trial, max_retries)
    raise ValueError(f"unknown executor. Received: executor={name!r}")
