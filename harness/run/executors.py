"""Executors: where trials run. Each yields trial results as they finish; only the driver writes files.

- local: one after another in this process.
- process: N worker processes on this machine, TensorFlow threads split between them.
- ray: one Ray task per trial on a local or existing Ray cluster (optional extra `ray`).

A trial is a pure function of its config, so all three give the same numbers.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from harness.results.rundir import OK
from harness.runtime import heavy
from harness.runtime.tfsetup import environment as local_environment


def _run_or_record(config: dict[str, Any], on_step: Callable[[int, int], object] | None = None) -> dict[str, Any]:
    """Run a trial; a trial that raises, or gives non-finite numbers, is recorded as failed instead of stopping
    the run."""
    from harness.results.finite import check_result
    from harness.train.trial import failed_result, run_trial

    try:
        return check_result(run_trial(config, on_step=on_step))
    except (Exception, SystemExit) as error:  # noqa: BLE001 - any trial failure is data, not a crash of the run
        return failed_result(config, error)


class LocalExecutor:
    """Trials one after another in this process; the progress bar shows the current trial's step."""

    environment = staticmethod(local_environment)

    def shutdown(self) -> None:
        """Nothing to stop."""

    def run(self, configs: Iterable[dict[str, Any]], progress: Any = None) -> Iterator[dict[str, Any]]:
        """Run each trial in turn, yielding its result; `progress` (a bar) shows the current step."""
        for config in configs:
            def on_step(step: int, steps: int, config: dict[str, Any] = config) -> None:
                if progress is not None:
                    progress.set_postfix_str(f"{config['id']} step {step}/{steps}")

            yield _run_or_record(config, on_step)


def visible_gpus() -> list[str]:
    """The GPUs this machine shows, as ids for CUDA_VISIBLE_DEVICES, found without importing TensorFlow:
    CUDA_VISIBLE_DEVICES if set, else one id per line of `nvidia-smi -L`, else none."""
    import subprocess

    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [g.strip() for g in given.split(",") if g.strip() and g.strip() != "-1"]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU ")] \
        if listing.returncode == 0 else []


def gpu_assignment(workers: int, gpus: Sequence[str], workers_per_gpu: int = 1) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each of `workers` worker processes: the GPUs dealt round-robin, so at most
    ceil(workers / len(gpus)) share one; None for every worker when there is no GPU (CPU workers).
    `workers_per_gpu` is how many may share one GPU: more workers than len(gpus) * workers_per_gpu is refused.
    """
    if workers < 1 or workers_per_gpu < 1:
        raise ValueError(f"workers and workers_per_gpu must be >= 1. Received: workers={workers}, "
                         f"workers_per_gpu={workers_per_gpu}")
    if not gpus:
        none: list[str | None] = [None] * workers
        return none
    if workers > len(gpus) * workers_per_gpu:
        raise ValueError(f"{workers} workers do not fit {len(gpus)} GPUs at {workers_per_gpu} per GPU. "
                         f"Received: workers={workers}, gpus={list(gpus)}, workers_per_gpu={workers_per_gpu}")
    return [str(gpus[i % len(gpus)]) for i in range(workers)]


def worker_count(requested: int | None, trials: int | None, gpus: int = 0, workers_per_gpu: int = 1,
                 cores: int | None = None) -> int:
    """How many worker processes a process executor starts: `requested` (--workers) or, by default, one per
    core (GPUs x workers_per_gpu with GPUs); never more than `trials` (an idle worker costs a TensorFlow's
    memory and start-up for nothing). At least one."""
    cores = (os.cpu_count() or 1) if cores is None else cores
    count = requested or (gpus * workers_per_gpu if gpus else cores)
    if trials is not None:
        count = min(count, trials)
    return max(count, 1)


def _init_worker(intra_op_threads: int, cuda_visible_devices: str | None = None, driver_pid: int | None = None,
                 from_main_thread: bool = False) -> None:
    # Ctrl-C is the driver's to handle: it stops the workers (a terminal sends SIGINT to the whole group)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from harness.run.signals import die_with_parent

    die_with_parent(driver_pid, kernel=from_main_thread)  # the driver killed by kill -9 leaves no worker behind
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if cuda_visible_devices is not None:  # before TensorFlow is imported: this worker sees its GPU only
        os.environ["CUDA_VISIBLE_DEVICES"] = cuda_visible_devices
    from harness.runtime.tfsetup import set_threads

    set_threads(intra_op_threads, 1)
    import harness.train.trial  # noqa: F401 - imported while the driver is still planning, not on the first trial


class ProcessExecutor:
    """N worker processes (spawned, so no TensorFlow state is forked), each with cores/N TF threads.

    Trials of one shape (model, normalizer, batch size: what a traced graph depends on)
    go to the same worker where possible, so each shape is traced about once in all, as
    in one process: a worker keeps its shape while it has trials, then takes a shape no
    worker has, then helps with the one with most trials left. Workers start when the
    executor is made, importing TensorFlow while the driver plans the run. A worker that
    dies (killed, out of memory) loses its trial in flight, recorded as failed and rerun on
    resume; it is replaced and the run goes on.
    """

    def __init__(self, workers: int | None = None, workers_per_gpu: int = 1, gpus: Sequence[str] | None = None,
                 trials: int | None = None) -> None:
        """Start `workers` workers (default: one per core, or per GPU x `workers_per_gpu`), at most `trials`."""
        self.gpus = visible_gpus() if gpus is None else list(gpus)
        self.workers = worker_count(workers, trials, len(self.gpus), workers_per_gpu)
        # with GPUs: worker i sees only GPU devices[i] (CUDA_VISIBLE_DEVICES), several workers per GPU optional
        self.devices = gpu_assignment(self.workers, self.gpus, workers_per_gpu)
        self._pools: list[concurrent.futures.ProcessPoolExecutor] = []
        self.start()

    def start(self) -> None:
        """Start the workers (again after `shutdown`)."""
        if not self._pools:
            self._pools = [self._start_worker(i) for i in range(self.workers)]

    def _start_worker(self, index: int) -> concurrent.futures.ProcessPoolExecutor:
        threads = max((os.cpu_count() or 1) // self.workers, 1)
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(threads, self.devices[index], os.getpid(),
                      threading.current_thread() is threading.main_thread()))
        pool.submit(int)  # spawn the process now
        return pool

    def environment(self) -> dict[str, Any]:
        """Versions and device as a worker sees them (this process need not import TensorFlow)."""
        self.start()
        try:
            return self._pools[0].submit(local_environment).result()
        except concurrent.futures.process.BrokenProcessPool:  # the worker died starting: ask this process
            self._pools[0] = self._start_worker(0)
            return local_environment()

    def run(self, configs: Iterable[dict[str, Any]], progress: Any = None) -> Iterator[dict[str, Any]]:
        """Run the trials on the workers, a shape's trials on the same worker where possible; yield each result as
        it finishes."""
        from harness.train.trial import failed_result, shape_key

        self.start()
        queues: collections.OrderedDict[str, collections.deque[dict[str, Any]]] = collections.OrderedDict()
        for config in configs:
            queues.setdefault(shape_key(config), collections.deque()).append(config)
        shapes: list[str | None] = [None] * self.workers  # the shape each worker last ran
        # the shapes each worker has traced (its workbenches)
        joined: list[set[str]] = [set() for _ in range(self.workers)]
        costs = ShapeCosts()
        running: dict[concurrent.futures.Future[dict[str, Any]], tuple[int, dict[str, Any]]] = {}  # -> (worker, config)

        def submit(worker: int) -> None:
            shape = _next_shape(queues, shapes, worker, costs.helping_pays(queues, shapes, joined[worker]))
            if shape is None:
                return
            config = queues[shape].popleft()
            if not queues[shape]:
                del queues[shape]
            shapes[worker] = shape
            try:
                future = self._pools[worker].submit(_run_or_record, config)
            except concurrent.futures.process.BrokenProcessPool as error:  # died before this trial
                future = concurrent.futures.Future()
                future.set_exception(error)
            running[future] = worker, config

        try:
            for worker in range(self.workers):
                submit(worker)
            while running:
                done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    worker, config = running.pop(future)
                    shape = shape_key(config)
                    try:
                        result = future.result()
                        costs.record(shape, result, first=shape not in joined[worker])
                        joined[worker].add(shape)
                    except concurrent.futures.process.BrokenProcessPool as error:
                        result = failed_result(config, error)
                        _stop(self._pools[worker])
                        self._pools[worker], shapes[worker] = self._start_worker(worker), None
                        joined[worker] = set()
                    submit(worker)
                    yield result
        finally:
            # on Ctrl-C or an error, trials in flight are abandoned (resume reruns them)
            self.shutdown()

    def shutdown(self) -> None:
        """Stop the workers now, busy or not: whatever they still hold is not wanted."""
        for pool in self._pools:
            _stop(pool)
        self._pools = []


def _stop(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Terminate a one-worker pool's process and shut the pool down without waiting.

    `shutdown(wait=False)` alone lets a running trial finish, and Python waits for it at exit.
    """
    for process in list(getattr(pool, "_processes", {}).values()):  # no public way before Python 3.14
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


class ShapeCosts:
    """What a trial of each shape costs in a worker that has traced it, and what joining the shape costs one
    that has not (building the model, tracing and compiling: the first trial's extra seconds), both measured
    from the results as they come back."""

    def __init__(self) -> None:
        """No cost measured yet."""
        self.first: dict[str, list[float]] = {}
        self.steady: collections.defaultdict[str, list[float]] = collections.defaultdict(list)

    def record(self, shape: str, result: dict[str, Any], first: bool) -> None:
        """Note a finished trial's seconds: a join cost when `first` (the worker's first of `shape`), else steady."""
        seconds = result.get("seconds")
        if seconds is None or result.get("status") != OK:
            return
        (self.first.setdefault(shape, []) if first else self.steady[shape]).append(float(seconds))

    def estimate(self, shape: str) -> tuple[float, float] | None:
        """(join seconds, trial seconds) of `shape`, or None before a worker has run two of its trials."""
        if not self.first.get(shape) or not self.steady.get(shape):
            return None
        trial = sorted(self.steady[shape])[len(self.steady[shape]) // 2]
        return max(min(self.first[shape]) - trial, 0.0), trial

    def helping_pays(self, queues: dict[str, collections.deque[dict[str, Any]]], shapes: Sequence[str | None],
                     joined: set[str]) -> Callable[[str], bool]:
        """A test for `_next_shape`: does a worker that has traced the shapes `joined` finish the run sooner by
        joining the m workers on `shape` (its k trials left then take k t / (m + 1) after the join cost c,
        instead of k t / m)? Unmeasured shapes are joined."""
        def pays(shape: str) -> bool:
            cost = self.estimate(shape)
            if shape in joined or cost is None:
                return True
            join, trial = cost
            k, m = len(queues[shape]), max(sum(s == shape for s in shapes), 1)
            return join + k * trial / (m + 1) < k * trial / m

        return pays


def _next_shape(queues: dict[str, Any], shapes: Sequence[str | None], worker: int,
                pays: Callable[[str], bool] = lambda shape: True) -> str | None:
    """The shape `worker` runs next: its own while trials of it remain, else one no worker runs (the largest),
    else the one with most trials left if joining it `pays`; None when nothing is left for this worker."""
    if not queues:
        return None
    if shapes[worker] in queues:
        return shapes[worker]
    unclaimed = [shape for shape in queues if shape not in shapes]
    if unclaimed:
        return max(unclaimed, key=lambda shape: len(queues[shape]))
    busiest = max(queues, key=lambda shape: len(queues[shape]))
    return busiest if pays(busiest) else None


class RayExecutor:
    """One Ray task per trial. `address=None` starts a local Ray instance; "auto" or an address joins a cluster.

    A local instance started here ends with this process however it ends (harness.run.reaper); a cluster is
    never touched.

    Results come back to the driver (no shared disk needed); failed tasks are
    retried `max_retries` times, and a trial whose worker died is recorded as failed and rerun on resume.
    """

    def __init__(self, address: str | None = None, gpus_per_trial: float = 0.0, max_retries: int = 2,
                 cpus_per_trial: float = 1.0) -> None:
        """Settings only: Ray starts (or joins `address`) on the first `run`."""
        self.address = address
        self.gpus_per_trial = gpus_per_trial
        self.max_retries = max_retries
        self.cpus_per_trial = cpus_per_trial

    environment = staticmethod(local_environment)  # the driver's; each trial records where it ran

    def shutdown(self) -> None:
        """The Ray instance stays up for the process (a cluster is not ours to stop)."""

    def run(self, configs: Sequence[dict[str, Any]], progress: Any = None) -> Iterator[dict[str, Any]]:
        """Run each trial as a Ray task, yielding results as they finish (a lost task as a failed trial)."""
        if not configs:
            return
        ray = heavy.ray()

        from harness.train.trial import failed_result

        if not ray.is_initialized():
            from harness.run.reaper import reaped

            # a local instance this run starts dies with it, even by kill -9 (a cluster's address: nothing started)
            with reaped() if self.address is None else contextlib.nullcontext():
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR", configure_logging=True)
            from harness.run import signals

            signals.install()  # ray.init replaced our SIGTERM handler with sys.exit (a crash dump, no message)
        task = ray.remote(_ray_trial).options(
            num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial, max_retries=self.max_retries)
        import socket

        # workers of the instance this run started watch this driver: kill -9 of it leaves no worker behind
        driver = (os.getpid(), socket.gethostname()) if self.address is None else (None, None)
        pending = {task.remote(config, *driver): config for config in configs}
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


def _ray_trial(config: dict[str, Any], driver_pid: int | None = None,
               driver_host: str | None = None) -> dict[str, Any]:
    from harness.run.signals import die_with_process

    die_with_process(driver_pid, driver_host)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from harness.runtime.tfsetup import set_threads

    try:
        set_threads(1, 1)
    except RuntimeError:  # a reused worker whose TensorFlow is already initialised
        pass
    return _run_or_record(config)


AUTO_MIN_TRIALS = 12
"""`auto` takes the process executor from this many trials on. Measured on the 2-core machine (README,
"Executors"): the tests' tiny scenario took 12.4 s locally and 13.6 s with two workers at 8 trials, 12.1 s and
10.4 s at 16."""


def auto_executor(n_trials: int, cores: int | None = None, gpus: Sequence[str] | None = None) -> str:
    """What `--executor auto` (the default) runs: "process" on a CPU-only machine with two or more cores and at
    least AUTO_MIN_TRIALS trials, else "local".

    On a CPU the default scenario's trials are bound by per-op dispatch, one core each, so two workers finish
    them about 1.7x sooner than one process (README, "bench executors"); with a GPU one process owns it.
    """
    cores = (os.cpu_count() or 1) if cores is None else cores
    gpus = visible_gpus() if gpus is None else gpus
    return "process" if not gpus and cores >= 2 and n_trials >= AUTO_MIN_TRIALS else "local"


def make_executor(name: str, workers: int | None = None, address: str | None = None, gpus_per_trial: float = 0.0,
                  max_retries: int = 2, workers_per_gpu: int = 1,
                  trials: int | None = None) -> LocalExecutor | ProcessExecutor | RayExecutor:
    """The executor `name` (local, process or ray); `trials` (how many the run has) caps the process workers."""
    if name == "local":
        return LocalExecutor()
    if name == "process":
        return ProcessExecutor(workers, workers_per_gpu, trials=trials)
    if name == "ray":
        return RayExecutor(address, gpus_per_trial, max_retries)
    raise ValueError(f"unknown executor. Received: executor={name!r}")
