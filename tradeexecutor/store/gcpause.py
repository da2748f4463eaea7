"""Pause the cyclic garbage collector around bulk work.

Building or parsing a large snapshot allocates hundreds of thousands of short-lived, acyclic
containers; each allocation burst makes the collector traverse the whole (large) state again,
which more than doubles the time. Reference counting frees these objects anyway.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
