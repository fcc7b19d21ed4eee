"""Tests of `harness/bench/`."""
