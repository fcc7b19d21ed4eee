"""Tests of `harness/profile/`."""
