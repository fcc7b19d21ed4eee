"""Plugins: one resolver for every kind, and the checks of what sampler plugins hand back."""
