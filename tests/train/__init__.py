"""Tests of `harness/train/`."""
