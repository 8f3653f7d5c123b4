"""Freed heap given back to the system.

After a burst (a flood of uploads, each holding its request's chunks) glibc keeps the freed
pages of the heap, and the API process stays at its peak resident size. ``malloc_trim``
returns every free page; it takes a few milliseconds, so the APIs run it every half minute.
The service processes run on jemalloc where it is installed (scripts/bootstrap.py,
``JEMALLOC_CONF``), whose background thread gives pages back by itself: there the trim finds
glibc's heap nearly empty, and the sweep below is what counts.

What a process keeps in memory for a while (cached documents, what it learned of reuse
claims) is swept just before: a cache sweeps itself when it is used, and after a burst
nothing may use it again for a long time.
"""

import ctypes
import ctypes.util
import weakref
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


async def release_free_memory() -> None:
    for holder in list(_swept):
        holder.sweep()
    if _libc is not None and hasattr(_libc, "malloc_trim"):  # glibc only
        _libc.malloc_trim(0)
