"""Killing a converter's JVM worker from outside in the middle of a job, as the kernel's OOM
killer or an eviction would.

The job's source is a FIFO: a worker that opens it waits there for bytes, so the test knows
which process has the job and that it is converting it, and kills that process.
"""

import asyncio
import errno
import os
import shutil
import signal
import time
from pathlib import Path


async def kill_the_worker_reading(fifo: Path, then_serve: Path | None = None) -> int:
    """Wait until a worker opens ``fifo``, SIGKILL it and return its pid.

    With ``then_serve``, that file replaces the FIFO before the kill, so the job's next
    attempt converts it."""
    target = os.stat(fifo)
    writer = await open_when_read(fifo)
    try:
        pid = await _reader(fifo, target)
        if then_serve is not None:  # the worker keeps the FIFO it opened; the path is free
            fifo.unlink()
            shutil.copyfile(then_serve, fifo)
        os.kill(pid, signal.SIGKILL)
        await _exited(pid)  # so that the next call waits for the next reader
    finally:
        os.close(writer)
    return pid


async def open_when_read(fifo: Path, timeout_s: float = 60) -> int:
    """A write end of ``fifo``, once a reader (a converter's JVM) has opened it."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:  # ENXIO: nobody has opened it for reading yet
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.02)


async def _reader(fifo: Path, target: os.stat_result, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid in (int(name) for name in os.listdir("/proc") if name.isdigit()):
            if pid != os.getpid() and _has_open(pid, target):
                return pid
        await asyncio.sleep(0.02)
    raise AssertionError(f"no process other than this one has {fifo} open")


async def _exited(pid: int, timeout_s: float = 10) -> None:
    """Until the pool has reaped it: only then has it surely let go of the FIFO (its listed
    open files vanish earlier, while the FIFO may still count it as a reader)."""
    for _ in range(int(timeout_s / 0.02)):
        if not os.path.exists(f"/proc/{pid}"):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"process {pid} was not reaped after SIGKILL")


def _has_open(pid: int, target: os.stat_result) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # not ours to read, or gone meanwhile
        return False
    for fd in fds:
        try:
            opened = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if (opened.st_dev, opened.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False
