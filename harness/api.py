"""The Python API: run a scenario, load a run directory, validate a scenario, from a notebook or a script.

The command line (`python -m harness run|report|validate`) is a thin layer over these functions. Importing
this module is cheap: TensorFlow, pandas and matplotlib are imported only when a run trains, a table is read
or a report is drawn.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ScenarioError, UsageError
from harness.results import rundir
from harness.runtime import heavy

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

    from harness.scenario import Scenario

ScenarioLike = str | os.PathLike | Mapping[str, Any]

EXECUTORS = ("auto", "local", "process", "ray")


def load_scenario(scenario: ScenarioLike, skip_infeasible: bool = False) -> Scenario:
    """The validated `Scenario` of a file path or a dict; ScenarioError (one line, naming the field) if not valid."""
    from harness import scenario as scenarios

    if isinstance(scenario, Mapping):
        import copy

        # relative data paths of a dict are relative to the working directory (of a file: to its folder)
        raw = scenarios._resolve_data_paths(copy.deepcopy(dict(scenario)), os.getcwd())
        return scenarios.validate(raw, skip_infeasible=skip_infeasible)
    if not isinstance(scenario, (str, os.PathLike)):
        raise ScenarioError("scenario", type(scenario).__name__, "is neither a file path nor a dict")
    path = os.fspath(scenario)
    try:
        return scenarios.load(path, skip_infeasible=skip_infeasible)
    except ScenarioError as error:
        if error.source is None:
            error.source = path
        raise


def validate(scenario: ScenarioLike, *, skip_infeasible: bool = False) -> dict:
    """Check a scenario without running it (feasibility included) and return it resolved.

    Parameters
    ----------
    scenario : str, os.PathLike or dict
        A scenario YAML file, or the same content as a dict.
    skip_infeasible : bool, default False
        Drop infeasible sweep points (with a warning) instead of refusing the scenario.

    Returns
    -------
    dict
        The resolved scenario, every default filled in (what `scenario.yaml` of a run holds).

    Raises
    ------
    ScenarioError
        A ``ValueError`` whose message is the command line's one-line error: the field, the value and the
        reason. Nothing is written.

    Examples
    --------
    >>> import harness
    >>> harness.validate("scenarios/noniid_small.yaml")["name"]
    'noniid_small'
    >>> harness.validate({"name": "x"})
    Traceback (most recent call last):
    ...
    harness.errors.ScenarioError: data: is required
    """
    return load_scenario(scenario, skip_infeasible).to_dict()


def check_options(executor: str = "local", workers: int | None = None, workers_per_gpu: int = 1,
                  gpus_per_trial: float = 0.0, max_retries: int = 2) -> None:
    """Refuse bad execution options (a `harness.errors.UsageError` naming the option) before anything is read."""
    if executor not in EXECUTORS:
        raise UsageError(f"--executor: {executor!r} is not one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers: {workers} must be >= 1")
    if workers_per_gpu < 1:
        raise UsageError(f"--workers-per-gpu: {workers_per_gpu} must be >= 1")
    if gpus_per_trial < 0:
        raise UsageError(f"--gpus-per-trial: {gpus_per_trial} must be >= 0")
    if max_retries < 0:
        raise UsageError(f"--max-retries: {max_retries} must be >= 0")
    if executor == "ray":
        try:
            heavy.ray()
        except ImportError:
            raise UsageError('--executor ray: Ray is not installed (pip install -e ".[ray]")') from None


def execute(scenario: Scenario, out: str | os.PathLike | None = None, *, fresh: bool = False,
            executor: str = "local", workers: int | None = None, workers_per_gpu: int = 1,
            address: str | None = None, gpus_per_trial: float = 0.0, max_retries: int = 2, quiet: bool = True,
            verbose: bool = False, report: bool = True, skip_infeasible: bool = False,
            command: str | None = None, device: str | None = None) -> tuple[str, list]:
    """Run a validated `Scenario` into `out` (default ``reports/<name>``); return (run directory, trial results).

    The one place a run is started: `run_scenario` and ``python -m harness run`` both call it. Option errors
    raise `harness.errors.UsageError` before anything is written. `device` ("cpu" or "gpu"; default: the one
    TensorFlow sees) is recorded in each trial's identity.
    """
    check_options(executor, workers, workers_per_gpu, gpus_per_trial, max_retries)
    from harness.run.executors import auto_executor, make_executor
    from harness.run.out_guard import claim
    from harness.run.runner import run, trial_count

    out_dir = os.fspath(out) if out is not None else os.path.join("reports", scenario.name)
    claim(out_dir)  # never a folder holding files no run wrote (the user's scenario, their pages)
    if executor == "auto":
        executor = "process" if workers is not None else auto_executor(trial_count(scenario))
    # process workers start here, once the scenario is valid, and import TensorFlow while this process plans the
    # run (started before the data checks, they made this process's import of scikit-learn fail now and then on a
    # loaded machine, cause not found)
    try:
        running = make_executor(executor, workers, address, gpus_per_trial, max_retries, workers_per_gpu,
                                trials=trial_count(scenario))
    except ValueError as error:  # more workers than the GPUs can take
        raise UsageError(f"--workers: {error}") from None
    try:
        if executor != "process":
            heavy.tensorflow(verbose=verbose)  # this process trains: TensorFlow here
        from harness.report import write_report

        results = run(scenario, out_dir, fresh=fresh, executor=running, quiet=quiet, command=command,
                      report=write_report if report else None, skip_infeasible=skip_infeasible, device=device)
    finally:
        running.shutdown()  # also when the run is refused before any trial: workers may still be starting
    return out_dir, results


def run_scenario(scenario: ScenarioLike, *, out: str | os.PathLike | None = None, smoke: bool = False,
                 executor: str = "local", workers: int | None = None, progress: bool = False) -> Run:
    """Run (or resume) every trial of a scenario, write its tables and report, and return the `Run`.

    Parameters
    ----------
    scenario : str, os.PathLike or dict
        A scenario YAML file, or the same content as a dict (relative data paths: from the working directory).
    out : str or os.PathLike, optional
        The run directory; default ``reports/<scenario name>``. Finished trials found there are kept (resume).
    smoke : bool, default False
        Run the tiny version of the scenario (few steps, one seed), as ``run --smoke``.
    executor : {"local", "process", "ray", "auto"}, default "local"
        Where trials run: one after another in this process, in worker processes, on Ray, or chosen as the
        command line's ``--executor auto`` does.
    workers : int, optional
        Worker processes of the process executor (default: the cores).
    progress : bool, default False
        Show the progress bar and print the summary table, as the command line does.

    Returns
    -------
    Run
        The finished run, its tables read back from the run directory.

    Raises
    ------
    ScenarioError
        The scenario is not valid (a ``ValueError``; its message is the command line's one-line error).
        Nothing is written.
    ValueError
        A bad option (``workers=0``, an unknown executor) or an output folder a run may not write into (one
        holding files no run wrote). Nothing is written.

    Examples
    --------
    >>> import harness
    >>> run = harness.run_scenario("scenarios/noniid_small.yaml", out="reports/small", smoke=True)
    >>> run.summary.query("metric == 'acc_inference'").groupby(["sampler", "normalizer"])["value"].mean()
    ...                                                   # doctest: +SKIP
    >>> run.report()                                      # doctest: +SKIP
    PosixPath('reports/small/index.html')
    """
    loaded = load_scenario(scenario)
    if smoke:
        loaded = loaded.smoke()
    try:
        out_dir, _ = execute(loaded, out, executor=executor, workers=workers, quiet=not progress,
                             command=f"harness.run_scenario({_shown(scenario)})")
    except UsageError as error:  # a bad option or output folder: a ValueError here too, nothing written
        raise ValueError(str(error)) from None
    return Run(out_dir)


def _shown(scenario: ScenarioLike) -> str:
    return repr(os.fspath(scenario)) if isinstance(scenario, (str, os.PathLike)) else "<dict>"


def load_run(path: str | os.PathLike) -> Run:
    """The `Run` of a run directory written by `run_scenario` or ``python -m harness run``.

    Parameters
    ----------
    path : str or os.PathLike
        The run directory.

    Returns
    -------
    Run

    Raises
    ------
    ValueError
        `path` is not a run directory (no ``scenario.yaml`` or no ``trials.csv``).

    Examples
    --------
    >>> import harness
    >>> run = harness.load_run("reports/noniid_small")          # doctest: +SKIP
    >>> run.trials["status"].value_counts()                      # doctest: +SKIP
    """
    run = Run(path)
    for name in (rundir.SCENARIO, rundir.table_file("trials")):
        if not (run.path / name).is_file():
            raise ValueError(f"{run.path}: not a run directory (no {name})")
    return run


class Run:
    """A run directory and its tables, read on first use.

    Attributes
    ----------
    path : pathlib.Path
        The run directory.
    scenario : dict
        The resolved scenario (``scenario.yaml``).
    trials, summary, comparisons, curves : pandas.DataFrame
        ``trials.csv``, ``summary.csv``, ``comparisons.csv`` and ``curves.csv`` with their columns (one row per
        trial; per trial and final metric; per tested difference; per trial, step and metric).
    layers, composition, noniid : pandas.DataFrame
        The other tables of the run directory.

    Examples
    --------
    >>> run = harness.load_run("reports/noniid_small")          # doctest: +SKIP
    >>> run.comparisons[["comparison", "sampler", "normalizer", "mean_diff", "p_holm"]]  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike) -> None:
        """A view of the run directory `path`; nothing is read until a table is asked for."""
        self.path = Path(path)
        self._tables: dict = {}

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def scenario(self) -> dict:
        """The resolved scenario of the run (``scenario.yaml``), as a dict."""
        import yaml

        with open(self.path / rundir.SCENARIO, encoding="utf-8") as handle:
            return yaml.safe_load(handle)

    def table(self, name: str) -> pd.DataFrame:
        """The table ``<name>.csv`` of the run directory as a DataFrame (read once, then cached)."""
        if name not in self._tables:
            import pandas as pd

            self._tables[name] = pd.read_csv(self.path / rundir.table_file(name))
        return self._tables[name].copy()

    @property
    def trials(self) -> pd.DataFrame:
        """``trials.csv``: one row per trial (status, diverged step, error, failed metrics, seconds)."""
        return self.table("trials")

    @property
    def summary(self) -> pd.DataFrame:
        """``summary.csv``: the final metrics, one row per trial and metric."""
        return self.table("summary")

    @property
    def comparisons(self) -> pd.DataFrame:
        """``comparisons.csv``: one row per tested difference (interval, Holm p, bootstrap, power)."""
        return self.table(rundir.COMPARISONS)

    @property
    def curves(self) -> pd.DataFrame:
        """``curves.csv``: the learning curves, one row per trial, evaluation step and metric."""
        return self.table("curves")

    @property
    def layers(self) -> pd.DataFrame:
        """``layers.csv``: per-layer mismatch and batch-statistics quantiles."""
        return self.table("layers")

    @property
    def composition(self) -> pd.DataFrame:
        """``composition.csv``: label counts of each sampler's first training batches."""
        return self.table("composition")

    @property
    def noniid(self) -> pd.DataFrame:
        """``noniid.csv``: how non-i.i.d. each sampler's batches are."""
        return self.table("noniid")

    def report(self, out: str | os.PathLike | None = None) -> Path:
        """Write the HTML report (and its figures under ``figures/``) and return the path of ``index.html``.

        Parameters
        ----------
        out : str or os.PathLike, optional
            The HTML file to write; default ``<run directory>/index.html``.

        Examples
        --------
        >>> harness.load_run("reports/noniid_small").report()   # doctest: +SKIP
        PosixPath('reports/noniid_small/index.html')
        """
        from harness.report import write_report

        return write_report(self.path, out=out)


__all__ = ["Run", "ScenarioError", "load_run", "run_scenario", "validate"]
