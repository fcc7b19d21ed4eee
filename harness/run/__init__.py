"""Running a scenario: the runner, one trial, executors and the run directory (harness.results.rundir)."""
