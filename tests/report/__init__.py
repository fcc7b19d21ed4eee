"""Tests of `harness/report/`."""
