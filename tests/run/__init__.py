"""Tests of `harness/run/`."""
