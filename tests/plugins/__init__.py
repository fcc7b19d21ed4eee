"""Tests of `harness/plugins/`."""
