"""Shared test helpers: a synthetic run directory, the hardening checks, plugins broken on purpose."""
