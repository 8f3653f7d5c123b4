"""Running a process until SIGTERM or SIGINT, then stopping it gracefully within a deadline.

A worker stops consuming, lets the messages in flight finish until the deadline
(``SHUTDOWN_GRACE_S``), abandons the rest un-acked (the broker requeues them when their
channel closes), then closes its connections. An API's server stops accepting and gives the
requests in flight the same deadline; a request that only waits for something to happen (a
long poll, a live stream) ends at once instead (``Stopping``).
"""

import asyncio
import signal
import sys
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

import structlog
import uvicorn

from shared.cancellation import raise_lost_cancel
from shared.http.ops import Readiness
from shared.messaging import Subscription
from shared.metrics import shared_between_processes
from shared.settings import InfraSettings

log = structlog.get_logger()
T = TypeVar("T")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def until_stopped() -> None:
    """Return on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve_until_stopped(
    subscriptions: list[Subscription],
    background: list[Coroutine[Any, Any, None]],
    closers: list[Callable[[], Awaitable[None]]],
    readiness: Readiness,
    grace_s: float,
) -> None:
    """Consume and run background loops until a signal; then drain, cancel and close in order.
    Ready from the moment every subscription consumes until the signal. Every subscription
    stops taking messages at once, and all share one deadline for those in flight."""
    tasks = [asyncio.create_task(job) for job in background]
    for subscription in subscriptions:
        await subscription.start()
    readiness.serving = True
    log.info("worker.started")
    try:
        await until_stopped()
    finally:
        readiness.serving = False
        log.info("worker.stopping", grace_s=grace_s)
        await asyncio.gather(*(subscription.stop(grace_s) for subscription in subscriptions))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for close in closers:
            await close()
        log.info("worker.stopped")


async def every(interval: float, action: Callable[[], Awaitable[object]], name: str) -> None:
    """Run ``action`` periodically; a failure is logged and retried at the next tick."""
    while True:
        raise_lost_cancel()
        try:
            await action()
        except Exception:
            log.exception(f"{name}.failed")
        await asyncio.sleep(interval)


class Stopping:
    """Set when an API process is asked to stop, before its server waits out the requests in
    flight: a request that waits for something to happen answers or ends now, rather than
    holding the process to its deadline."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def first(self, waiting: Awaitable[T]) -> T | None:
        """What ``waiting`` returns, or None (``waiting`` cancelled) once the process stops."""
        task = asyncio.ensure_future(waiting)
        stop = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait((task, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
        return task.result() if task.done() and not task.cancelled() else None

    async def until(self, body: AsyncIterator[T]) -> AsyncIterator[T]:
        """``body``'s items until it ends or the process stops; ``body`` is closed either way."""
        stop = asyncio.ensure_future(self._event.wait())
        item: asyncio.Future[T | _End] | None = None
        try:
            while True:
                item = asyncio.ensure_future(_next(body))
                await asyncio.wait((item, stop), return_when=asyncio.FIRST_COMPLETED)
                if not item.done() or isinstance(result := item.result(), _End):
                    return
                yield result
        finally:
            stop.cancel()
            if item is not None and not item.done():
                item.cancel()
                await asyncio.wait((item,))  # the body's own clean-up runs before it closes
            if isinstance(body, AsyncGenerator):
                await body.aclose()


class _End:
    """What ``_next`` returns once the body has no more items."""


async def _next(body: AsyncIterator[T]) -> "T | _End":
    return await anext(body, _End())


@contextmanager
def on_stop_signal(callback: Callable[[], None]) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT call ``callback`` in the running loop, then the handler
    they had (uvicorn's, which begins the server's graceful shutdown). A server's app learns
    no other way that it is stopping before its requests are waited for. Outside the main
    thread (a test client's app) signals cannot be handled, and nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    before: dict[int, Any] = {}

    def handle(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        _chain(before[sig], sig, frame)

    for sig in STOP_SIGNALS:
        before[sig] = signal.signal(sig, handle)
    try:
        yield
    finally:
        for number, handler in before.items():
            if signal.getsignal(number) is handle:
                signal.signal(number, handler)


def _chain(handler: Any, sig: int, frame: FrameType | None) -> None:
    """Act on a signal as ``handler``, the one in place before ours, would have."""
    if callable(handler):
        handler(sig, frame)
    elif handler != signal.SIG_IGN:  # the default: end the process by the signal
        signal.signal(sig, signal.SIG_DFL)
        signal.raise_signal(sig)


def run_roles(
    package: str,
    host: str,
    port: int,
    worker: Callable[[], None] | None = None,
    processes: int = 1,
    **uvicorn_options: Any,
) -> None:
    """``python -m <package> [api|worker]``: the HTTP API (``<package>.app:create_app``, served
    by ``processes`` processes sharing the port) or the worker, chosen by the first argument.
    On SIGTERM the API stops accepting and cuts the requests still open after
    ``SHUTDOWN_GRACE_S``."""
    role = sys.argv[1] if len(sys.argv) > 1 else "api"
    if role == "worker" and worker is not None:
        worker()
    elif role == "api" and processes > 1:
        with shared_between_processes(package):  # one /metrics for all of them
            _serve(package, host, port, processes, **uvicorn_options)
    elif role == "api":
        _serve(package, host, port, None, **uvicorn_options)
    else:
        roles = "api|worker" if worker else "api"
        sys.exit(f"usage: python -m {package} [{roles}], not {role!r}")


def _serve(package: str, host: str, port: int, processes: int | None, **options: Any) -> None:
    uvicorn.run(
        f"{package}.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        workers=processes,
        timeout_graceful_shutdown=InfraSettings().shutdown_grace_s,
        **options,
    )
