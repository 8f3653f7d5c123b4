"""Freed heap given back to the system.

After a burst (a flood of uploads, each holding its request's chunks) glibc keeps the freed
pages of the heap, and the API process stays at its peak resident size. ``malloc_trim``
returns every free page; it takes a few milliseconds, so the APIs run it every half minute.
"""

import ctypes
import ctypes.util

TRIM_EVERY_S = 30.0
_libc_name = ctypes.util.find_library("c")
_libc = ctypes.CDLL(_libc_name) if _libc_name else None


async def release_free_memory() -> None:
    if _libc is not None and hasattr(_libc, "malloc_trim"):  # glibc only
        _libc.malloc_trim(0)
