"""Hardening of `run` (issue 14): broken plugins fail their trials (never a hang, never exit 0 with nothing done),
stop signals stop every worker and keep finished trials, a full disk is one line, damaged trial files are rerun,
and the progress is readable in a log. Tiny scenarios; runs that could hang or must be
signalled are subprocesses, the others run in-process (cheap: TensorFlow is imported once)."""

import copy
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import ROOT, TINY_SCENARIO, finished_trials, harness_env, start_run_until
from tests.support.hardening import run_cli


def scenario(tmp_path, **changes):
    raw = copy.deepcopy(TINY_SCENARIO)
    raw.update(changes)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def harness(*args, timeout=300, **kwargs):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], cwd=ROOT, env=harness_env(),
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def test_broken_sampler_plugins_fail_their_trials_and_a_run_with_nothing_done_exits_nonzero(tmp_path):
    plugins = {name: {"kind": f"tests.support.hardening_plugins:{cls}"} for name, cls in (
        ("short", "ShortSampler"), ("too_large", "OutOfRangeSampler"), ("negative", "NegativeSampler"),
        ("exits", "ExitingSampler"))}
    path = scenario(tmp_path, samplers=plugins, normalizers={"bn": {"kind": "batchnorm"}}, seeds=[0])
    out = tmp_path / "run"
    # a short stream used to loop forever; --quiet still says where the results are
    result = harness("run", path, "--out", out, "--no-report", "--quiet", timeout=240)
    assert result.returncode == 1, result.stderr
    assert f"results: {out}/" in result.stdout
    assert "Traceback" not in result.stderr
    assert "error: all 4 trials failed" in result.stderr.strip().splitlines()[-1]
    trials = {json.loads((out / "trials" / f).read_text())["config"]["sampler"]:
              json.loads((out / "trials" / f).read_text()) for f in finished_trials(out)}
    assert {name: t["status"] for name, t in trials.items()} == dict.fromkeys(plugins, "failed")
    assert "shape (19, 8)" in trials["short"]["error"] and "sampler short" in trials["short"]["error"]
    assert "outside [0, " in trials["too_large"]["error"] and "sampler too_large" in trials["too_large"]["error"]
    assert "outside [0, " in trials["negative"]["error"] and "sampler negative" in trials["negative"]["error"]
    assert "SystemExit" in trials["exits"]["error"]
    assert (out / "summary.md").exists()


def _children(pid):
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stalling_run(tmp_path, executor, workers):
    """(command, run directory) of a tiny run whose sampler stalls after its first trial (tests.support.broken_sampler),
    so a signal or a kill finds it mid-run; `workers` process workers with the process executor."""
    raw = copy.deepcopy(TINY_SCENARIO)
    raw["samplers"] = {"iid": {"kind": "tests.support.broken_sampler:StallingSampler"}}
    raw["normalizers"] = {"bn": {"kind": "batchnorm"}}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "harness", "run", str(path), "--out", str(out), "--no-report",
               "--executor", executor] + (["--workers", str(workers)] if executor == "process" else [])
    return command, out


@pytest.mark.parametrize("executor, signum", [("local", signal.SIGTERM), ("process", signal.SIGHUP),
                                              ("ray", signal.SIGTERM)])
def test_stop_signals_keep_finished_trials_stop_workers_and_exit_128_plus_signal(executor, signum, tmp_path):
    if executor == "ray":
        pytest.importorskip("ray")
    command, out = stalling_run(tmp_path, executor, workers=1)
    # as a scheduler starts it: SIGHUP not ignored (under nohup, as CI may be, the run would inherit it ignored)
    process = start_run_until(command, out, 1, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    workers = _children(process.pid)
    if executor != "local":
        assert workers, f"the {executor} executor should have started worker processes"
    process.send_signal(signum)
    started = time.time()
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert time.time() - started < 30
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (f"interrupted by {signal.Signals(signum).name}: finished trials "
                                               "are kept; run again to resume.")
    assert len(finished_trials(out)) == 1
    deadline = time.time() + 10
    while any(_alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)], "workers outlived the driver"


def test_disk_full_at_a_trial_file_is_one_line(tmp_path, monkeypatch):
    import errno

    from harness.runtime import atomic

    real = atomic.write_text

    def full(path, text):
        if os.sep + "trials" + os.sep in path:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(path, text)

    monkeypatch.setattr(atomic, "write_text", full)
    raw = {**copy.deepcopy(TINY_SCENARIO), "samplers": {"iid": {"kind": "iid"}},
           "normalizers": {"bn": {"kind": "batchnorm"}}, "seeds": [0]}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw))
    code, _, stderr = run_cli(["run", path, "--out", tmp_path / "run", "--no-report"])  # in-process: cheap
    assert code == 2, stderr
    assert "Traceback" not in stderr
    line = stderr.strip().splitlines()[-1]
    assert "No space left on device" in line and "trials" in line, line


def test_damaged_trial_files_and_scenario_copy_count_as_not_finished(tmp_path):
    from harness.results.rundir import RunDir

    run_dir = RunDir(str(tmp_path))
    config = {"id": "t", "hash": "h"}
    (tmp_path / "trials").mkdir()
    for content in (b"null", b"[]", b"3", b"\xff\xfe{bad utf-8", b'"text"'):
        (tmp_path / "trials" / "t.json").write_bytes(content)
        assert run_dir.load_finished(config) is None
    (tmp_path / "scenario.yaml").write_bytes(b"\xff\x00\x80 binary")
    run_dir.refuse_another_scenario("tiny", fresh=False)  # damaged: rewritten by the run, no error


def test_log_progress_is_one_line_per_trial_and_a_rerun_says_nothing_to_do(tmp_path):
    raw = {**copy.deepcopy(TINY_SCENARIO), "samplers": {"iid": {"kind": "iid"}},
           "normalizers": {"bn": {"kind": "batchnorm"}}}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    # in-process (cheap): stderr is captured, not a terminal, as in a CI log
    code, _, stderr = run_cli(["run", path, "--out", out, "--no-report"])
    assert code == 0, stderr
    assert "\r" not in stderr
    assert "tiny: 1/2 trials done" in stderr and "tiny: 2/2 trials done" in stderr
    _, _, again = run_cli(["run", path, "--out", out, "--no-report"])
    assert "nothing to do, all 2 trials are finished" in again
