"""Hardening of `verify` (issue 14): a target that exits, aborts, or does not import is one line and exit 2,
never "all checks pass"; TensorFlow's start-up log stays silent."""

import sys

import pytest

from tests.support.hardening import assert_refused


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    (tmp_path / "exits_factory.py").write_text("def factory():\n    raise SystemExit(0)\n")
    (tmp_path / "syntax_error_module.py").write_text("def factory(:\n    pass\n")
    (tmp_path / "failing_import_module.py").write_text("raise RuntimeError('broken at import')\n")
    (tmp_path / "exits_at_import.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("exits_factory", "syntax_error_module", "failing_import_module", "exits_at_import"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("target, needles", [
    ("exits_factory:factory", ["exits_factory:factory", "SystemExit"]),
    ("sys:exit", ["sys:exit", "neither a layer class"]),
    ("syntax_error_module:factory", ["syntax_error_module", "SyntaxError", "line 1"]),
    ("failing_import_module:factory", ["failing_import_module", "RuntimeError", "broken at import"]),
    ("exits_at_import:factory", ["exits_at_import", "SystemExit"]),
])
def test_verify_targets_that_exit_or_do_not_import_are_one_line(user_modules, target, needles):
    assert_refused(["verify", target], user_modules, *needles)


def test_verify_refuses_os_abort_and_keeps_tensorflow_quiet(tmp_path):
    # a subprocess: were os.abort called, it would end the process that called it
    assert_refused(["verify", "os:abort"], tmp_path, "os:abort", "neither a layer class", subprocess_=True)
    # that one line is all of stderr although TensorFlow was imported first: its start-up log is silenced


@pytest.mark.parametrize("body, death", [
    ("import os\n\ndef factory():\n    os.abort()\n", "SIGABRT"),
    ("import os\n\ndef factory():\n    os._exit(3)\n", "exit code 3"),
])
def test_verify_survives_a_factory_that_kills_its_process(tmp_path, body, death):
    """The user's code runs in a child process: its abort or os._exit is one line naming the target, exit 2."""
    (tmp_path / "crashing_factory.py").write_text(body)
    line = assert_refused(["verify", "crashing_factory:factory"], tmp_path, subprocess_=True, cwd=tmp_path)
    assert line.startswith("error: crashing_factory:factory killed the checking process"), line
    assert f"({death})" in line and "calling crashing_factory:factory()" in line, line
