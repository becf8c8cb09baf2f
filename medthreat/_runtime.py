"""Small runtime helpers shared by the engine and the exports."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block.

    Matching, assessing and exporting a large model allocate millions of small acyclic objects
    next to a hundred thousand findings; every full collection would rescan all of them for
    nothing (a third to a half of the run time).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
