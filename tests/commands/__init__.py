"""Tests of `harness/commands/`."""
