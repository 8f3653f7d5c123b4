"""Running a worker process: signals stop it gracefully, in-flight work finishes first."""

import asyncio
import signal


async def until_stopped() -> None:
    """Return on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
