"""Tests of `harness/models/`."""
