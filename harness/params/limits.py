"""Resource limits and strict parsing for scenario files: whatever a scenario file says, validating it stays small.

- A scenario file is at most `MAX_FILE_BYTES` bytes, uses at most `MAX_ALIASES` YAML aliases (`*name`) and
  holds at most `MAX_NODES` values once every alias is expanded: an 800-byte "billion laughs" file of nested
  aliases would otherwise expand to gigabytes. Both are checked on the parsed node graph, before any value is built.
- A mapping that gives one key twice is an error naming the key (plain YAML keeps the last one silently:
  another experiment would run than the one written).
- A sweep has at most `MAX_SWEEP_POINTS` points, counted from the list lengths before anything is expanded.
- Names (scenario, normalizers, samplers) are at most `MAX_NAME_LENGTH` characters: they name folders and files.
- Trial file names are at most `MAX_ID_LENGTH` characters (longer ones are shortened and made unique by a hash).
- Synthetic data has at most `MAX_SYNTHETIC_VALUES` pixel values (examples x size x size x channels).
"""

from __future__ import annotations

from typing import IO, Any

import yaml

MAX_FILE_BYTES = 1_000_000
MAX_ALIASES = 100
MAX_NODES = 100_000
MAX_SWEEP_POINTS = 10_000
MAX_NAME_LENGTH = 100
MAX_ID_LENGTH = 150
MAX_SYNTHETIC_VALUES = 50_000_000


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses duplicate keys and more than MAX_ALIASES aliases."""

    def __init__(self, stream: str | bytes | IO[str] | IO[bytes]) -> None:
        """A loader over `stream` (text, bytes or an open file), with no alias seen yet."""
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose the next node as SafeLoader does, counting aliases (ComposerError past MAX_ALIASES)."""
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} aliases (*name); write the values out", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        """Construct a mapping as SafeLoader does; ConstructorError naming a key given twice."""
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` then overriding a key is allowed
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:  # an unhashable key: SafeLoader reports it itself
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (each key may appear once)", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_strict(stream: str | bytes | IO[str] | IO[bytes]) -> Any:
    """Parse one YAML document with `StrictLoader`, refusing one that expands to more than MAX_NODES values."""
    loader = StrictLoader(stream)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if expanded_size(node) > MAX_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"expands to more than {MAX_NODES:,} values (aliases nested in aliases)", node.start_mark)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def expanded_size(root: Any) -> int:
    """How many values the document holds with every alias written out, computed on the shared node graph
    (each node once, so a billion-value bomb costs a few hundred steps). Recursive aliases count as unbounded."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            return MAX_NODES + 1
        visiting.add(key)
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        visiting.discard(key)
        sizes[key] = min(total, MAX_NODES + 1)
        return sizes[key]

    return size(root)
