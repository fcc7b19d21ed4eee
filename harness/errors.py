"""Errors the CLI turns into a one-line message and exit code 2."""

import difflib
import json


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2, no traceback."""


MISSING = object()  # "no value to show" in a ScenarioError (an unknown or missing key)


def show(value):
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def did_you_mean(word, candidates):
    """' (did you mean 'x'?)' for the closest of `candidates`, or ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class ScenarioError(ValueError):
    """One problem in a scenario, as `<file>: <field path>: <value> <reason>`."""

    def __init__(self, path, value, reason, source=None):
        self.path, self.value, self.reason, self.source = path, value, reason, source
        super().__init__(str(self))

    def __str__(self):
        prefix = f"{self.source}: " if self.source else ""
        shown = "" if self.value is MISSING else f"{show(self.value)} "
        return f"{prefix}{self.path}: {shown}{self.reason}"


class DataError(ValueError):
    """A data file that is not what the loader needs; `field` is the scenario field to blame."""

    def __init__(self, field, value, reason):
        self.field, self.value, self.reason = field, value, reason
        super().__init__(f"{field}: {value!r} {reason}")
