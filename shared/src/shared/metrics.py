"""What ``/metrics`` answers, in one process or for all the processes of one API.

An API served by several processes (uvicorn workers sharing its port) counts in
``prometheus_client``'s multiprocess mode: each process writes its values to files in one
folder (``PROMETHEUS_MULTIPROC_DIR``), and whichever process a scrape reaches answers with the
sum over all of them. Without it each scrape would see one process's counters, and a rate
would jump between them. Every other process keeps the default in-memory registry.
"""

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess

from shared.processes import alive

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
BURY_EVERY_S = 5.0
_LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR) or None


@contextmanager
def shared_between_processes(name: str) -> Iterator[Path]:
    """While inside, the processes started from here count into one folder: the one
    ``PROMETHEUS_MULTIPROC_DIR`` names (emptied: what a previous run counted is not this
    run's), or a fresh one removed on the way out. Enter it before the processes start: the
    mode is chosen when ``prometheus_client`` is imported."""
    given = multiprocess_dir()
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix=f"{name}-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROCESS_DIR] = str(folder)
    stop = threading.Event()
    threading.Thread(target=_bury_the_dead, args=(folder, stop), daemon=True).start()
    try:
        yield folder
    finally:
        stop.set()
        if not given:
            shutil.rmtree(folder, ignore_errors=True)
            os.environ.pop(MULTIPROCESS_DIR, None)


def _bury_the_dead(folder: Path, stop: threading.Event) -> None:
    """A process that ended without saying so (killed, crashed) leaves its live gauges in
    the folder; they stop counting once its pid is gone."""
    while not stop.wait(BURY_EVERY_S):
        for path in folder.glob("gauge_live*.db"):
            match = _LIVE_FILE.fullmatch(path.name)
            if match and not alive(int(match.group(1))):
                multiprocess.mark_process_dead(int(match.group(1)), str(folder))  # type: ignore[no-untyped-call]


def exposition() -> bytes:
    """The Prometheus text of this process, or of all the processes sharing its folder."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def process_exiting() -> None:
    """A process of a shared folder is ending: its live gauges (``livesum``) stop counting.
    Its counters stay, so that the totals do not go back."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
