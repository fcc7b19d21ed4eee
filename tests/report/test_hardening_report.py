"""Hardening of `report`: damaged run folders, --out that cannot be written, comparisons that would mislead
(issue 14). Fake run folders, no TensorFlow."""

import errno
import html
import os
import re

import numpy as np
import pytest

from tests.support.fake_run import write_fake_run
from tests.support.hardening import assert_refused, run_cli


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


# ----------------------------------------------------------------------------- figures and provenance (issue 14)
def _logits_figure(run_dir, monkeypatch):
    """The logits figure of `run_dir`, drawn, as a live matplotlib figure (embed, which renders and closes it, is
    replaced by one that hands the figure back), with its renderer."""
    from harness.report import figures
    from harness.results.loader import load_run

    monkeypatch.setattr(figures, "embed", lambda fig, *args: fig)
    fig = figures.logits_figure(load_run(run_dir))
    fig.canvas.draw()  # constrained layout places the artists at draw time
    return fig, fig.canvas.get_renderer()


@pytest.fixture
def zero_kl_run(tmp_path):
    """A fake run whose KL is exactly 0 for every seed of (iid, bn): a bar of height zero."""
    import pandas as pd

    run = write_fake_run(tmp_path / "run", seed=5)
    summary = pd.read_csv(run / "summary.csv")
    summary.loc[(summary.metric == "logit_kl") & (summary.sampler == "iid") & (summary.normalizer == "bn"),
                "value"] = 0.0
    summary.to_csv(run / "summary.csv", index=False)
    return run


def test_zero_height_bar_gets_a_visible_marker_at_zero(zero_kl_run, monkeypatch):
    import matplotlib.colors as mcolors

    fig, _ = _logits_figure(zero_kl_run, monkeypatch)
    kl_ax = next(ax for ax in fig.axes if ax.get_title() == "logit_kl")
    bn_bars = next(c for c in kl_ax.containers if c.get_label() == "bn")
    zero_bars = [bar for bar in bn_bars.patches if bar.get_height() == 0]
    assert len(zero_bars) == 1  # the iid bar; every other bar of the panel is taller than zero
    centre = zero_bars[0].get_x() + zero_bars[0].get_width() / 2
    # error-bar caps are markers too, 4 points wide: only a line of its own, visible, counts as the marker
    caps = {id(line) for c in kl_ax.containers if getattr(c, "errorbar", None) for line in c.errorbar.lines[1]}
    markers = [line for line in kl_ax.lines if id(line) not in caps and line.get_visible()
               and line.get_marker() not in (None, "", "None", " ") and line.get_markersize() >= 6
               and any(np.isclose(x, centre) and y == 0
                       for x, y in zip(line.get_xdata(), line.get_ydata(), strict=False))]
    assert markers, "no marker drawn at y=0 for the zero-height bar"
    assert mcolors.same_color(markers[0].get_color(), zero_bars[0].get_facecolor())  # in the normalizer's colour


def test_logit_kl_axis_label_stays_clear_of_the_titles_and_the_other_panel(run_dir, monkeypatch):
    fig, renderer = _logits_figure(run_dir, monkeypatch)
    kl_ax = next(ax for ax in fig.axes if ax.get_title() == "logit_kl")
    other = next(ax for ax in fig.axes if ax.get_title() == "logit_disagreement")
    label = kl_ax.yaxis.label.get_window_extent(renderer)
    for name, box in (("figure title", fig._suptitle.get_window_extent(renderer)),
                      ("panel title", kl_ax.title.get_window_extent(renderer)),
                      ("logit_disagreement panel", other.get_window_extent(renderer))):
        assert not label.overlaps(box), (name, label, box)


def test_provenance_names_a_cpu_model_once():
    from types import SimpleNamespace

    from harness.report.render import _provenance

    cpu = "AMD EPYC 7B13 64-Core Processor"
    shown = dict(_provenance(SimpleNamespace(provenance={"device": {"type": "CPU", "name": cpu, "cpu_model": cpu}})))
    assert shown["device"] == f"CPU / {cpu}"
    gpu = dict(_provenance(SimpleNamespace(provenance={"device": {"type": "GPU", "name": "NVIDIA A100",
                                                                   "cpu_model": cpu}})))
    assert gpu["device"] == f"GPU / NVIDIA A100 / {cpu}"  # different parts all stay
