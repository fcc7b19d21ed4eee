"""Hardening, round two (issue 22), items 5 and 6, in subprocesses: a run in an ASCII locale with a non-ASCII
output path finishes and prints its last line, and every process a run started (the process executor's workers,
the Ray instance it started, Ray's agents included) dies with a driver killed by kill -9 (no orphans), through
harness.run.reaper for Ray. Tiny scenarios."""

import copy
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import ROOT, TINY_SCENARIO, harness_env, start_run_until
from tests.run.test_hardening_run import _alive, _children, stalling_run


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


def _descendants(pid):
    """Every process below `pid` (children, their children, ...): Ray's workers are the raylet's children."""
    found, frontier = [], [pid]
    while frontier:
        children = [child for parent in frontier for child in _children(parent)]
        found += children
        frontier = children
    return found


def _command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _wait_gone(pids, seconds):
    """Wait until none of `pids` is alive, `seconds` at most; return those still alive (and kill them: a test
    leaves nothing behind whatever its outcome), with their command lines."""
    deadline = time.time() + seconds
    while any(_alive(pid) for pid in pids) and time.time() < deadline:
        time.sleep(0.1)
    survivors = {pid: _command_line(pid)[:120] for pid in pids if _alive(pid)}
    for pid in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return survivors


def _ray_is_up(pid):
    """Ray's instance below the driver `pid` has its agents and runs a trial."""
    names = {_command_line(child).split(" ")[0] for child in _descendants(pid)}
    return {"ray::DashboardAgent", "ray::RuntimeEnvAgent", "ray::_ray_trial"} <= names


@pytest.mark.parametrize("executor", ["process", "ray"])
def test_no_orphans_after_kill_9_of_the_driver(tmp_path, executor):
    if executor == "ray":
        pytest.importorskip("ray")
    command, out = stalling_run(tmp_path, executor, workers=2)
    if executor == "process":
        process = start_run_until(command, out, 1)  # a worker finished a trial: the workers are up, one stalls
    else:  # Ray's instance started by the run (gcs_server, raylet, agents, monitors, the reaper) and a trial task
        process = start_run_until(command, out, 0)
        deadline = time.time() + 240
        while not _ray_is_up(process.pid) and process.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        if not _ray_is_up(process.pid):
            tree = _descendants(process.pid)
            process.kill()
            _wait_gone(tree, 15)
            pytest.fail(f"Ray's agents and a trial task were not up: {process.communicate(timeout=30)[1]}")
    workers = _descendants(process.pid)
    assert workers, f"the {executor} executor should have started worker processes"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)  # not communicate(): orphans would hold its pipes open
    process.stdout.close()
    process.stderr.close()
    killed = time.time()
    # every process the run started, Ray's own (its agents included, about a minute without the reaper) too
    survivors = _wait_gone(workers, 15)
    print(f"{executor}: {len(workers) - len(survivors)} of {len(workers)} processes gone "
          f"{time.time() - killed:.1f} s after kill -9 of the driver")
    assert not survivors, f"processes outlived a driver killed by kill -9: {survivors}"


_REAPED_DRIVER = """
import subprocess, sys, time
from harness.run.reaper import reaped

subprocess.Popen(["sleep", "300"])  # not started inside the block: not the reaper's
with reaped():  # a child that ignores SIGTERM and starts a grandchild after the block
    subprocess.Popen([sys.executable, "-c", "import signal, subprocess, time; "
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN); subprocess.Popen(['sleep', '300']); "
                      "time.sleep(300)"])
time.sleep(300)
"""


def _reaped_driver(tmp_path):
    """A driver that started processes inside `reaped()` and one outside, once all are up: (the driver, its
    descendants as {pid: command line}, the one started outside, the reaper)."""
    script = tmp_path / "driver.py"
    script.write_text(_REAPED_DRIVER, encoding="utf-8")
    process = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, env=harness_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while True:  # sleep (outside), the reaper, the child and its grandchild
        tree = {pid: _command_line(pid) for pid in _descendants(process.pid)}
        if len(tree) == 4 or process.poll() is not None or time.time() > deadline:
            break
        time.sleep(0.05)
    if len(tree) != 4:  # leave nothing behind
        process.kill()
        process.wait(timeout=30)
        _wait_gone(tree, 0)
        pytest.fail(f"expected 4 processes below the driver: {tree}; {process.stderr.read()}")
    outside = next(pid for pid in _children(process.pid) if tree[pid].startswith("sleep"))
    reaper = next(pid for pid, line in tree.items() if "harness/run/reaper.py" in line)
    return process, tree, outside, reaper


def test_the_reaper_ends_what_was_started_inside_its_block_once_the_driver_is_killed(tmp_path):
    process, tree, outside, _ = _reaped_driver(tmp_path)
    process.kill()
    process.wait(timeout=30)
    process.stderr.close()
    # the child (SIGTERM ignored: SIGKILL after the grace period), its grandchild (started after the block)
    # and the reaper itself are gone; the process started outside the block is not touched
    survivors = _wait_gone([pid for pid in tree if pid != outside], 15)
    untouched = _alive(outside)
    _wait_gone([outside], 0)
    assert not survivors, survivors
    assert untouched


def test_the_reaper_exits_by_itself_once_what_it_watches_has_ended(tmp_path):
    process, tree, outside, reaper = _reaped_driver(tmp_path)
    for pid in tree:  # what the reaper watches ends while the driver lives (ray.shutdown() in a notebook)
        if pid not in (outside, reaper):
            os.kill(pid, signal.SIGKILL)
    survivors = _wait_gone([reaper], 15)
    driver_alive = process.poll() is None
    process.kill()
    process.wait(timeout=30)
    process.stderr.close()
    _wait_gone([outside], 0)
    assert driver_alive
    assert not survivors, "the reaper outlived every process it watched"


def test_the_ray_extra_brings_the_psutil_the_reaper_needs():
    # Ray does not require psutil (it vendors a copy, on sys.path only after `import ray`, which the reaper never
    # does): `pip install -e ".[ray]"` must bring it, or the reaper would die at its first line, unseen
    import configparser

    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"), encoding="utf-8")
    extra = [line.split(">")[0].split("=")[0].strip() for line in config["options.extras_require"]["ray"].split("\n")]
    assert "psutil" in extra and "ray" in extra
