"""Stop signals a scheduler or terminal sends (SIGINT, SIGTERM, SIGHUP) become exceptions in the main thread.

Each unwinds the run like Ctrl-C: executors stop their workers in `finally` blocks, finished trials stay on
disk, and the CLI prints one line and exits with the conventional code 128 + signal number. SIGHUP that was
ignored when the process started (`nohup`) stays ignored.
"""

import signal
import threading


class Terminated(KeyboardInterrupt):
    """A stop signal other than SIGINT; `signum` is the signal's number."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


_received = []  # stop signals seen: some native code (Ray's wait) re-raises our exception as a plain KeyboardInterrupt


def _raise(signum, frame):
    _received.append(signum)
    raise Terminated(signum)


def install():
    """Route SIGINT, SIGTERM and SIGHUP to exceptions (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    # Ctrl-C must stop a run cleanly even when started from a shell that ignores SIGINT (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise)
    if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _raise)


def exit_code(interrupt):
    """128 + the signal number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + getattr(interrupt, "signum", _received[-1] if _received else signal.SIGINT)
