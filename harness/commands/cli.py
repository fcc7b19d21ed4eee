"""Command line: `python -m harness <command>`.

Each command lives in its own module exposing `add_arguments(parser)` and
`main(args) -> int`. A command's module is imported only when that command
is given, and none imports TensorFlow at import time, so `--help` and
`validate` never pay for it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from harness.errors import HarnessError, UsageError, exit_code

COMMANDS = {
    "run": ("harness.commands.run", "Run a scenario: train, analyse, write results and the HTML report."),
    "validate": ("harness.commands.validate", "Check a scenario file without running it."),
    "report": ("harness.commands.report", "Rebuild the HTML report of a run directory (or compare two runs)."),
    "verify": ("harness.commands.verify", "Check that a Keras layer behaves as Batch Renormalization."),
    "samplers": ("harness.commands.samplers", "List the available minibatch samplers and their parameters."),
    "normalizers": ("harness.commands.normalizers", "List the available normalizer kinds and their parameters."),
    "models": ("harness.commands.models", "List the available model kinds with their family and parameters."),
    "schema": ("harness.commands.schema", "Print the JSON Schema of the scenario format (for editors)."),
    "bench": ("harness.bench", "Benchmarks: layers, samplers, run, executors."),
    "profile": ("harness.commands.profile", "Profile how much normalizers depend on their minibatch (or --merge)."),
}


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit code 2, like every other usage error."""

    def error(self, message: str) -> NoReturn:
        """Print `error: <message>` (one line) on stderr and exit 2."""
        self.exit(2, f"error: {message}\n")


def _module_for(command: str) -> ModuleType:
    """The module of `command` (imported now: each command's imports are paid only when it is given)."""
    module_name, _ = COMMANDS[command]
    return importlib.import_module(module_name)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s own arguments are loaded (so one command's imports never slow another)."""
    parser = _Parser(
        prog="python -m harness",
        description="Non-i.i.d. minibatch stress tests for BatchNorm and Batch Renormalization.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (_, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            _module_for(name).add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the command and return its exit code."""
    from harness.run import signals

    _survive_any_terminal()  # an ASCII terminal (LC_ALL=C, PYTHONIOENCODING=ascii) gets escapes, never a crash
    signals.install()  # SIGINT, SIGTERM, SIGHUP: unwind, keep finished trials, one line, exit 128 + signal
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    for arg in argv:  # argparse drops a value '--' (`--workers=--`) and silently keeps the default
        if arg.startswith("--") and arg.endswith("=--"):
            parser.error(f"argument {arg[:-3]}: '--' is not a value")
    args = parser.parse_args(argv)
    from harness.run.out_guard import expand_user_paths

    expand_user_paths(args)  # `~` means the home folder in every path, quoted or not
    try:
        if _working_directory_gone():  # every relative path would be "No such file or directory", unexplained
            raise UsageError("the working directory no longer exists (it was deleted or moved): "
                             "cd into an existing folder and run again")
        return _module_for(args.command).main(args) or 0
    except HarnessError as error:  # every error the user can cause (harness.errors): one line, its exit code
        one_line = str(error).replace("\r", "\\r").replace("\n", "\\n")  # a name holding a newline stays one line
        _say(f"error: {one_line}")
        return exit_code(error)
    except KeyboardInterrupt as interrupt:
        code = signals.exit_code(interrupt)
        by = "" if code - 128 == signal.SIGINT else f" by {signal.Signals(code - 128).name}"
        _say(f"interrupted{by}: finished trials are kept; run again to resume.")
        return signals.exit_code(interrupt)
    except BrokenPipeError:  # output piped into a reader that stopped early (`| head`): not an error
        _silence_stdout()
        return 0
    except OSError as error:  # a file that cannot be written (disk full, read-only): one line, not a traceback
        where = f"{error.filename}: " if error.filename else ""
        _say(f"error: {where}{error.strerror or error}")
        return 2


def _say(line: str) -> None:
    """Print `line` on stderr; a stderr that cannot take it (full, closed) changes nothing: the exit code still
    says what happened."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        try:
            sys.stderr = open(os.devnull, "w", encoding="utf-8")  # nor may the flush at exit fail
        except OSError:
            pass


def _working_directory_gone() -> bool:
    """True when this process's working directory has been deleted (relative paths then mean nothing)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _survive_any_terminal() -> None:
    """Print what the terminal's encoding cannot show as backslash escapes instead of raising
    UnicodeEncodeError (a non-ASCII path under LC_ALL=C, a surrogate-escaped argument)."""
    streams: tuple[Any, ...] = (sys.stdout, sys.stderr)  # any stream: a captured one may lack reconfigure
    for stream in streams:
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):  # not a text stream we may change (captured, closed)
            pass


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so flushing it at exit raises nothing."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run_cli() -> NoReturn:
    """The `harness` console script: `main()` on the process's arguments, its result as the exit code."""
    sys.exit(main())
