"""Running a worker process: signals stop it gracefully, in-flight work finishes first."""

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog

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
) -> None:
    """Consume and run background loops until a signal; then drain, cancel and close in order."""
    tasks = [asyncio.create_task(job) for job in background]
    for subscription in subscriptions:
        await subscription.start()
    log.info("worker.started")
    try:
        await until_stopped()
    finally:
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
