"""Hardening, round two (issue 22), items 5 and 6, in subprocesses: a run in an ASCII locale with a non-ASCII
output path finishes and prints its last line, and the process executor's workers die with a driver killed by
kill -9 (no orphans). Tiny scenarios."""

import copy
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import ROOT, TINY_SCENARIO, harness_env, start_run_until
from test_hardening_run import _alive, _children, stalling_run


def _one_trial_scenario(tmp_path):
    raw = {**copy.deepcopy(TINY_SCENARIO), "samplers": {"iid": {"kind": "iid"}},
           "normalizers": {"bn": {"kind": "batchnorm"}}, "seeds": [0]}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_any_locale_a_non_ascii_output_path_under_an_ascii_locale_and_terminal(tmp_path):
    out = os.path.join(str(tmp_path), "r\u00e9sum\u00e9_\u6f22")
    env = {**harness_env(), "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": "ascii"}
    result = subprocess.run([sys.executable, "-m", "harness", "run", str(_one_trial_scenario(tmp_path)),
                             "--out", out.encode("utf-8")], cwd=ROOT, env=env, capture_output=True, timeout=300)
    stdout, stderr = result.stdout.decode("ascii"), result.stderr.decode("ascii")  # the terminal got ASCII only
    assert result.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "results: " in stdout.strip().splitlines()[-1]  # the final line, escaped, not a crash
    for name in ("index.html", "summary.md", "scenario.yaml", "trials.csv"):
        with open(os.path.join(out, name), encoding="utf-8") as handle:  # written, and UTF-8
            handle.read()
    # the report of that folder, from an ASCII terminal in a UTF-8 locale
    env = {**harness_env(), "PYTHONIOENCODING": "ascii"}
    result = subprocess.run([sys.executable, "-m", "harness", "report", out], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "report: " in result.stdout and "\\xe9" in result.stdout


def _is_ray_agent(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().startswith((b"ray::DashboardAgent", b"ray::RuntimeEnvAgent"))
    except OSError:
        return False


def _descendants(pid):
    """Every process below `pid` (children, their children, ...): Ray's workers are the raylet's children."""
    found, frontier = [], [pid]
    while frontier:
        children = [child for parent in frontier for child in _children(parent)]
        found += children
        frontier = children
    return found


@pytest.mark.parametrize("executor", ["process", "ray"])
def test_no_orphans_after_kill_9_of_the_driver(tmp_path, executor):
    if executor == "ray":
        pytest.importorskip("ray")
        if not os.environ.get("HARNESS_RAY_KILL_TEST"):
            pytest.skip("about 3 minutes on a 2-core machine (Ray's start and timeouts): "
                        "HARNESS_RAY_KILL_TEST=1 runs it")
    command, out = stalling_run(tmp_path, executor, workers=2)
    process = start_run_until(command, out, 1)  # a worker finished a trial: the workers are up, one stalls
    workers = _descendants(process.pid)
    assert workers, f"the {executor} executor should have started worker processes"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)  # not communicate(): orphans would hold its pipes open
    process.stdout.close()
    process.stderr.close()
    deadline = time.time() + (15 if executor == "process" else 60)  # Ray's raylet notices within its timeouts
    while any(_alive(pid) and not _is_ray_agent(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    # Ray's own per-node daemons of the local instance (not trial workers) outlive the driver for over a minute
    # (Ray 2.60); the trial workers must not
    orphans = [pid for pid in workers if _alive(pid) and not _is_ray_agent(pid)]
    names = []
    for pid in orphans:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                names.append(handle.read().replace(b"\0", b" ")[:120].decode(errors="replace"))
        except OSError:
            pass
    for pid in [pid for pid in workers if _alive(pid)]:  # leave nothing behind whatever the outcome
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not orphans, f"workers outlived a driver killed by kill -9: {names}"
