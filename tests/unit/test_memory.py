import ctypes
import ctypes.util

import pytest

from shared.memory import release_free_memory


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
