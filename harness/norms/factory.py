"""Build any normalizer the harness compares from a small dict config (the kind's registry entry builds it)."""

from __future__ import annotations

from typing import Any

from harness.norms import kinds


def build_normalizer(config: dict[str, Any], name: str) -> Any:
    """Return a fresh Keras layer for `config` (which includes `kind`), named `name`.

    Raises `spec.NormalizerConfigError` (a ValueError) for a bad config. The layer remembers its kind's
    analyzer traits (`harness.norms.statistics.traits`).
    """
    cfg = kinds.validate_normalizer_config(config)
    kind = kinds.get(cfg.pop("kind"))
    layer = kind.build(name, **cfg)  # type: ignore[misc]  # every registered kind has a builder
    if kind.traits is not None:
        from harness.plugins import resolve as plugins

        layer._harness_traits = plugins.import_path("traits", kind.traits, kind.traits)
    return layer
