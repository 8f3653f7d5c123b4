"""The JVM worker process: starts MPXJ once, then converts one job at a time from its pipe."""

import os
import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from converter import engine, jvm
from converter.archive import DEFAULT_LIMITS, ArchiveLimits
from converter.errors import ConversionError


def serve(
    conn: Connection,
    heap_mb: int,
    work_dir: str,
    nice: int = 0,
    jvm_options: Sequence[str] = (),
    archive_limits: ArchiveLimits = DEFAULT_LIMITS,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this process ends
    os.nice(nice)  # before the JVM starts: its threads inherit the priority
    work = Path(work_dir) / f"jvm-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    jvm.start_jvm(heap_mb, work, jvm_options)
    engine.warm_up(work)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job: dict[str, Any] = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        try:
            conn.send(("ok", engine.convert(**job, archive_limits=archive_limits)))
        except ConversionError as exc:
            conn.send(("error", exc.code, exc.message, exc.detail))
        except Exception as exc:
            detail = f"{type(exc).__name__}: {str(exc)[:300]}"
            conn.send(("error", "internal", "the converter failed on this file", detail))
