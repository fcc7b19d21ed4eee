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
from test_hardening_run import _alive, _children


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


def test_no_orphans_after_kill_9_of_the_driver(tmp_path):
    raw = copy.deepcopy(TINY_SCENARIO)
    raw["samplers"] = {"iid": {"kind": "tests.broken_sampler:StallingSampler"}}
    raw["normalizers"] = {"bn": {"kind": "batchnorm"}}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "harness", "run", str(path), "--out", str(out), "--no-report",
               "--executor", "process", "--workers", "2"]
    process = start_run_until(command, out, 1)  # a worker finished a trial: the workers are up, one stalls
    workers = _children(process.pid)
    assert workers, "the process executor should have started worker processes"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)  # not communicate(): orphans would hold its pipes open
    process.stdout.close()
    process.stderr.close()
    deadline = time.time() + 15
    while any(_alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    orphans = [pid for pid in workers if _alive(pid)]
    for pid in orphans:  # leave nothing behind whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert not orphans, "workers outlived a driver killed by kill -9"
