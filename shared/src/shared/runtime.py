"""Running a worker process: signals stop it gracefully, in-flight work finishes first."""

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog
import uvicorn

from shared.http.ops import Readiness
from shared.messaging import Subscription

log = structlog.get_logger()


async def until_stopped() -> None:
    """Return on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve_until_stopped(
    subscriptions: list[Subscription],
    background: list[Coroutine[Any, Any, None]],
    closers: list[Callable[[], Awaitable[None]]],
    readiness: Readiness,
) -> None:
    """Consume and run background loops until a signal; then drain, cancel and close in order.
    Ready from the moment every subscription consumes until the signal."""
    tasks = [asyncio.create_task(job) for job in background]
    for subscription in subscriptions:
        await subscription.start()
    readiness.serving = True
    log.info("worker.started")
    try:
        await until_stopped()
    finally:
        readiness.serving = False
        for subscription in subscriptions:
            await subscription.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for close in closers:
            await close()
        log.info("worker.stopped")


async def every(interval: float, action: Callable[[], Awaitable[object]], name: str) -> None:
    """Run ``action`` periodically; a failure is logged and retried at the next tick."""
    while True:
        try:
            await action()
        except Exception:
            log.exception(f"{name}.failed")
        await asyncio.sleep(interval)


def run_roles(
    package: str,
    host: str,
    port: int,
    worker: Callable[[], None] | None = None,
    processes: int = 1,
    **uvicorn_options: Any,
) -> None:
    """``python -m <package> [api|worker]``: the HTTP API (``<package>.app:create_app``, served
    by ``processes`` processes sharing the port) or the worker, chosen by the first argument."""
    role = sys.argv[1] if len(sys.argv) > 1 else "api"
    if role == "worker" and worker is not None:
        worker()
    elif role == "api":
        uvicorn.run(
            f"{package}.app:create_app",
            factory=True,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            workers=processes if processes > 1 else None,
            **uvicorn_options,
        )
    else:
        roles = "api|worker" if worker else "api"
        sys.exit(f"usage: python -m {package} [{roles}], not {role!r}")
