"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half of one.

The one writer of every file a run or a report writes (trial files, tables, summary.md, provenance, the HTML
report): temporary file in the same folder, flushed to disk, mode 0644 (less what the umask takes), renamed
over the target.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def _file_mode() -> int:
    """0666 less the process's umask (0644 under the usual 022): what `open()` would have given the file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask

def utf8_text(text: str) -> str:
    """`text` made writable as UTF-8 in any locale: a path or argument decoded under an ASCII locale holds
    surrogate escapes of its bytes (PEP 383); they are decoded as the UTF-8 they almost always are, and any byte
    that is not UTF-8 becomes U+FFFD, never an encoding error."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def write_text(path: str | os.PathLike, text: str) -> str:
    """Write `text` (UTF-8, whatever the locale) to a temporary file in the same folder, flush it to disk, then
    rename it over `path`. Returns `path`."""
    return write_bytes(path, utf8_text(text).encode("utf-8"))


def write_bytes(path: str | os.PathLike, content: bytes) -> str:
    """Write `content` to a temporary file in the same folder, flush it to disk, then rename it over `path`.
    Returns `path`."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        os.chmod(temporary, _file_mode())  # mkstemp makes 0600; results and reports are ordinary readable files
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(error, OSError) and error.filename is None and error.errno:  # e.g. disk full: name the file
            raise OSError(error.errno, error.strerror, path) from None
        raise
    return path


def write_json(path: str | os.PathLike, value: object) -> str:
    """`value` as indented JSON (NaN allowed, NumPy arrays as lists), written atomically."""
    return write_text(path, json.dumps(value, indent=1, default=_jsonable, allow_nan=True) + "\n")


def write_csv(path: str | os.PathLike, frame: Any) -> str:
    """A pandas DataFrame as CSV without its index, written atomically."""
    return write_text(path, frame.to_csv(index=False))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
