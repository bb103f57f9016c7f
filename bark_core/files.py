"""Opening a file a user named: it must exist, be a regular file and be under a size limit."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Callable


def open_limited(path: Path, label: str, max_bytes: int, too_large: Callable[[int], str]) -> BinaryIO:
    """``path`` opened for binary reading once it is known to exist, to be a regular file and to be at most
    ``max_bytes`` long; otherwise ValueError with a sentence about ``label`` (``too_large(size)`` for the size)."""
    try:
        st = path.stat()
    except OSError:
        raise ValueError(f"{label} does not exist or cannot be read.") from None
    if not path.is_file():
        raise ValueError(f"{label} is not a regular file.")
    if st.st_size > max_bytes:
        raise ValueError(too_large(st.st_size))
    return open(path, "rb")
