"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half of one."""

import json
import os
import tempfile



def utf8_text(text: str) -> str:
    """`text` made writable as UTF-8 in any locale: a path or argument decoded under an ASCII locale holds
    surrogate escapes of its bytes (PEP 383); they are decoded as the UTF-8 they almost always are, and any byte
    that is not UTF-8 becomes U+FFFD, never an encoding error."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def write_text(path, text):
    """Write `text` (UTF-8, whatever the locale) to a temporary file in the same folder, flush it to disk, then
    rename it over `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; results are ordinary readable files
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(utf8_text(text))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(error, OSError) and error.filename is None and error.errno:  # e.g. disk full: name the file
            raise OSError(error.errno, error.strerror, path) from None
        raise


def write_json(path, value):
    write_text(path, json.dumps(value, indent=1, default=_jsonable, allow_nan=True) + "\n")


def write_csv(path, frame):
    write_text(path, frame.to_csv(index=False))


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
