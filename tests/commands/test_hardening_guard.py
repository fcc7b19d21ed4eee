"""Hardening, round two (issue 22), items 1, 2 and 7: one guard owns every path the command line writes, one
live run per folder held by an OS lock, and numeric options checked like scenario fields. Cheap: no training
(refusals come before it; the report is rendered from the synthetic run of tests/support/fake_run.py)."""

import os

import pytest

from tests.support.fake_run import write_fake_run
from tests.support.hardening import assert_refused, run_cli


@pytest.fixture
def fake_run(tmp_path):
    path = tmp_path / "run"
    write_fake_run(path)
    return path


# -- 1. the output guard ---------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["notes.txt", "run/scenario.yaml", "run/summary.csv", "run/provenance.json",
                                    "input.yaml"])
def test_report_out_never_replaces_a_file_the_harness_did_not_write(fake_run, tmp_path, target):
    path = tmp_path / target
    if not path.exists():
        path.write_text("the user's own words\n")
    before = path.read_bytes()
    assert_refused(["report", fake_run, "--out", path], tmp_path, "--out", "not a report page the harness wrote")
    assert path.read_bytes() == before


def test_report_replaces_its_own_page_and_refuses_a_link(fake_run, tmp_path):
    page = tmp_path / "page.html"
    code, _, err = run_cli(["report", fake_run, "--out", page])
    assert code == 0, err
    first = page.stat().st_mtime_ns
    code, _, err = run_cli(["report", fake_run, "--out", page])  # the harness's own page: replaced
    assert code == 0, err
    assert page.stat().st_mtime_ns >= first
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "link.html"
    link.symlink_to(victim)
    assert_refused(["report", fake_run, "--out", link], tmp_path, "symbolic link")
    assert victim.read_text() == "keep me"
    # the default page (RUN/index.html) is guarded too: a file of the user's there is not replaced
    (fake_run / "index.html").write_text("my notes")
    assert_refused(["report", fake_run], tmp_path, "index.html", "not a report page")


def test_run_refuses_home_root_and_symlinked_run_folders(tmp_path, monkeypatch, write_scenario, tiny_scenario):
    scenario = write_scenario(tiny_scenario)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    assert_refused(["run", scenario, "--out", home], tmp_path, "is the home folder")
    assert_refused(["run", scenario, "--out", "~"], tmp_path, "is the home folder", cwd=tmp_path)
    assert not (tmp_path / "~").exists()  # never a literal ./~ folder
    assert_refused(["run", scenario, "--out", "/"], tmp_path, "is the root folder")
    other = tmp_path / "other_run"
    (other / "trials").mkdir(parents=True)
    (other / "trials" / "theirs.json").write_text("{}")
    link = tmp_path / "linked_run"
    link.symlink_to(other)
    assert_refused(["run", scenario, "--out", link], tmp_path, "symbolic link")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / ".harness-run").write_text("")
    (mine / "trials").symlink_to(other / "trials")
    assert_refused(["run", scenario, "--out", mine], tmp_path, "trials", "symbolic link")
    assert (other / "trials" / "theirs.json").read_text() == "{}"


def test_tilde_is_expanded_in_every_path(fake_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "notes.html").write_text("mine")
    # `~/run` is the fake run, `~/notes.html` the user's file: refused by its real name, nothing created under ./~
    line = assert_refused(["report", "~/run", "--out", "~/notes.html"], tmp_path, str(tmp_path / "notes.html"),
                          cwd=tmp_path)
    assert "'~" not in line and not (tmp_path / "~").exists()


def test_fresh_removes_only_the_files_the_manifest_lists(tmp_path):
    from harness.results.rundir import RunDir, TrialResult

    run = RunDir(tmp_path)
    run.prepare()
    config = {"id": "iid__bn__s0", "hash": "abc"}
    run.save_trial(config, TrialResult(id="x", hash="abc", config={}, status="ok").to_dict())
    (tmp_path / "trials" / "mine.json").write_text('{"mine": true}')  # not written by a run
    again = RunDir(tmp_path)
    again.prepare(fresh=True)
    assert sorted(os.listdir(tmp_path / "trials")) == ["mine.json"]
    assert again.load_finished(config) is None
    # a run directory without a manifest (older, or hand-made): --fresh deletes nothing, and reruns every trial
    old = tmp_path / "old"
    (old / "trials").mkdir(parents=True)
    (old / "trials" / "iid__bn__s0.json").write_text(TrialResult(id="iid__bn__s0", hash="abc", config=config,
                                                                 status="ok").to_json())
    old_run = RunDir(old)
    old_run.prepare(fresh=True)
    assert os.listdir(old / "trials") == ["iid__bn__s0.json"]
    assert old_run.load_finished(config) is None
    # a manifest line pointing outside trials/ is never deleted
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (old / ".harness-manifest").write_text("../outside.json\ntrials/../../outside.json\n")
    RunDir(old).prepare(fresh=True)
    assert outside.exists()


# -- 2. one live run per folder ----------------------------------------------------------------------------
def test_lock_is_held_by_the_process_not_by_a_file(fake_run, tmp_path):
    from harness.errors import UsageError
    from harness.results.rundir import RunDir

    leftover = fake_run / ".lock"
    leftover.write_text("")  # a lock file left behind by an older run means nothing
    with RunDir(fake_run).lock():
        if leftover.exists():
            leftover.unlink()  # deleting it does not let a second run in
        with pytest.raises(UsageError, match="is in use by another run"):
            RunDir(fake_run).lock()
        assert RunDir(fake_run).in_use()
        assert_refused(["report", fake_run, "--out", tmp_path / "page.html"], tmp_path, "in use by a running run")
    assert not RunDir(fake_run).in_use()
    with RunDir(fake_run).lock():  # released
        pass


# -- 7. numeric options ----------------------------------------------------------------------------------
@pytest.mark.parametrize("option, value, needle", [
    ("--gpus-per-trial", "nan", "not finite"), ("--gpus-per-trial", "inf", "not finite"),
    ("--gpus-per-trial", "-1", ">= 0"), ("--gpus-per-trial", "1e9", "<= "),
    ("--workers", "0", ">= 1"), ("--workers", str(10**9), "<= "), ("--workers", "two", "not an integer"),
    ("--workers-per-gpu", "-3", ">= 1"), ("--max-retries", "-1", ">= 0"), ("--max-retries", "1e3", "not an integer"),
])
def test_numeric_options_are_checked_like_scenario_fields(tmp_path, option, value, needle):
    # the scenario does not exist: an accepted option would end in a message about the scenario instead
    line = assert_refused(["run", tmp_path / "missing.yaml", "--out", tmp_path / "out", option, value], tmp_path,
                          option, needle)
    assert value in line


def test_workers_are_capped_at_the_trials_and_the_cores():
    from harness.run.executors import worker_count

    assert worker_count(8, trials=2) == 2  # --workers 8 for 2 trials: 2 workers
    assert worker_count(None, trials=100, cores=2) == 2  # default: the cores
    assert worker_count(None, trials=1, cores=16) == 1
    assert worker_count(4, trials=100, cores=2) == 4  # asked for: more than the cores is allowed
    assert worker_count(None, trials=3, gpus=2, workers_per_gpu=2, cores=64) == 3


def _numeric_actions():
    """(argv prefix, action) of every option of every command and bench subcommand, from the parsers themselves."""
    import argparse

    from harness.commands import cli

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, [*prefix, name])
            elif action.option_strings:
                yield prefix, action

    for command in cli.COMMANDS:
        top = cli.build_parser(command)
        command_parser = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
        yield from walk(command_parser, [command])


def _is_numeric(action):
    default = action.default
    return action.type in (int, float) or (action.type is None and action.nargs != 0 and not isinstance(default, bool)
                                           and isinstance(default, (int, float)))


def _bad_values(kind):
    """Values every option of this numbers type refuses, with a word of the reason."""
    low, high = kind.bounds
    integer = kind.__name__ == "integer"
    bad = [("nan", "not " + ("an integer" if integer else "finite")), ("inf", "not " + ("an integer" if integer else
                                                                                         "finite")),
           ("seven", "not an integer" if integer else "not a number")]
    if low is not None:
        below = low if getattr(kind, "open_low", False) else low - 1
        bad.append((str(below if integer else float(below)), ">"))
        if low >= 0:
            bad.append(("-1", ">"))
    if high is not None:
        bad.append((str(10**30) if integer else "1e30", "<= "))
    return list(dict.fromkeys(bad))


def _numeric_cases():
    from harness.commands import numbers

    cases = []
    for prefix, action in _numeric_actions():
        if getattr(action.type, "__module__", None) != numbers.__name__:
            continue
        option = action.option_strings[-1]
        for value, reason in _bad_values(action.type):
            cases.append(pytest.param(prefix, option, value, reason, id=f"{' '.join(prefix)} {option}={value}"))
    return cases


def test_every_numeric_option_is_checked_by_a_numbers_type():
    """A new numeric option without `integer(...)` / `real(...)` (a bare int/float type) fails here."""
    from harness.commands import numbers

    unchecked = [f"{' '.join(prefix)} {action.option_strings[-1]}" for prefix, action in _numeric_actions()
                 if _is_numeric(action) or (getattr(action.type, "__name__", "") in ("integer", "number")
                                            and action.type.__module__ != numbers.__name__)]
    assert not unchecked, f"numeric options without harness.commands.numbers types: {unchecked}"
    assert len(_numeric_cases()) > 60


@pytest.mark.parametrize("prefix, option, value, reason", _numeric_cases())
def test_every_numeric_option_refuses_bad_values_in_one_line(tmp_path, prefix, option, value, reason):
    import sys

    tensorflow_before = "tensorflow" in sys.modules
    line = assert_refused([*prefix, f"{option}={value}"], tmp_path, option, reason, repr(value), cwd=tmp_path)
    assert line.startswith(f"error: argument {option}")
    assert tensorflow_before or "tensorflow" not in sys.modules  # refused while parsing: nothing heavy imported


# -- the screenshots of `report --screenshot DIR` ----------------------------------------------------------
def test_screenshot_never_replaces_a_file_the_harness_did_not_write(fake_run, tmp_path):
    shots = tmp_path / "shots"
    shots.mkdir()
    own = shots / "report_top.png"
    own.write_bytes(b"\x89PNG\r\n\x1a\n not a screenshot of ours")
    before = own.read_bytes()
    assert_refused(["report", fake_run, "--screenshot", shots], tmp_path, "--screenshot", "report_top.png",
                   "not a screenshot the harness wrote")
    assert own.read_bytes() == before
    (tmp_path / "file").write_text("x")
    assert_refused(["report", fake_run, "--screenshot", tmp_path / "file"], tmp_path, "--screenshot", "not a folder")


def test_screenshots_carry_the_harness_tag_and_are_recognised(tmp_path):
    import struct
    import zlib

    from harness.report.screenshot import tag_png
    from harness.run.out_guard import is_screenshot

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))
    path = tmp_path / "shot.png"
    path.write_bytes(png)
    assert not is_screenshot(str(path))
    tagged = tag_png(png)
    path.write_bytes(tagged)
    assert is_screenshot(str(path)) and tag_png(tagged) == tagged
    # a valid PNG still: every chunk's CRC matches, the tag is a tEXt chunk right after IHDR
    offset, kinds = 8, []
    while offset < len(tagged):
        (length,) = struct.unpack(">I", tagged[offset:offset + 4])
        kind, data = tagged[offset + 4:offset + 8], tagged[offset + 8:offset + 8 + length]
        assert struct.unpack(">I", tagged[offset + 8 + length:offset + 12 + length])[0] == zlib.crc32(kind + data)
        kinds.append(kind)
        offset += 12 + length
    assert kinds == [b"IHDR", b"tEXt", b"IDAT", b"IEND"]
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        assert image.info.get("Software") == "minibatch-harness"
