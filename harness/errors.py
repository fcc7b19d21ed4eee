"""The harness's one error hierarchy, and the one place it is mapped to exit codes.

Every error a user can cause derives from `HarnessError`; the CLI prints it as one line and exits with
`exit_code(error)` (2 for all of them: bad input). Pure Python (imported by `samplers`, which must import
without TensorFlow).

    HarnessError
    +-- UsageError              a bad command line or argument
    +-- ScenarioError           one problem in a scenario file, as `<file>: <field path>: <value> <reason>`
    +-- ParameterError          a bad parameter, as `.param`, `.value`, `.reason` (callers prefix a field path)
        +-- PluginError         a plugin that does not resolve or does not fit (harness.plugins.resolve)
        +-- DataError           a data file that is not what its loader needs
        +-- (samplers.SamplerParameterError, norms.spec.NormalizerConfigError, model_kinds.ModelConfigError)
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable


class HarnessError(Exception):
    """Base of every error the user can cause: one line, no traceback, exit code `exit_code`."""

    exit_code = 2


class UsageError(HarnessError):
    """Bad input from the user: printed as one line, exit code 2, no traceback."""


class ParameterError(HarnessError, ValueError):
    """A bad parameter: `.param` (the field, relative to its section), `.value`, `.reason`."""

    def __init__(self, param: str, value: object, reason: str) -> None:
        """Keep `param`, `value` and `reason`; the message is `param: value reason`."""
        self.param, self.value, self.reason = param, value, reason
        super().__init__(f"{param}: {value!r} {reason}")


# Exit codes, decided here only: bad input of any kind is 2 (a run's own failures are decided by the runner).
EXIT_CODES = {HarnessError: 2}


def exit_code(error: BaseException) -> int:
    """The process exit code for `error`: its class's entry in `EXIT_CODES` (nearest base class wins)."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


MISSING = object()  # "no value to show" in a ScenarioError (an unknown or missing key)


def show(value: object) -> str:
    """A value as a scenario error shows it: strings quoted, the rest as JSON."""
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def did_you_mean(word: object, candidates: Iterable[object]) -> str:
    """' (did you mean 'x'?)' for the closest of `candidates`, or '' (the one implementation)."""
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class ScenarioError(HarnessError, ValueError):
    """One problem in a scenario, as `<file>: <field path>: <value> <reason>`."""

    def __init__(self, path: str, value: object, reason: str, source: object = None) -> None:
        """Keep the field `path`, the `value` (`MISSING`: none to show), the `reason` and the `source` file."""
        self.path, self.value, self.reason, self.source = path, value, reason, source
        super().__init__(str(self))

    def __str__(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        shown = "" if self.value is MISSING else f"{show(self.value)} "
        return f"{prefix}{self.path}: {shown}{self.reason}"


class DataError(ParameterError):
    """A data file that is not what the loader needs; `field` (= `param`) is the scenario field to blame."""

    @property
    def field(self) -> str:
        """The data field to blame (the same as `param`)."""
        return self.param
