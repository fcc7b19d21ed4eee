"""Tests of the top-level package `samplers/`."""
