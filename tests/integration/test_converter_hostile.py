"""Hostile sources against real JVM workers: zip bombs refused before MPXJ unpacks them, a
job's disk budget, the workers' temporary folders removed, Java exception text kept from
users."""

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from converter.archive import ArchiveLimits
from converter.errors import ConversionError
from converter.pool import ConverterPool
from tests.support.archives import many_entries, zeros_bomb

MB = 2**20


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[ConverterPool]:
    converter = ConverterPool(1, 256, 60, tmp_path / "work")
    await converter.start()
    yield converter
    await converter.close()


def _job(source: Path, output: Path) -> dict[str, object]:
    return {"source": source, "output": output, "target": "mspdi"}


def _disk_use(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += (Path(root) / name).lstat().st_blocks * 512
    return total


@contextmanager
def peak_disk_use(folder: Path) -> Iterator[list[int]]:
    """The most ``folder`` held while the block ran, sampled every 20 ms in a thread."""
    peak = [0]
    done = False

    def sample() -> None:
        while not done:
            peak[0] = max(peak[0], _disk_use(folder))
            time.sleep(0.02)

    sampler = asyncio.get_running_loop().run_in_executor(None, sample)
    try:
        yield peak
    finally:
        done = True
        del sampler  # the thread ends within one sample


async def _fails(pool: ConverterPool, source: Path, output: Path) -> ConversionError:
    with pytest.raises(ConversionError) as failure:
        await pool.convert(_job(source, output))
    return failure.value


async def test_a_zip_bomb_fails_fast_with_its_code_and_the_pool_keeps_serving(
    pool: ConverterPool, mpp_files: list[Path], tmp_path: Path
) -> None:
    bomb = zeros_bomb(tmp_path / "bomb.zip", 1024 * MB)  # 1 GiB of zeros in about 1 MB
    assert bomb.stat().st_size < 1.5 * MB
    started = time.monotonic()
    with peak_disk_use(pool.work_dir) as peak:
        failure = await _fails(pool, bomb, tmp_path / "out.xml")
    assert failure.code == "too_large"
    assert failure.message == "the zip archive unpacks to more than 256 MB"
    assert time.monotonic() - started < 30
    assert peak[0] < 16 * MB  # nothing was unpacked
    assert pool.restarts == 0
    manifest = await pool.convert(_job(mpp_files[0], tmp_path / "after.xml"))
    assert manifest["read"]["tasks"] > 0


async def test_a_zip_of_a_hundred_thousand_tiny_files_is_refused(
    pool: ConverterPool, tmp_path: Path
) -> None:
    archive = many_entries(tmp_path / "many.zip", 100_000)
    with peak_disk_use(pool.work_dir) as peak:
        failure = await _fails(pool, archive, tmp_path / "out.xml")
    assert failure.code == "too_large"
    assert failure.message == "the zip archive holds more than 1000 files"
    assert peak[0] < 16 * MB


async def test_a_job_past_its_disk_budget_is_stopped_and_its_folder_removed(
    tmp_path: Path, mpp_files: list[Path]
) -> None:
    """The budget holds even for what the archive check lets through (limits set wide here):
    MPXJ unpacks a gigabyte of zeros until the watcher stops its worker."""
    wide = ArchiveLimits(max_entries=10, max_bytes=8 * 1024 * MB)
    pool = ConverterPool(
        1, 256, 60, tmp_path / "work", disk_budget_bytes=64 * MB, archive_limits=wide
    )
    await pool.start()
    try:
        (worker,) = pool._all
        folder = pool.work_dir / f"jvm-{worker.process.pid}"
        bomb = zeros_bomb(tmp_path / "bomb.zip", 1024 * MB)
        with peak_disk_use(pool.work_dir) as peak:
            failure = await _fails(pool, bomb, tmp_path / "out.xml")
        assert failure.code == "too_large"
        assert failure.message == "the conversion needed more than 64 MB of temporary space"
        assert 64 * MB < peak[0] < 768 * MB  # stopped well before the gigabyte
        assert pool.restarts == 1
        await _until(lambda: not folder.exists())
        manifest = await pool.convert(_job(mpp_files[0], tmp_path / "after.xml"))
        assert manifest["read"]["tasks"] > 0
    finally:
        await pool.close()


async def test_a_killed_workers_folder_is_removed_when_it_is_replaced(
    pool: ConverterPool, mpp_files: list[Path], tmp_path: Path
) -> None:
    (worker,) = pool._all
    folder = pool.work_dir / f"jvm-{worker.process.pid}"
    assert folder.is_dir()
    os.kill(worker.process.pid, signal.SIGKILL)  # type: ignore[arg-type]
    await pool.convert(_job(mpp_files[0], tmp_path / "out.xml"))  # finds it dead, replaces it
    assert pool.restarts == 1
    await _until(lambda: not folder.exists())
    (replacement,) = pool._all
    assert (pool.work_dir / f"jvm-{replacement.process.pid}").is_dir()


async def test_folders_left_by_a_crashed_converter_are_removed_at_start(tmp_path: Path) -> None:
    work = tmp_path / "work"
    stale = work / "jvm-4194999"  # above any pid the kernel hands out by default
    (stale / "mpxj-unpacked").mkdir(parents=True)
    (stale / "mpxj-unpacked" / "big.bin").write_bytes(bytes(MB))
    live = work / f"jvm-{os.getpid()}"  # a process that still runs keeps its folder
    live.mkdir()
    pool = ConverterPool(1, 256, 60, work)
    await pool.start()
    try:
        assert not stale.exists()
        assert live.is_dir()
    finally:
        await pool.close()
        live.rmdir()
    assert [p.name for p in work.glob("jvm-*")] == []


async def test_java_exception_text_is_logged_not_returned(
    pool: ConverterPool, mpp_files: list[Path], tmp_path: Path
) -> None:
    """A failure inside MPXJ (here: its writer cannot create the output) comes back with a
    stable message; the exception's text, which names our paths, is kept for the log."""
    output = tmp_path / "no-such-folder" / "out.xml"
    failure = await _fails(pool, mpp_files[0], output)
    assert failure.code == "internal"
    assert failure.message == "the converter could not write mspdi"
    assert str(tmp_path) not in failure.message
    assert failure.detail is not None and str(output) in failure.detail


async def _until(condition, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")
