"""Hardening of `report`: damaged run folders, --out that cannot be written, comparisons that would mislead
(issue 14). Fake run folders, no TensorFlow."""

import errno
import html
import os
import re

import pytest

from fake_run import write_fake_run
from hardening import assert_refused, run_cli


@pytest.fixture
def run_dir(tmp_path):
    return write_fake_run(tmp_path / "run", seed=5)


def test_binary_scenario_yaml_is_one_line(run_dir, tmp_path):
    (run_dir / "scenario.yaml").write_bytes(b"\xff\xfe\x00garbage\x80")
    assert_refused(["report", run_dir], tmp_path, "scenario.yaml", "UTF-8")


def test_provenance_that_is_a_list_is_one_line(run_dir, tmp_path):
    (run_dir / "provenance.json").write_text("[1, 2]")
    assert_refused(["report", run_dir], tmp_path, "provenance.json", "JSON object")


def test_text_in_summary_values_is_one_line(run_dir, tmp_path):
    text = (run_dir / "summary.csv").read_text().splitlines()
    header = text[0].split(",")
    cells = text[1].split(",")
    cells[header.index("value")] = "not-a-number"
    (run_dir / "summary.csv").write_text("\n".join([text[0], ",".join(cells), *text[2:]]) + "\n")
    assert_refused(["report", run_dir], tmp_path, "summary.csv", "column value", "not-a-number")


def test_report_out_that_cannot_be_written_is_one_line(run_dir, tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    assert_refused(["report", run_dir, "--out", tmp_path / "folder"], tmp_path, "--out", "is a folder")
    assert_refused(["report", run_dir, "--out", tmp_path / "file" / "r.html"], tmp_path, "--out", "is a file")
    # read-only (as root chmod does not stop writes; /proc does)
    assert_refused(["report", run_dir, "--out", "/proc/harness-report.html"], tmp_path, "/proc")


def test_disk_full_while_writing_the_report_is_one_line(run_dir, tmp_path, monkeypatch):
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, text):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: Full(real_fdopen(fd, *a, **k)))
    assert_refused(["report", run_dir], tmp_path, "No space left on device", "cannot be written")
    assert not [f for f in os.listdir(run_dir) if f.endswith(".tmp")]  # the temporary file is removed


def test_plain_run_and_sweep_are_not_compared(tmp_path):
    plain = write_fake_run(tmp_path / "plain", seed=0)
    sweep = write_fake_run(tmp_path / "sweep", seed=0, sweep={"training.batch_size": [4, 16]})
    assert_refused(["report", plain, sweep], tmp_path, "different sweeps", "training.batch_size")
    assert_refused(["report", sweep, plain], tmp_path, "different sweeps")


def test_comparison_diff_keeps_its_lines_and_the_title_names_what_changed(tmp_path):
    a = write_fake_run(tmp_path / "a", seed=0)
    b = write_fake_run(tmp_path / "b", seed=0, acc_shift=0.02, description="changed (synthetic)")
    code, out, err = run_cli(["report", a, b])
    assert code == 0, err
    text = (a / "compare_b.html").read_text(encoding="utf-8")
    pre = re.search(r"<pre>(.*?)</pre>", text, re.S).group(1)
    assert pre.count("\n") >= 3, pre  # one line per diff line, not all on one
    title = html.unescape(re.search(r"<title>(.*?)</title>", text, re.S).group(1))
    assert "description differs" in title, title
