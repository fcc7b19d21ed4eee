"""Processes a run starts outside its own workers (a local Ray instance) die with the run, even after kill -9.

`ray.init()` without an address starts Ray's processes (gcs_server, raylet, dashboard, monitors) as children
of the driver, and the raylet starts its agents and workers. After kill -9 of the driver, Ray's agents
(`ray::DashboardAgent`, `ray::RuntimeEnvAgent`) live on for about a minute (Ray 2.60), and a worker
started just then may too. `reaped()` wraps the code that starts such processes: the driver's children that
appear inside it are given to a reaper, this file run as a script in its own process. The reaper keeps
the list of those processes and their descendants up to date (every `POLL_SECONDS`), and
once the driver is gone (the pipe only the driver holds reaches end of file) it sends SIGTERM to every one
still alive, SIGKILL after `GRACE_SECONDS`, and exits. It also exits, doing nothing, when they have all ended
(the instance was shut down: a normal exit shuts Ray down itself). Processes are known by pid and start
time, so a reused pid is never signalled. The script imports only the standard library and psutil: the
psutil the driver imported (Ray's own copy when only Ray brings one), found through the reaper's PYTHONPATH.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any

POLL_SECONDS = 0.5
GRACE_SECONDS = 2.0

_reapers: list[subprocess.Popen[bytes]] = []  # held for the life of the driver: their pipes are its heartbeat


def _identity(process: Any) -> str:
    """`pid:start time`, the way the reaper is told which processes are ours."""
    return f"{process.pid}:{process.create_time()!r}"


@contextlib.contextmanager
def reaped() -> Iterator[None]:
    """Processes this process starts inside the block (its new children, and later their descendants) are
    ended by a reaper once this process is gone, however it ends. Nothing new started: no reaper."""
    import psutil

    before = {_identity(child) for child in _children(psutil.Process())}
    try:
        yield
    finally:  # also when the block fails half-way (ray.init timing out, Ctrl-C): what it started is reaped
        started = [identity for identity in map(_identity, _children(psutil.Process())) if identity not in before]
        if started:
            start(started)


def _children(process: Any) -> list[Any]:
    import psutil

    found = []
    for child in process.children():
        with contextlib.suppress(psutil.Error):  # ended meanwhile
            child.create_time()
            found.append(child)
    return found


def start(identities: Iterable[str]) -> subprocess.Popen[bytes]:
    """Start the reaper of the processes `identities` (`pid:start time`, as `reaped` collects them)."""
    import psutil

    _reapers[:] = [reaper for reaper in _reapers if reaper.poll() is None]  # those done (instance shut down)
    # the reaper imports the psutil this process imported: Ray vendors one that is on sys.path only after
    # `import ray`, which the reaper never does
    where = os.path.dirname(os.path.dirname(os.path.abspath(psutil.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [where, os.environ.get("PYTHONPATH")]))}
    reaper = subprocess.Popen(
        [sys.executable, "-P", os.path.abspath(__file__), *identities], stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        start_new_session=True)  # not in the terminal's process group: Ctrl-C and hang-ups are the driver's
    _reapers.append(reaper)
    return reaper


def _tree(known: dict[int, Any]) -> None:
    """Drop the `known` processes that ended, then add the descendants of the others (in place): a pid that
    ended and was reused by another process never brings that process's children in."""
    import psutil

    for pid, process in list(known.items()):
        try:
            ended = not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            ended = True
        if ended:
            del known[pid]
    children: dict[int, list[Any]] = {}
    for process in psutil.process_iter(["ppid"]):
        children.setdefault(process.info["ppid"], []).append(process)
    frontier = list(known)
    while frontier:
        pid = frontier.pop()
        for child in children.get(pid, []):
            if child.pid not in known:
                known[child.pid] = child
                frontier.append(child.pid)


def _end(processes: Iterable[Any]) -> None:
    """SIGTERM to each, SIGKILL to those still alive after GRACE_SECONDS."""
    import psutil

    alive = list(processes)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.terminate()
    _, alive = psutil.wait_procs(alive, timeout=GRACE_SECONDS)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()


def main(identities: list[str]) -> None:
    """The reaper: watch the processes `identities` and their descendants until the driver (whose pipe is our
    stdin) is gone, then end them; return early when they have all ended."""
    import psutil

    for signum in (signal.SIGINT, getattr(signal, "SIGHUP", None)):
        if signum is not None:
            signal.signal(signum, signal.SIG_IGN)
    known: dict[int, Any] = {}
    for identity in identities:
        pid, created = identity.split(":")
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(int(pid))
            if process.create_time() == float(created):
                known[process.pid] = process
    gone = threading.Event()

    def read() -> None:
        while sys.stdin.buffer.read(4096):  # nothing is written; end of file: the driver is gone
            pass
        gone.set()

    threading.Thread(target=read, daemon=True).start()
    while True:
        _tree(known)
        if not known:
            return
        if gone.wait(POLL_SECONDS):
            break
    _tree(known)
    _end(known.values())


if __name__ == "__main__":
    main(sys.argv[1:])
