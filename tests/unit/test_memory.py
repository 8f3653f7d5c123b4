import ctypes
import ctypes.util
import gc
import weakref

import pytest

from shared.memory import release_free_memory, startup_objects_frozen


def _resident_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(ctypes.util.find_library("c") is None, reason="no C library to trim")
async def test_freed_heap_goes_back_to_the_system() -> None:
    """Many mid-sized blocks (as an upload flood's chunks) freed leave the heap at its peak
    until trimmed; a block kept at the top stops glibc from shrinking the heap by itself."""
    blocks = [ctypes.create_string_buffer(64 * 1024) for _ in range(800)]  # ~50 MB
    keep = ctypes.create_string_buffer(64 * 1024)
    for block in blocks:
        ctypes.memset(block, 1, len(block))
    del blocks
    before = _resident_kb()  # measured: still the peak, ~50 MB above the start
    await release_free_memory()
    after = _resident_kb()
    assert keep is not None
    assert before - after > 20_000, (before, after)


class _Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_the_trim_collects_the_cycles_a_burst_left() -> None:
    """Left to Python, cycles among old objects wait for a rare full collection."""
    gc.disable()
    try:
        gone = weakref.ref(_Cycle())
        assert gone() is not None  # nothing has collected it yet
        await release_free_memory()
        assert gone() is None
    finally:
        gc.enable()


def test_start_up_objects_are_frozen_until_the_service_ends() -> None:
    gc.disable()
    try:
        garbage = weakref.ref(_Cycle())
        with startup_objects_frozen():
            assert garbage() is None  # collected before freezing, not kept for good
            assert gc.get_freeze_count() > 0
            kept = weakref.ref(_Cycle())
            gc.collect()
            assert kept() is None  # what comes after start-up is collected as usual
        assert gc.get_freeze_count() == 0
    finally:
        gc.enable()
