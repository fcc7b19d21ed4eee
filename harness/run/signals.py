"""Stop signals a scheduler or terminal sends (SIGINT, SIGTERM, SIGHUP) become exceptions in the main thread.

Each unwinds the run like Ctrl-C: executors stop their workers in `finally` blocks, finished trials stay on
disk, and the CLI prints one line and exits with the conventional code 128 + signal number. SIGHUP that was
ignored when the process started (`nohup`) stays ignored.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType


class Terminated(KeyboardInterrupt):
    """A stop signal other than SIGINT; `signum` is the signal's number."""

    def __init__(self, signum: int) -> None:
        """The exception for signal number `signum`."""
        super().__init__(signum)
        self.signum = signum


# stop signals seen: some native code (Ray's wait) re-raises our exception as a plain KeyboardInterrupt
_received: list[int] = []


def _raise(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise Terminated(signum)


def install() -> None:
    """Route SIGINT, SIGTERM and SIGHUP to exceptions (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    # Ctrl-C must stop a run cleanly even when started from a shell that ignores SIGINT (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise)
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _raise)


def exit_code(interrupt: BaseException) -> int:
    """128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + getattr(interrupt, "signum", _received[-1] if _received else signal.SIGINT)


PARENT_WATCH_SECONDS = 1.0


def die_with_parent(parent: int | None = None, kernel: bool = True) -> None:
    """Make this (worker) process end when the process that started it dies, even by kill -9: no orphans.

    On Linux the kernel sends SIGKILL on the parent's death (prctl PR_SET_PDEATHSIG, through ctypes); on every
    system a daemon thread also polls the parent's pid and exits the process once it changes (the fallback, and
    the cover for the race of a parent that died before prctl was called). `parent`: the pid expected.
    `kernel=False` skips prctl: the kernel signals the death of the parent *thread*, so a worker started from a
    thread that ends before the run must rely on the watch alone.
    """
    parent = os.getppid() if parent is None else parent  # given: the driver's pid, read before it started us
    if kernel and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the watch thread alone
            pass

    def watch() -> None:
        import time

        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(PARENT_WATCH_SECONDS)

    if os.getppid() != parent:  # orphaned before prctl took effect
        os._exit(1)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


_watched: set[int] = set()


def die_with_process(pid: int | None, host: str | None = None) -> None:
    """End this process when process `pid` on machine `host` ends (a daemon thread polls it): a Ray worker
    of a local Ray instance is the raylet's child, not the driver's, so it watches the driver by pid. On another
    machine (`host` differs) nothing is watched. Once per pid per process (Ray reuses workers)."""
    import socket

    if pid is None or pid in _watched or (host is not None and host != socket.gethostname()):
        return
    _watched.add(pid)

    def watch() -> None:
        import time

        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # alive, another user's (cannot happen for our driver): keep watching
                pass
            time.sleep(PARENT_WATCH_SECONDS)

    threading.Thread(target=watch, name="driver-watch", daemon=True).start()
