"""Tests of `harness/results/`."""
