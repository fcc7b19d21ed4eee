"""Tests of `harness/analysis/`."""
