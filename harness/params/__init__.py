"""Declarations every layer reads: the typed `Field` of each parameter, and the resource limits."""
