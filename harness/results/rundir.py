"""The run directory: the one place that knows its file names, table columns, trial statuses and trial files.

A run directory is the only state of a run and the report's only input::

    <out>/scenario.yaml     the resolved scenario (every default filled in)
    <out>/provenance.json   who ran it, where, when, with which versions
    <out>/trials/<id>.json  one finished (or failed) trial each: a `TrialResult`
    <out>/<table>.csv       the tidy tables of `TABLES`, rebuilt from the trial files
    <out>/comparisons.csv   one row per tested difference (harness.results.comparisons)
    <out>/summary.md        the plain-text summary
    <out>/index.html        the report
    (the folder itself is flock'ed by the run writing it: RunDir.lock)
    <out>/.harness-manifest the files runs wrote here (one path a line): `--fresh` deletes only those
    <out>/.harness-run      marks the folder as a run's (harness.run.out_guard: a run never writes into the
                            user's own folder)

Trial files are written atomically by the driver alone, so a killed run loses at most the
trials in flight and the next run resumes from the others (`load_finished`).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
from typing import TYPE_CHECKING, Any, cast

from harness.runtime import atomic

if TYPE_CHECKING:
    from typing import Self

    import numpy as np
    from numpy.typing import ArrayLike

SCENARIO = "scenario.yaml"
PROVENANCE = "provenance.json"
SUMMARY_MD = "summary.md"
REPORT = "index.html"
TRIALS = "trials"
LOCK = ".lock"
MARKER = ".harness-run"
MANIFEST = ".harness-manifest"  # every file the runs wrote here, one relative path a line: what --fresh may delete

# Trial statuses. Finished trials are kept on resume; a failed one is listed in the report and run again.
OK, DIVERGED, FAILED = "ok", "diverged", "failed"
STATUSES = (OK, DIVERGED, FAILED)
FINISHED = (OK, DIVERGED)

ID_COLUMNS = ["sampler", "normalizer", "seed"]
# The tidy tables: identifying columns, then the swept fields (one column each), then the value columns.
VALUE_COLUMNS = {
    "trials": ["status", "diverged_step", "error", "failed_metrics", "seconds", "init_fingerprint"],
    "summary": ["metric", "value"],
    "curves": ["step", "metric", "value"],
    "layers": ["layer", "metric", "value"],
}
# Tables of a sampler's batches (no normalizer or seed): written by the runner next to the trial tables.
BATCH_TABLES = {
    "composition": ["sampler", "batch", "label", "count"],
    "noniid": ["sampler", "metric", "value"],
}
# Derived from the tables above after they are written (harness.results.comparisons); absent in older run directories.
COMPARISONS = "comparisons"
TABLES = {**{name: ID_COLUMNS + cols for name, cols in VALUE_COLUMNS.items()}, **BATCH_TABLES}
# Columns a reader cannot work without; the others may be absent in older or partial run directories.
REQUIRED_COLUMNS = {**TABLES, "trials": ID_COLUMNS + ["status"]}
# Columns that hold numbers (a damaged file with text there is refused in one line by the report's loader).
NUMERIC_COLUMNS = {"summary": ["value"], "curves": ["step", "value"], "layers": ["value"],
                   "composition": ["batch", "label", "count"], "noniid": ["value"]}


def table_file(name: str) -> str:
    """`summary` -> `summary.csv`."""
    return f"{name}.csv"


@dataclasses.dataclass
class TrialResult:
    """What one trial returns and what its file `trials/<id>.json` holds.

    Keys a newer harness adds that this one does not know are kept in `extra` and written back,
    so a result survives a round trip through any version.
    """

    id: str
    hash: str
    config: dict
    status: str
    diverged_step: int | None = None
    error: str | None = None
    curves: list = dataclasses.field(default_factory=list)
    final: dict = dataclasses.field(default_factory=dict)
    layers: list = dataclasses.field(default_factory=list)
    seconds: float | None = None
    timing: dict = dataclasses.field(default_factory=dict)
    environment: dict | None = None
    init_fingerprint: str | None = None  # hash of the initial non-normalization weights: equal within a seed
    # {metric: reason} of the metrics that failed in this trial (non-finite: harness.results.finite): none of
    # their numbers is in `final`, `curves` or `layers`; the trial's other metrics stand. Absent in older files.
    failed_metrics: dict = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse an unknown status."""
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}. Received: status={self.status!r}")

    @property
    def finished(self) -> bool:
        """True for a trial that ran to its end (ok or diverged)."""
        return self.status in FINISHED

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able dict (the file's layout: `environment` only when known, `extra` keys at the top level)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        if out["environment"] is None:
            del out["environment"]
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Self:
        """The result a `to_dict` dict holds (unknown keys kept in `extra`)."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in value.items() if k in names}
        return cls(**known, extra={k: v for k, v in value.items() if k not in names})

    def to_json(self) -> str:
        """The trial file's text: `to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=1, default=atomic._jsonable, allow_nan=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Self:
        """The result a trial file's text holds."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def failed(cls, config: dict[str, Any], error: str) -> Self:
        """The record of a trial that raised (`error`: one line)."""
        return cls(id=config["id"], hash=config["hash"], config=config, status=FAILED, error=error)


def failed_metrics_cell(failed: dict[str, str] | None) -> str | None:
    """The trials.csv cell of a trial's `failed_metrics`: `metric: reason; metric: reason`, None when none."""
    return "; ".join(f"{name}: {reason}" for name, reason in failed.items()) if failed else None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _problem_in_rows(rows: object, field: str, key_kinds: dict[str, tuple[str, bool]]) -> str | None:
    """What is wrong with `rows` (a list of dicts whose `key_kinds` keys hold (kind, may be None)), or None."""
    if not isinstance(rows, list):
        return f"{field}: {type(rows).__name__}, not a list"
    kinds = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool), "str": lambda v: isinstance(v, str),
             "number": _is_number}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            return f"{field}[{index}]: {type(row).__name__}, not a mapping"
        for key, (kind, optional) in key_kinds.items():
            if key not in row:
                return f"{field}[{index}].{key}: missing"
            if not (kinds[kind](row[key]) or (optional and row[key] is None)):
                return f"{field}[{index}].{key}: {row[key]!r} is not a {kind}"
        if field == "layers":
            for key, value in row.items():
                if not (value is None or _is_number(value)):
                    return f"{field}[{index}].{key}: {value!r} is not a number"
    return None


def trial_problem(value: object) -> str | None:
    """What makes `value` (a trial file's parsed JSON) not a trial result of the run-directory format, or None.

    Every field is checked (types, ranges, required keys): a file that keeps its hash but carries "oops",
    null, a string for a mapping or an empty `final` for a finished trial is damaged, so it is rerun on resume
    and refused by `report`, and no table is written from it.
    """
    if not isinstance(value, dict):
        return f"{type(value).__name__}, not a mapping"
    for key, kind in (("id", str), ("hash", str), ("config", dict), ("status", str)):
        if key not in value:
            return f"{key}: missing"
        if not isinstance(value[key], kind):
            return f"{key}: {value[key]!r} is not a {kind.__name__}"
    for key, id_kind in (("sampler", str), ("normalizer", str), ("seed", int)):  # the ids of the tables' rows
        given = value["config"].get(key)
        if given is not None and (not isinstance(given, id_kind) or isinstance(given, bool)):
            return f"config.{key}: {given!r} is not a {id_kind.__name__}"
    if value["status"] not in STATUSES:
        return f"status: {value['status']!r} is not one of {', '.join(STATUSES)}"
    step = value.get("diverged_step")
    if step is not None and not (isinstance(step, int) and not isinstance(step, bool) and step >= 0):
        return f"diverged_step: {step!r} is not a step number"
    if value["status"] == DIVERGED and step is None:
        return "diverged_step: missing for a diverged trial"
    for key, kinds in (("error", (str,)), ("environment", (dict,)), ("init_fingerprint", (str,)),
                       ("timing", (dict,))):
        if value.get(key) is not None and not isinstance(value[key], kinds):
            return f"{key}: {value[key]!r} is not a {kinds[0].__name__}"
    seconds = value.get("seconds")
    if seconds is not None and not (_is_number(seconds) and seconds >= 0):
        return f"seconds: {seconds!r} is not a duration"
    final = value.get("final", {})
    if not isinstance(final, dict):
        return f"final: {type(final).__name__}, not a mapping"
    if value["status"] == OK and not final:
        return "final: empty for a finished trial"
    for key, number in final.items():
        if not _is_number(number):
            return f"final.{key}: {number!r} is not a number"
    failed = value.get("failed_metrics", {})
    if not isinstance(failed, dict):
        return f"failed_metrics: {type(failed).__name__}, not a mapping"
    for key, reason in failed.items():
        if not isinstance(reason, str):
            return f"failed_metrics.{key}: {reason!r} is not a reason (a string)"
        if key in final:
            return f"failed_metrics.{key}: a failed metric with a number in final"
    problem = _problem_in_rows(value.get("curves", []), "curves",
                               {"step": ("int", False), "metric": ("str", False), "value": ("number", True)})
    return problem or _problem_in_rows(value.get("layers", []), "layers", {"layer": ("int", False)})


class RunDir:
    """One run directory: paths, trial files, tables, lock."""

    def __init__(self, path: str | os.PathLike) -> None:
        """The run directory at `path` (nothing is read or written yet)."""
        self.path = str(path)
        self.fresh = False  # set by prepare(fresh=True): files already here are not results of this run
        self._listed: set[str] | None = None  # the manifest's entries, read on first use

    # -- the manifest: what the harness wrote here ------------------------------
    def listed(self) -> set[str]:
        """The relative paths the manifest lists (files runs wrote into this folder)."""
        if self._listed is None:
            try:
                with open(self.file(MANIFEST), encoding="utf-8", errors="replace") as handle:
                    self._listed = {line.rstrip("\n") for line in handle if line.strip()}
            except OSError:
                self._listed = set()
        return self._listed

    def _record(self, path: str) -> None:
        """Add `path` (a file this run just wrote) to the manifest, once."""
        relative = os.path.relpath(path, self.path)
        if relative in self.listed():
            return
        self.listed().add(relative)
        with open(self.file(MANIFEST), "a", encoding="utf-8") as handle:
            handle.write(relative + "\n")

    def file(self, name: str) -> str:
        """The path of `name` in the run directory."""
        return os.path.join(self.path, name)

    def trial_path(self, config: dict[str, Any]) -> str:
        """The path of the trial file of `config`."""
        return os.path.join(self.path, TRIALS, f"{config['id']}.json")

    # -- trials ---------------------------------------------------------------
    def prepare(self, fresh: bool = False) -> None:
        """Create the folders, drop files half-written by a killed run, and with `fresh` every trial file."""
        os.makedirs(os.path.join(self.path, TRIALS), exist_ok=True)
        for path in glob.glob(os.path.join(self.path, TRIALS, ".tmp-*")):
            os.unlink(path)
        if fresh:
            self.fresh = True
            kept: set[str] = set()
            for relative in self.listed():
                folder, name = os.path.split(relative)
                path = self.file(relative)
                if folder == TRIALS and name.endswith(".json") and os.path.isfile(path) \
                        and not os.path.islink(path):
                    os.unlink(path)
                else:
                    kept.add(relative)
            self._listed = kept
            atomic.write_text(self.file(MANIFEST), "".join(f"{line}\n" for line in sorted(kept)))

    def load_finished(self, config: dict[str, Any]) -> dict[str, Any] | None:
        """The saved result (a dict) of this exact trial config, if it finished (ok or diverged).

        None after `prepare(fresh=True)`: a file this run did not write is not its result."""
        path = self.trial_path(config)
        if self.fresh or not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                value = json.load(handle)
            # valid JSON of another type (null, a list), or a field of the wrong type or range, is damaged too
            result = TrialResult.from_dict(value) if trial_problem(value) is None else None
        except (OSError, ValueError, TypeError):  # unreadable, not JSON, not UTF-8, or not a trial result: rerun it
            return None
        if result is None or result.hash != config["hash"] or not result.finished:
            return None
        return result.to_dict()

    def save_trial(self, config: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        """File `result` (a dict from an executor) under `config`'s id; returns what was written."""
        filed = TrialResult.from_dict({**result, "id": config["id"], "config": config}).to_dict()
        atomic.write_json(self.trial_path(config), filed)
        self._record(self.trial_path(config))
        return filed

    def damaged_trials(self) -> list[tuple[str, str]]:
        """(path, problem) of each trial file here that is not a trial result of the run-directory format:
        the files the manifest lists, or every trials/*.json of a run directory without one."""
        listed = [self.file(p) for p in sorted(self.listed()) if os.path.dirname(p) == TRIALS and p.endswith(".json")]
        paths = listed if self.listed() else sorted(glob.glob(os.path.join(self.path, TRIALS, "*.json")))
        damaged: list[tuple[str, str]] = []
        for path in paths:
            if not os.path.exists(path):
                continue
            try:
                with open(path, encoding="utf-8") as handle:
                    problem = trial_problem(json.load(handle))
            except (OSError, ValueError) as error:  # unreadable, not UTF-8, not JSON
                problem = f"not readable as JSON ({type(error).__name__})"
            if problem is not None:
                damaged.append((path, problem))
        return damaged

    # -- tables and text files -------------------------------------------------
    def write_table(self, name: str, frame: Any) -> None:
        """Write the table `name` (a DataFrame) as `<name>.csv`, atomically."""
        atomic.write_csv(self.file(table_file(name)), frame)
        self._record(self.file(table_file(name)))

    def write_text(self, name: str, text: str) -> None:
        """Write the file `name`, atomically."""
        atomic.write_text(self.file(name), text)
        self._record(self.file(name))

    def write_json(self, name: str, value: object) -> None:
        """Write `value` as the JSON file `name`, atomically."""
        atomic.write_json(self.file(name), value)
        self._record(self.file(name))

    def scenario_name(self) -> str | None:
        """The `name` of the scenario stored here, or None (no file, or not readable)."""
        import yaml

        try:
            with open(self.file(SCENARIO), encoding="utf-8") as handle:
                return (yaml.safe_load(handle) or {}).get("name")
        except (OSError, ValueError, yaml.YAMLError, AttributeError):  # damaged (not UTF-8...): the run rewrites it
            return None

    # -- one writer at a time --------------------------------------------------
    def lock(self) -> _DirectoryLock:
        """An exclusive lock on the run directory, held by this process (a handle; close it, or use it in `with`,
        to release).

        Two runs writing one folder would delete each other's files. The lock is an OS lock (`fcntl.flock`) on
        an open descriptor of the folder itself, not on a file in it: a lock file left behind means nothing, and
        deleting one does not let a second run in. The OS drops the lock when the process dies, even by kill -9.
        """
        import fcntl

        from harness.errors import UsageError

        handle = _DirectoryLock(self.path)
        try:
            fcntl.flock(cast(int, handle.fd), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise UsageError(f"--out: {self.path!r} is in use by another run") from None
        return handle

    def in_use(self) -> bool:
        """True while a live run holds this run directory's lock (`lock`); False for a free or missing folder."""
        import fcntl

        try:
            handle = _DirectoryLock(self.path)
        except OSError:
            return False
        try:
            fcntl.flock(cast(int, handle.fd), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            handle.close()
        return False

    def refuse_another_scenario(self, name: str, fresh: bool) -> None:
        """A run directory holds one scenario: resuming another one into it would mix two runs' files."""
        from harness.errors import UsageError

        previous = self.scenario_name()
        if previous is not None and previous != name and not fresh:
            raise UsageError(f"--out: {self.path!r} holds a run of scenario {previous!r}, not {name!r} "
                             "(choose another --out, or --fresh to replace it)")


class _DirectoryLock:
    """An open read-only descriptor of a folder, the object of the run lock; closing it releases the lock."""

    def __init__(self, path: str) -> None:
        self.fd: int | None = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))

    def close(self) -> None:
        """Release the lock (once)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> _DirectoryLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pack_correct(correct: ArrayLike) -> str:
    """A 0/1 vector as compact text (bit-packed, base64): how a trial file stores which test examples the
    final model gets right (the comparisons' bootstrap over test examples reads it back)."""
    import base64

    import numpy as np

    bits = np.packbits(np.asarray(correct, dtype=bool))
    return base64.b64encode(bits.tobytes()).decode("ascii")


def unpack_correct(text: str, n: int) -> np.ndarray:
    """The inverse of `pack_correct` for a vector of length `n`."""
    import base64

    import numpy as np

    bits = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    return np.unpackbits(bits)[:n].astype(bool)
