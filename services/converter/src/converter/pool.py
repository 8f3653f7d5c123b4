"""A pool of warm JVM worker processes, one conversion at a time in each.

Process isolation makes the time and heap budgets enforceable: a job over its time is
killed with its process, a heap exhaustion ends its process (ExitOnOutOfMemoryError), and
either way a fresh process takes the slot while the other processes keep converting.

A process that dies otherwise (killed, OOM-killed by the kernel, a JVM crash) is not the
job's failure: the job goes to another process, and fails only when it was in
``max_crashes`` processes that all died.

Each process has its own temporary folder (``jvm-<pid>``, where MPXJ unpacks archives); a
job whose folder and output grow past ``disk_budget_bytes`` is stopped like a job over its
time, and a replaced process's folder is removed with it.
"""

import asyncio
import multiprocessing
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import structlog

from converter import child
from converter.archive import DEFAULT_LIMITS, ArchiveLimits
from converter.errors import ConversionError
from converter.metrics import jvm_replaced
from shared.processes import alive

log = structlog.get_logger()
_SPAWN = multiprocessing.get_context("spawn")  # a JVM does not survive fork
_OOM_EXIT = 3
_WATCH_EVERY_S = 0.2
_AFTER_DEATH_S = 0.05
JOB_FILE_PREFIX = "job-"  # a job's files in the work folder: job-<converter pid>-<random>.*


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    sent: bool = False  # a job was sent and its answer not read yet

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class WorkerDied(Exception):
    """A worker ended during a job without our killing it: the job may succeed in another."""


class _OverBudget(Exception):
    """The job's temporary folder and output grew past the disk budget."""


class ConverterPool:
    def __init__(
        self,
        size: int,
        heap_mb: int,
        timeout_s: float,
        work_dir: Path,
        nice: int = 0,
        jvm_options: Sequence[str] = (),
        max_crashes: int = 2,
        disk_budget_bytes: int = 1024 * 2**20,
        archive_limits: ArchiveLimits = DEFAULT_LIMITS,
    ) -> None:
        self.size, self.heap_mb, self.timeout_s, self.work_dir = size, heap_mb, timeout_s, work_dir
        self.nice, self.jvm_options, self.max_crashes = nice, list(jvm_options), max_crashes
        self.disk_budget_bytes, self.archive_limits = disk_budget_bytes, archive_limits
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._background: set[asyncio.Task[None]] = set()
        self.restarts = 0
        self._starting = 0

    @property
    def warm(self) -> int:
        return len(self._all)

    @property
    def serving(self) -> bool:
        """A JVM is warm or one is starting: jobs are converted now or shortly. False only
        when every JVM is gone and none could be started again."""
        return self.warm > 0 or self._starting > 0

    async def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale(self.work_dir)
        workers = await asyncio.gather(*(self._spawn() for _ in range(self.size)))
        for worker in workers:
            self._idle.put_nowait(worker)

    async def close(self) -> None:
        for respawn in self._background:
            respawn.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for worker in list(self._all):
            worker.kill()
            shutil.rmtree(_folder(self.work_dir, worker.process.pid), ignore_errors=True)
        self._all.clear()

    async def convert(
        self, job: dict[str, Any], in_worker: Callable[[], Awaitable[None]] | None = None
    ) -> dict[str, Any]:
        """Run one conversion in an idle worker; raises ConversionError with a stable code.
        ``in_worker`` is awaited each time the job is about to go to a worker."""
        for attempt in range(1, self.max_crashes + 1):
            try:
                return await self._convert_in_one_worker(job, in_worker)
            except WorkerDied:
                # a death seldom comes alone (the OOM killer, a kill of the process group):
                # the next worker is taken once the others' deaths show, so that a worker
                # killed with this one is replaced rather than given the job and blamed
                if attempt < self.max_crashes:
                    await asyncio.sleep(_AFTER_DEATH_S)
        times = "once" if self.max_crashes == 1 else f"{self.max_crashes} times"
        raise ConversionError(
            "crashed", f"the file crashed the converter {times}; it was not converted"
        )

    async def _convert_in_one_worker(
        self, job: dict[str, Any], in_worker: Callable[[], Awaitable[None]] | None
    ) -> dict[str, Any]:
        """Raises WorkerDied when the worker died of something else than the job's budgets."""
        worker = await self._take_idle()
        try:
            if in_worker is not None:
                await in_worker()
        except BaseException:
            self._idle.put_nowait(worker)
            raise
        started = time.perf_counter()
        try:
            within_budget = self._exchange_within_budget(worker, job)
            reply = await asyncio.wait_for(within_budget, self.timeout_s)
        except _OverBudget:
            self._replace(worker, "disk_budget")
            raise ConversionError(
                "too_large",
                f"the conversion needed more than {self.disk_budget_bytes // 2**20} MB of "
                "temporary space",
            ) from None
        except TimeoutError:
            self._replace(worker, "timeout")
            raise ConversionError(
                "timeout", f"the conversion took longer than {self.timeout_s:g} s"
            ) from None
        except WorkerDied:
            if worker.process.exitcode != _OOM_EXIT:
                self._replace(worker, "died")
                raise
            self._replace(worker, "heap_exhausted")
            raise ConversionError(
                "internal", f"the conversion exhausted the converter's {self.heap_mb} MB heap"
            ) from None
        except asyncio.CancelledError:  # the job's message went away (its channel closed)
            self._let_finish(worker, started)
            raise
        except BaseException:
            self._replace(worker, "cancelled")
            raise
        self._idle.put_nowait(worker)
        log.debug("pool.converted", ms=round((time.perf_counter() - started) * 1000, 1))
        if reply[0] == "ok":
            return reply[1]  # type: ignore[no-any-return]
        _, code, message, detail = reply
        if detail:
            log.info("pool.conversion_failed", code=code, detail=detail)
        raise ConversionError(code, message, detail)

    async def _exchange_within_budget(
        self, worker: _Worker, job: dict[str, Any]
    ) -> tuple[Any, ...]:
        exchange = asyncio.ensure_future(self._exchange(worker, job))
        watch = asyncio.ensure_future(self._watch_disk(worker, Path(job["output"])))
        try:
            await asyncio.wait({exchange, watch}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (watch, exchange):
                task.cancel()
            await asyncio.gather(watch, exchange, return_exceptions=True)
        if exchange.done() and not exchange.cancelled():
            return exchange.result()
        raise _OverBudget

    async def _watch_disk(self, worker: _Worker, output: Path) -> None:
        """Returns once the worker's folder and the job's output use more than the budget."""
        folder = _folder(self.work_dir, worker.process.pid)
        while True:
            # first after a while: most jobs are over within it, and cost no walk of the disk
            await asyncio.sleep(_WATCH_EVERY_S)
            if await asyncio.to_thread(_disk_use, folder, output) > self.disk_budget_bytes:
                return

    def _let_finish(self, worker: _Worker, started: float) -> None:
        """A cancelled conversion still runs in its JVM: the worker goes back to the pool once
        it answers, instead of a warm JVM being killed and another started (seconds of CPU)
        whenever the broker's connection drops under a batch."""

        async def finish() -> None:
            if worker.sent:
                remaining = self.timeout_s - (time.perf_counter() - started)
                try:
                    await asyncio.wait_for(self._receive(worker), max(remaining, 0.1))
                except (TimeoutError, WorkerDied):
                    self._replace(worker, "cancelled")
                    return
                worker.sent = False
            self._idle.put_nowait(worker)

        task = asyncio.get_running_loop().create_task(finish())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _take_idle(self) -> _Worker:
        """An idle worker that is alive: one killed between jobs is replaced, not blamed on
        the job it would have been given."""
        while True:
            worker = await self._idle.get()
            # an idle worker says nothing: a readable pipe is its end (EOF), seen before the
            # process is reaped
            if worker.process.is_alive() and not worker.conn.poll():
                return worker
            self._replace(worker, "died_idle")

    async def _exchange(self, worker: _Worker, job: dict[str, Any]) -> tuple[Any, ...]:
        try:
            worker.conn.send(job)
        except OSError:  # it died after it was taken
            worker.process.join(5)
            raise WorkerDied from None
        worker.sent = True
        reply = await self._receive(worker)
        worker.sent = False
        return reply

    async def _receive(self, worker: _Worker) -> tuple[Any, ...]:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = worker.conn.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        try:
            return worker.conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            worker.process.join(5)
            raise WorkerDied from None

    def _replace(self, worker: _Worker, reason: str) -> None:
        exitcode = worker.process.exitcode  # before the kill: how it ended by itself, if it did
        worker.kill()
        self._all.discard(worker)
        self.restarts += 1
        jvm_replaced(reason)
        log.warning(
            "pool.worker_replaced", reason=reason, pid=worker.process.pid, exitcode=exitcode
        )
        respawn = asyncio.get_running_loop().create_task(
            self._respawn(_folder(self.work_dir, worker.process.pid))
        )
        self._background.add(respawn)
        respawn.add_done_callback(self._background.discard)

    async def _respawn(self, old_folder: Path) -> None:
        self._starting += 1
        try:
            await asyncio.to_thread(shutil.rmtree, old_folder, True)
            self._idle.put_nowait(await self._spawn())
        except Exception:
            log.exception("pool.respawn_failed")
        finally:
            self._starting -= 1

    async def _spawn(self) -> _Worker:
        parent, child_end = _SPAWN.Pipe()
        process = _SPAWN.Process(
            target=child.serve,
            args=(
                child_end,
                self.heap_mb,
                str(self.work_dir),
                self.nice,
                self.jvm_options,
                self.archive_limits,
            ),
            daemon=True,
            name="mpxj-jvm",
        )
        process.start()
        child_end.close()
        worker = _Worker(process, parent)
        try:
            reply = await self._receive(worker)
            if reply[0] != "ready":
                raise RuntimeError(f"JVM worker failed to start: {reply}")
        except BaseException:  # cancelled by close(), or failed to start: it must not linger
            worker.kill()
            raise
        self._all.add(worker)
        log.info("pool.worker_ready", pid=process.pid, heap_mb=self.heap_mb)
        return worker


def _folder(work_dir: Path, pid: int | None) -> Path:
    return work_dir / f"jvm-{pid}"  # child.serve's java.io.tmpdir


def _disk_use(folder: Path, output: Path) -> int:
    """Bytes on disk under ``folder`` plus ``output``'s; files vanishing meanwhile count 0."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            total += _blocks(Path(root) / name)
    return total + _blocks(output)


def _blocks(path: Path) -> int:
    try:
        return path.lstat().st_blocks * 512
    except OSError:
        return 0


def _remove_stale(work_dir: Path) -> None:
    """The folders of JVM workers that are gone, and the job files of converters that are
    (a converter that crashed left them)."""
    for folder in work_dir.glob("jvm-*"):
        pid = folder.name.removeprefix("jvm-")
        if not pid.isdigit() or not alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            log.info("pool.stale_folder_removed", folder=folder.name)
    for file in work_dir.glob(f"{JOB_FILE_PREFIX}*"):
        pid = file.name.removeprefix(JOB_FILE_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or not alive(int(pid)):
            file.unlink(missing_ok=True)
            log.info("pool.stale_job_file_removed", file=file.name)
