"""A pool of warm JVM worker processes, one conversion at a time in each.

Process isolation makes the time and heap budgets enforceable: a job over its time is
killed with its process, a heap exhaustion ends its process (ExitOnOutOfMemoryError), and
either way a fresh process takes the slot while the other processes keep converting.

A process that dies otherwise (killed, OOM-killed by the kernel, a JVM crash) is not the
job's failure: the job goes to another process, and fails only when it was in
``max_crashes`` processes that all died.
"""

import asyncio
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import structlog

from converter import child
from converter.errors import ConversionError
from converter.metrics import jvm_replaced

log = structlog.get_logger()
_SPAWN = multiprocessing.get_context("spawn")  # a JVM does not survive fork
_OOM_EXIT = 3


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


class ConverterPool:
    def __init__(
        self,
        size: int,
        heap_mb: int,
        timeout_s: float,
        work_dir: Path,
        nice: int = 0,
        jvm_options: Sequence[str] = (),
        max_crashes: int = 3,
    ) -> None:
        self.size, self.heap_mb, self.timeout_s, self.work_dir = size, heap_mb, timeout_s, work_dir
        self.nice, self.jvm_options, self.max_crashes = nice, list(jvm_options), max_crashes
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
        workers = await asyncio.gather(*(self._spawn() for _ in range(self.size)))
        for worker in workers:
            self._idle.put_nowait(worker)

    async def close(self) -> None:
        for respawn in self._background:
            respawn.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for worker in list(self._all):
            worker.kill()
        self._all.clear()

    async def convert(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one conversion in an idle worker; raises ConversionError with a stable code."""
        for _ in range(self.max_crashes):
            try:
                return await self._convert_in_one_worker(job)
            except WorkerDied:
                continue  # retried at once: the next worker is warm, or waits for a respawn
        times = "once" if self.max_crashes == 1 else f"{self.max_crashes} times"
        raise ConversionError(
            "crashed", f"the file crashed the converter {times}; it was not converted"
        )

    async def _convert_in_one_worker(self, job: dict[str, Any]) -> dict[str, Any]:
        """Raises WorkerDied when the worker died of something else than the job's budgets."""
        worker = await self._take_idle()
        started = time.perf_counter()
        try:
            reply = await asyncio.wait_for(self._exchange(worker, job), self.timeout_s)
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
        raise ConversionError(reply[1], reply[2])

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
            if worker.process.is_alive():
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
        respawn = asyncio.get_running_loop().create_task(self._respawn())
        self._background.add(respawn)
        respawn.add_done_callback(self._background.discard)

    async def _respawn(self) -> None:
        self._starting += 1
        try:
            self._idle.put_nowait(await self._spawn())
        except Exception:
            log.exception("pool.respawn_failed")
        finally:
            self._starting -= 1

    async def _spawn(self) -> _Worker:
        parent, child_end = _SPAWN.Pipe()
        process = _SPAWN.Process(
            target=child.serve,
            args=(child_end, self.heap_mb, str(self.work_dir), self.nice, self.jvm_options),
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
