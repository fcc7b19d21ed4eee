"""Read a run directory (the report's only input) into one object, checking it is complete.

Only the files of the contract's run-directory format are read. Trials whose status is not `ok`
(diverged or failed) are kept in `trials` for the provenance section but removed from every table
the statistics are computed on: a diverged model's accuracy says nothing about normalization. A metric
that failed in an ok trial (`failed_metrics`) has no number in the tables to begin with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from harness.analysis import metrics as metric_table
from harness.analysis.metrics import accuracy_modes
from harness.errors import UsageError
from harness.results import rundir
from harness.results.tables import accuracy_top
from harness.scenario import default_iid_control, default_reference

TRIAL_KEYS = rundir.ID_COLUMNS
ACCURACY_METRICS = accuracy_modes()


@dataclass
class RunData:
    """Everything the report shows about one run. Tables are tidy pandas frames as on disk."""

    path: Path
    scenario: dict
    scenario_text: str
    provenance: dict
    trials: pd.DataFrame
    summary: pd.DataFrame
    curves: pd.DataFrame
    layers: pd.DataFrame
    composition: pd.DataFrame
    noniid: pd.DataFrame
    sweep_vars: list = field(default_factory=list)
    samplers: list = field(default_factory=list)
    normalizers: list = field(default_factory=list)
    normalizer_kinds: dict = field(default_factory=dict)
    sampler_kinds: dict = field(default_factory=dict)
    iid_sampler: str | None = None
    reference: str | None = None
    unpaired: str | None = None  # why paired differences are not reported (init_fingerprint differs)
    accuracy_scale: float = 100.0
    metrics: dict = field(default_factory=lambda: dict(metric_table.METRICS))  # the run's metrics table
    _comparisons: object = None

    @property
    def comparisons(self) -> pd.DataFrame:
        """The run's comparisons.csv (see `harness.results.comparisons`); computed from the summary (without the
        bootstrap over test examples) for a run directory written before the runner wrote it."""
        if self._comparisons is None:
            path = self.path / rundir.table_file(rundir.COMPARISONS)
            if path.is_file():
                frame = pd.read_csv(path)
                for column in ("comparison", "sampler", "normalizer", "reference"):
                    if column in frame.columns:
                        frame[column] = frame[column].astype(str)
                self._comparisons = frame
            else:
                from harness.results.comparisons import compute

                self._comparisons = compute(self)
        return self._comparisons

    @property
    def name(self) -> str:
        """The scenario's name, else the run directory's name."""
        return str(self.scenario.get("name") or self.path.name)

    @property
    def description(self) -> str:
        """The scenario's description (empty when it has none)."""
        return str(self.scenario.get("description") or "")

    @property
    def bad_trials(self) -> pd.DataFrame:
        """Diverged or failed trials, and ok trials with failed metrics (`failed_metrics`, absent in older run
        directories), for the provenance section."""
        bad = self.trials["status"] != rundir.OK
        if "failed_metrics" in self.trials.columns:
            bad |= self.trials["failed_metrics"].map(lambda cell: isinstance(cell, str) and bool(cell))
        return self.trials[bad]

    def points(self) -> list[dict[str, Any]]:
        """The sweep points as a list of {var: value} dicts (one empty dict when there is no sweep)."""
        if not self.sweep_vars:
            return [{}]
        frame = self.summary[self.sweep_vars].drop_duplicates().sort_values(self.sweep_vars)
        return [dict(zip(self.sweep_vars, row, strict=False)) for row in frame.itertuples(index=False)]


def _read_csv(run: Path, name: str) -> pd.DataFrame:
    filename = rundir.table_file(name)
    path = run / filename
    if not path.is_file():
        raise UsageError(f"{run}: missing {filename}; is this a complete run directory?")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise UsageError(f"{path}: cannot be read as CSV ({str(error).splitlines()[0]})") from None
    missing = [c for c in rundir.REQUIRED_COLUMNS[name] if c not in frame.columns]
    if missing:
        raise UsageError(f"{path}: missing column(s) {', '.join(missing)}")
    for column in rundir.NUMERIC_COLUMNS.get(name, ()):
        if column in frame.columns and len(frame) and not pd.api.types.is_numeric_dtype(frame[column]):
            bad = pd.to_numeric(frame[column], errors="coerce").isna() & frame[column].notna()
            if bad.any():
                raise UsageError(f"{path}: column {column} holds non-numbers "
                                 f"(row {int(bad.to_numpy().argmax()) + 2}: {frame[column][bad].iloc[0]!r})")
            frame[column] = pd.to_numeric(frame[column])
    return frame


def _ordered(names_in_scenario: Any, names_in_data: Any) -> list[Any]:
    """Scenario order first (it is the user's), then anything only the data has."""
    seen = [n for n in names_in_scenario if n in set(names_in_data)]
    return seen + sorted(set(names_in_data) - set(seen), key=str)


def _metrics_table(run: Path, scenario: dict[str, Any], tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """The run's metrics table (built-ins and the scenario's `analysis.metrics` plugins). Metrics renamed since
    the run was written (`harness.analysis.metrics.RENAMED`) are read under their new names, in place; a run
    directory holding a metric no table knows is refused in one line naming it."""
    analysis: Any = scenario.get("analysis") if isinstance(scenario.get("analysis"), dict) else {}
    try:
        known = metric_table.table(analysis.get("metrics") or [])
    except ValueError as error:  # a plugin named by the run that this installation cannot load
        raise UsageError(f"{run / rundir.SCENARIO}: {error}") from None
    for name in ("summary", "curves", "layers"):
        frame = tables[name]
        frame["metric"] = frame["metric"].astype(str).replace(metric_table.RENAMED)
        unknown = sorted(set(frame["metric"]) - set(known))
        if unknown:
            raise UsageError(f"{run / rundir.table_file(name)}: carries metric(s) {', '.join(unknown)} that this "
                             "harness's metrics table does not hold (a run directory of another harness version; "
                             "render it with that version)")
    return known


def load_run(run_dir: str | Path) -> RunData:
    """Load and check the run directory `run_dir`; raise UsageError with one line if it is unusable."""
    run = Path(run_dir)
    if not run.exists():
        raise UsageError(f"{run}: no such run directory")
    if not run.is_dir():
        raise UsageError(f"{run}: not a directory")
    summary_csv = rundir.table_file("summary")
    if not (run / rundir.SCENARIO).is_file() or not (run / summary_csv).is_file():
        raise UsageError(f"{run}: not a run directory (needs {rundir.SCENARIO} and {summary_csv})")
    try:
        scenario_text = (run / rundir.SCENARIO).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{run / rundir.SCENARIO}: not a text file (not UTF-8)") from None
    try:
        scenario = yaml.safe_load(scenario_text) or {}
    except yaml.YAMLError as error:
        raise UsageError(f"{run / rundir.SCENARIO}: not valid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(scenario, dict):
        raise UsageError(f"{run / rundir.SCENARIO}: expected a mapping at the top level")
    provenance: Any = {}
    if (run / rundir.PROVENANCE).is_file():
        try:
            provenance = json.loads((run / rundir.PROVENANCE).read_text(encoding="utf-8"))
        except ValueError as error:  # not JSON, or not UTF-8
            raise UsageError(f"{run / rundir.PROVENANCE}: not valid JSON ({str(error).splitlines()[0]})") from None
        if not isinstance(provenance, dict):
            raise UsageError(f"{run / rundir.PROVENANCE}: expected a JSON object, got {type(provenance).__name__}")
    tables = {name: _read_csv(run, name) for name in rundir.TABLES}

    sweep_vars = [c for c in tables["summary"].columns if c not in rundir.TABLES["summary"]]
    known = _metrics_table(run, scenario, tables)
    for _name, frame in tables.items():
        for column in ("sampler", "normalizer"):
            if column in frame.columns:
                frame[column] = frame[column].astype(str)

    normalizer_cfg = scenario.get("normalizers") or {}
    sampler_cfg = scenario.get("samplers") or {}
    data = RunData(path=run, scenario=scenario, scenario_text=scenario_text, provenance=provenance,
                   sweep_vars=sweep_vars, metrics=known, **tables)
    # Names of trials that all failed still come from trials.csv, so the report shows them (as n/a).
    seen = pd.concat([tables["summary"][["sampler", "normalizer"]], tables["trials"][["sampler", "normalizer"]]])
    data.samplers = _ordered(list(sampler_cfg), seen["sampler"].unique())
    data.normalizers = _ordered(list(normalizer_cfg), seen["normalizer"].unique())
    data.normalizer_kinds = {n: str((normalizer_cfg.get(n) or {}).get("kind", n)) for n in data.normalizers}
    data.sampler_kinds = {s: str((sampler_cfg.get(s) or {}).get("kind", s)) for s in data.samplers}
    # Chosen at validation and written into scenario.yaml; a run directory older than that gets the same default.
    analysis: Any = scenario.get("analysis") if isinstance(scenario.get("analysis"), dict) else {}
    data.iid_sampler = analysis["iid_control"] if "iid_control" in analysis else default_iid_control(
        {s: {"kind": data.sampler_kinds[s]} for s in data.samplers})
    data.reference = analysis["reference"] if "reference" in analysis else default_reference(
        {n: {"kind": data.normalizer_kinds[n]} for n in data.normalizers})
    from harness.results.tables import unpaired_message

    data.unpaired = unpaired_message(data.trials)
    if data.unpaired is not None:
        data.reference = None  # no paired difference is shown anywhere

    # Keep only successful trials in the tables statistics are computed on.
    keys = sweep_vars + TRIAL_KEYS
    good = data.trials.loc[data.trials["status"] == rundir.OK, [k for k in keys if k in data.trials.columns]]
    for name in ("summary", "curves", "layers"):
        frame = getattr(data, name)
        on = [k for k in keys if k in good.columns and k in frame.columns]
        setattr(data, name, frame.merge(good[on].drop_duplicates(), on=on, how="inner"))
    # Accuracies are stored as fractions; shown in percentage points. Tolerate a run that stored percent.
    data.accuracy_scale = 100.0 / accuracy_top(data.summary)
    return data


def restrict(data: RunData, point: dict[str, Any]) -> RunData:
    """A copy of `data` holding only the trials of one sweep point, with no sweep variables left.

    The i.i.d. sampler is often not re-run for a field swept on another sampler (`samplers.x.*`); when it
    has no rows at `point`, its rows matching the other swept fields (first value of the rest) are kept.
    """
    if not data.sweep_vars:
        return data
    import dataclasses

    sampler_vars = [v for v in data.sweep_vars if v.startswith("samplers.")]

    def select(frame: pd.DataFrame) -> pd.DataFrame:
        mask = pd.Series(True, index=frame.index)
        for key, value in point.items():
            if key in frame.columns:  # a table the runner wrote without sweep columns is kept whole
                mask &= frame[key] == value
        chosen = frame[mask]
        if data.iid_sampler is not None and "sampler" in frame.columns and sampler_vars:
            iid_rows = frame[frame["sampler"] == data.iid_sampler]
            if chosen[chosen["sampler"] == data.iid_sampler].empty and not iid_rows.empty:
                for key, value in point.items():
                    if key not in sampler_vars and key in iid_rows.columns:
                        iid_rows = iid_rows[iid_rows[key] == value]
                for key in sampler_vars:
                    if not iid_rows.empty and key in iid_rows.columns:
                        iid_rows = iid_rows[iid_rows[key] == iid_rows[key].iloc[0]]
                chosen = pd.concat([chosen, iid_rows])
        return chosen.drop(columns=[v for v in data.sweep_vars if v in chosen.columns]).reset_index(drop=True)

    tables = {name: select(getattr(data, name)) for name in
              ("trials", "summary", "curves", "layers", "composition", "noniid")}
    return dataclasses.replace(data, sweep_vars=[], **tables)
