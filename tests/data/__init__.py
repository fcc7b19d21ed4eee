"""Tests of `harness/data/`."""
