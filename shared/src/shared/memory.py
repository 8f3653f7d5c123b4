"""Freed heap given back to the system.

After a burst (a flood of uploads, each holding its request's chunks) glibc keeps the freed
pages of the heap, and the API process stays at its peak resident size. ``malloc_trim``
returns every free page; it takes a few milliseconds, so the APIs run it every half minute.
The service processes run on jemalloc where it is installed (scripts/bootstrap.py,
``JEMALLOC_CONF``), whose background thread gives pages back by itself: there the trim finds
glibc's heap nearly empty, and the sweep and the collection below are what count.

What a process keeps in memory for a while (cached documents, what it learned of reuse
claims) is swept just before: a cache sweeps itself when it is used, and after a burst
nothing may use it again for a long time.

A burst can also leave reference cycles behind, and Python collects cycles among old objects
only in its rare full collections. Until then they stay scattered over the allocator's pages,
new objects fill the gaps between them, and once they are freed those pages stay partly used:
the upload API's resident size crept up from flood to flood (docs/benchmarks.md, load notes of
2026-12-02). The cycles were the uploads' form parsers (about 400 in one process after a flood
of 1,000 uploads, with what they held some 7 MB); they are none any more, and the trim runs a
full collection for whatever others there are. What start-up built is frozen out of the
collector's way (``startup_objects_frozen``), so a full collection walks only the objects made
since: about a millisecond in an idle API, up to 0.2 s amid a flood.
"""

import ctypes
import ctypes.util
import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

TRIM_EVERY_S = 30.0
_libc_name = ctypes.util.find_library("c")
_libc = ctypes.CDLL(_libc_name) if _libc_name else None


class Sweepable(Protocol):
    def sweep(self) -> None:
        """Drop what has gone idle or stale."""


_swept: "weakref.WeakSet[Sweepable]" = weakref.WeakSet()


def swept_before_trim(holder: Sweepable) -> None:
    """``holder.sweep()`` runs before each trim, for as long as the holder lives."""
    _swept.add(holder)


@contextmanager
def startup_objects_frozen() -> Iterator[None]:
    """Start-up's objects (modules, the app, its wiring) live as long as the process: collected
    once, then left out of every collection until the block ends."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def release_free_memory() -> None:
    for holder in list(_swept):
        holder.sweep()
    gc.collect()
    if _libc is not None and hasattr(_libc, "malloc_trim"):  # glibc only
        _libc.malloc_trim(0)
