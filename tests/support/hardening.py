"""The shared check of the hardening tests: bad input is exit 2, one line, no traceback, nothing created."""

import contextlib
import io
import os
import signal
import subprocess
import sys

from tests.conftest import ROOT, harness_env


def snapshot(folder):
    """Every path under `folder` with its size and modification time (to see that nothing was created)."""
    state = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            stat = os.lstat(path)
            # a folder's own times change when a temporary file comes and goes: only its existence counts
            state[os.path.relpath(path, folder)] = "folder" if name in dirs else (stat.st_size, stat.st_mtime_ns)
    return state


def run_cli(argv, cwd=None):
    """Run harness.commands.cli.main(argv) in this process: (exit code, stdout, stderr).
    Signal handlers are restored."""
    from harness.commands import cli

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main([str(a) for a in argv])
            except SystemExit as exit_:  # argparse errors
                code = exit_.code
    finally:
        os.chdir(previous)
        for number, handler in saved.items():
            signal.signal(number, handler)
    return code, out.getvalue(), err.getvalue()


def run_subprocess(argv, cwd=None, timeout=120, env=None):
    """`python -m harness argv` in a subprocess: (exit code, stdout, stderr)."""
    result = subprocess.run([sys.executable, "-m", "harness", *map(str, argv)], cwd=cwd or ROOT,
                            env=env or harness_env(), capture_output=True, text=True, timeout=timeout)
    return result.returncode, result.stdout, result.stderr


def assert_refused(argv, folder, *needles, subprocess_=False, cwd=None):
    """`argv` exits 2 with one line on stderr containing every needle, no traceback, nothing created in `folder`.

    Returns the error line.
    """
    before = snapshot(folder)
    runner = run_subprocess if subprocess_ else run_cli
    code, stdout, stderr = runner(argv, cwd=cwd)
    lines = stderr.strip().splitlines()
    assert code == 2, (code, stdout, stderr)
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert snapshot(folder) == before, "the refused command created or changed files"
    return lines[0]
