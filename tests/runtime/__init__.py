"""Tests of `harness/runtime/`."""
