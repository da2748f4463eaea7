"""Durability helpers: fsync a folder after a rename or a new file, so the name survives power loss."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes | Sequence[bytes | memoryview]) -> None:
    """Write `data` (bytes, or pieces written one after the other) to `path` so that a reader
    sees the old file or the new one, never a mix.

    On failure (a full disk, say) the temp file is removed and the OSError raised; `path` is
    untouched."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            for piece in [data] if isinstance(data, bytes) else data:
                view = memoryview(piece)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
