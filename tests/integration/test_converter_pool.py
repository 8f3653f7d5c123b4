"""The warm JVM pool with real JVMs: conversions, stable error codes, time and heap budgets,
workers killed from outside."""

import asyncio
import multiprocessing
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from converter.errors import ConversionError
from converter.pool import ConverterPool
from tests.support.schedules import huge_mspdi
from tests.support.worker_kills import kill_the_worker_reading, open_when_read


@pytest.fixture(scope="module")
def huge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return huge_mspdi(tmp_path_factory.mktemp("huge") / "huge.xml")


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[ConverterPool]:
    converter = ConverterPool(2, 256, 60, tmp_path / "work")
    await converter.start()
    yield converter
    await converter.close()


def _restarts() -> dict[str, float]:
    """``converter_jvm_restarts_total`` by cause, as this process's /metrics would show it."""
    return {
        cause: REGISTRY.get_sample_value("converter_jvm_restarts_total", {"cause": cause}) or 0
        for cause in ("timeout", "heap", "crash", "cancelled")
    }


def _job(source: Path, output: Path, target: str = "mspdi", **options: object) -> dict[str, object]:
    return {"source": source, "output": output, "target": target, **options}


async def test_every_target_is_written_with_a_manifest(
    pool: ConverterPool, mpp_files: list[Path], tmp_path: Path
) -> None:
    source = next(p for p in mpp_files if p.name == "mpp14timephased.mpp")
    for target in ("mspdi", "mpx", "json", "pmxml", "xer", "planner", "sdef"):
        output = tmp_path / f"out.{target}"
        manifest = await pool.convert(_job(source, output, target))
        assert output.stat().st_size > 100, target
        assert manifest["source_format"] == "mpp"
        assert manifest["read"]["tasks"] > 0
    manifest = await pool.convert(_job(source, tmp_path / "out.xml"))
    assert manifest["written"]["tasks"] == manifest["read"]["tasks"]


async def test_timephased_option_adds_timephased_data(
    pool: ConverterPool, mpp_files: list[Path], tmp_path: Path
) -> None:
    source = next(p for p in mpp_files if p.name == "mpp14timephased.mpp")
    await pool.convert(_job(source, tmp_path / "plain.xml"))
    await pool.convert(_job(source, tmp_path / "tp.xml", timephased=True))
    assert b"<TimephasedData>" not in (tmp_path / "plain.xml").read_bytes()
    assert b"<TimephasedData>" in (tmp_path / "tp.xml").read_bytes()


@pytest.mark.parametrize(
    "content, code",
    [
        (b"\x00\x01garbage" * 100, "unsupported_format"),
        (b"hello, this is not a schedule\n" * 10, "unsupported_format"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4000, "corrupt_file"),
        (
            b'<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<Project xmlns="http://schemas.microsoft.com/project"><Title>&x;</Title></Project>',
            "corrupt_file",
        ),
    ],
)
async def test_bad_input_fails_with_its_stable_code(
    pool: ConverterPool, tmp_path: Path, content: bytes, code: str
) -> None:
    source = tmp_path / "bad"
    source.write_bytes(content)
    with pytest.raises(ConversionError) as failure:
        await pool.convert(_job(source, tmp_path / "out.xml"))
    assert failure.value.code == code


async def test_truncated_mpp_is_corrupt(
    pool: ConverterPool, mpp_files: list[Path], tmp_path: Path
) -> None:
    source = tmp_path / "half.mpp"
    data = mpp_files[0].read_bytes()
    source.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError) as failure:
        await pool.convert(_job(source, tmp_path / "out.xml"))
    assert failure.value.code == "corrupt_file"


async def test_password_protected_file_needs_its_password(
    pool: ConverterPool, fixtures_dir: Path, tmp_path: Path
) -> None:
    for source in sorted((fixtures_dir / "password").glob("*.mpp")):
        if source.name == "legacy__writepassword9.mpp":
            continue
        with pytest.raises(ConversionError) as failure:
            await pool.convert(_job(source, tmp_path / "out.xml"))
        assert failure.value.code == "password_protected", source.name
        with pytest.raises(ConversionError) as wrong:
            await pool.convert(_job(source, tmp_path / "out.xml", password="not-it"))
        assert wrong.value.code == "password_protected", source.name
    protected = fixtures_dir / "password" / "password-protected-mpp9.mpp"
    manifest = await pool.convert(_job(protected, tmp_path / "ok.xml", password="password"))
    assert manifest["read"]["tasks"] == manifest["written"]["tasks"] > 0


async def test_a_hanging_job_times_out_while_other_jobs_complete(
    tmp_path: Path, huge: Path, mpp_files: list[Path]
) -> None:
    pool = ConverterPool(2, 512, 8, tmp_path / "work")  # the huge file needs ~25 s
    await pool.start()
    before = _restarts()
    try:
        hang = asyncio.create_task(pool.convert(_job(huge, tmp_path / "huge.out.xml")))
        others = [
            await pool.convert(_job(p, tmp_path / f"{i}.xml")) for i, p in enumerate(mpp_files)
        ]
        with pytest.raises(ConversionError) as failure:
            await hang
        assert failure.value.code == "timeout"
        assert all(m["read"]["tasks"] == m["written"]["tasks"] > 0 for m in others)
        assert pool.restarts == 1
        assert _restarts() == {**before, "timeout": before["timeout"] + 1}
        # the slot is refilled with a fresh warm JVM and serves again
        for i, source in enumerate(mpp_files[:4]):
            await pool.convert(_job(source, tmp_path / f"after{i}.xml"))
        await _until(lambda: pool.warm == 2)
    finally:
        await pool.close()


async def test_heap_exhaustion_fails_the_job_not_the_pool(
    tmp_path: Path, huge: Path, mpp_files: list[Path]
) -> None:
    pool = ConverterPool(1, 48, 120, tmp_path / "work")
    await pool.start()
    before = _restarts()
    try:
        with pytest.raises(ConversionError) as failure:
            await pool.convert(_job(huge, tmp_path / "huge.out.xml"))
        assert failure.value.code == "internal"
        assert "heap" in failure.value.message
        assert _restarts() == {**before, "heap": before["heap"] + 1}
        manifest = await pool.convert(_job(mpp_files[0], tmp_path / "after.xml"))
        assert manifest["read"]["tasks"] > 0
    finally:
        await pool.close()


async def test_a_worker_killed_during_a_job_is_replaced_and_the_job_converts(
    pool: ConverterPool, mpp_files: list[Path], tmp_path: Path
) -> None:
    source = tmp_path / "source.mpp"
    os.mkfifo(source)
    before = _restarts()
    converting = asyncio.create_task(pool.convert(_job(source, tmp_path / "out.xml")))
    await kill_the_worker_reading(source, then_serve=mpp_files[0])
    manifest = await converting
    assert manifest["read"]["tasks"] == manifest["written"]["tasks"] > 0
    assert pool.restarts == 1
    assert _restarts() == {**before, "crash": before["crash"] + 1}
    await _until(lambda: pool.warm == 2)


async def test_a_file_that_kills_every_worker_fails_as_crashed_after_the_bound(
    pool: ConverterPool, mpp_files: list[Path], tmp_path: Path
) -> None:
    source = tmp_path / "poison.mpp"
    os.mkfifo(source)
    converting = asyncio.create_task(pool.convert(_job(source, tmp_path / "out.xml")))
    for _ in range(2):  # each kill waits for a new attempt to open the file
        await kill_the_worker_reading(source)
    with pytest.raises(ConversionError) as failure:  # and no third attempt waits on it
        await asyncio.wait_for(converting, 30)
    assert failure.value.code == "crashed"
    assert failure.value.message == "the file crashed the converter 2 times; it was not converted"
    assert pool.restarts == 2
    manifest = await pool.convert(_job(mpp_files[0], tmp_path / "after.xml"))
    assert manifest["read"]["tasks"] > 0
    await _until(lambda: pool.warm == 2)


async def test_every_worker_killed_at_once_is_blamed_once_on_the_job_one_held(
    pool: ConverterPool, mpp_files: list[Path], tmp_path: Path
) -> None:
    """As the OOM killer or a kill of the process group would: the job goes to a replacement,
    not to the other worker killed with its own (which would count a second crash against
    the file and fail it as crashed)."""
    source = tmp_path / "source.mpp"
    os.mkfifo(source)
    converting = asyncio.create_task(pool.convert(_job(source, tmp_path / "out.xml")))
    writer = await open_when_read(source)
    try:
        source.unlink()  # the worker keeps the FIFO it opened; the next attempt reads the file
        shutil.copyfile(mpp_files[0], source)
        for worker in list(pool._all):
            assert worker.process.pid is not None
            os.kill(worker.process.pid, signal.SIGKILL)
    finally:
        os.close(writer)
    manifest = await asyncio.wait_for(converting, 60)
    assert manifest["read"]["tasks"] == manifest["written"]["tasks"] > 0
    assert pool.restarts == 2
    await _until(lambda: pool.warm == 2)


async def test_a_worker_killed_while_idle_is_not_blamed_on_the_next_job(
    tmp_path: Path, mpp_files: list[Path]
) -> None:
    before = set(multiprocessing.active_children())
    pool = ConverterPool(1, 256, 60, tmp_path / "work", max_crashes=1)  # one crash fails a job
    await pool.start()
    try:
        (idle,) = set(multiprocessing.active_children()) - before
        assert idle.pid is not None
        os.kill(idle.pid, signal.SIGKILL)
        await _until(lambda: not idle.is_alive())
        manifest = await pool.convert(_job(mpp_files[0], tmp_path / "out.xml"))
        assert manifest["read"]["tasks"] > 0
        assert pool.restarts == 1
    finally:
        await pool.close()


async def test_closing_while_a_worker_is_replaced_leaves_no_process(
    tmp_path: Path,
) -> None:
    before = set(multiprocessing.active_children())
    pool = ConverterPool(1, 256, 60, tmp_path / "work", max_crashes=1)
    await pool.start()
    source = tmp_path / "poison.mpp"
    os.mkfifo(source)
    try:
        converting = asyncio.create_task(pool.convert(_job(source, tmp_path / "out.xml")))
        await kill_the_worker_reading(source)
        with pytest.raises(ConversionError) as failure:
            await converting
        assert failure.value.message == "the file crashed the converter once; it was not converted"
    finally:
        await pool.close()  # the replacement is still starting its JVM
    assert pool.warm == 0
    assert set(multiprocessing.active_children()) == before


async def _until(condition, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout * 10)):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not reached")


async def test_a_cancelled_conversion_keeps_its_warm_worker(
    pool: ConverterPool, huge: Path, mpp_files: list[Path], tmp_path: Path
) -> None:
    """A job cancelled mid-conversion (its message's channel closed) lets the JVM finish and
    puts the worker back, instead of killing a warm JVM and starting another."""
    pids = {worker.process.pid for worker in pool._all}
    conversion = asyncio.create_task(pool.convert(_job(huge, tmp_path / "huge.xml")))
    await asyncio.sleep(0.5)  # the huge file is being read
    conversion.cancel()
    with pytest.raises(asyncio.CancelledError):
        await conversion
    jobs = [_job(source, tmp_path / f"{i}.xml") for i, source in enumerate(mpp_files[:4])]
    manifests = await asyncio.gather(*(pool.convert(job) for job in jobs))
    assert all(m["read"]["tasks"] > 0 for m in manifests)
    assert pool.restarts == 0
    assert {worker.process.pid for worker in pool._all} == pids


async def test_the_pool_serves_while_its_jvms_are_replaced(
    pool: ConverterPool, mpp_files: list[Path], tmp_path: Path
) -> None:
    """Every JVM killed at once: the pool still says it serves while their replacements
    start (readiness must not flap), and converts once they are warm."""
    states = []
    victims = list(pool._all)
    for worker in victims:
        os.kill(worker.process.pid, signal.SIGKILL)  # type: ignore[arg-type]
    # gone before the job is given out, so it meets them dead (killed between jobs, not by it):
    # a SIGKILLed JVM takes a moment to end its threads, and one that still looked alive
    # would take the job and count as a crash of its file (CONVERTER_MAX_CRASHES, 2)
    for worker in victims:
        await asyncio.to_thread(worker.process.join, 5)
    conversion = asyncio.create_task(pool.convert(_job(mpp_files[0], tmp_path / "out.xml")))
    while not conversion.done():
        states.append(pool.serving)
        await asyncio.sleep(0.05)
    assert (await conversion)["read"]["tasks"] > 0
    assert all(states) and pool.serving


async def test_a_start_removes_what_dead_converters_left_and_keeps_a_live_ones(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    gone = multiprocessing.get_context("spawn").Process(target=os.getpid)
    gone.start()
    gone.join()
    dead, live = gone.pid, os.getpid()
    (work / f"jvm-{dead}").mkdir()
    (work / f"jvm-{dead}" / "scratch.tmp").write_bytes(b"x")
    left = [work / f"job-{dead}-0a1b.source", work / f"job-{dead}-0a1b.result"]
    kept = work / f"job-{live}-2c3d.result"  # a converter still running on this folder
    for file in [*left, kept]:
        file.write_bytes(b"x")

    converter = ConverterPool(1, 256, 60, work)
    await converter.start()
    await converter.close()

    assert not (work / f"jvm-{dead}").exists()
    assert [file.exists() for file in left] == [False, False]
    assert kept.exists()
