"""Tests of `harness/norms/`."""
