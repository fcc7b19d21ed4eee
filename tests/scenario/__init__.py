"""Tests of `harness/scenario/`."""
