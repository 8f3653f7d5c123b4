"""What a hung teardown was waiting on: every task's stack, printed once a wait runs long."""

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def stacks_if_longer_than(seconds: float, what: str) -> AsyncIterator[None]:
    """Prints every task's stack to stderr (shown with the test's report) if the block is
    still running after ``seconds``; the block itself is neither cut short nor changed."""

    async def report() -> None:
        await asyncio.sleep(seconds)
        print(f"{what}: still running after {seconds} s; the tasks:", file=sys.stderr)
        for task in asyncio.all_tasks():
            print(f"--- {task.get_name()}: {task.get_coro()}", file=sys.stderr)
            task.print_stack(file=sys.stderr)
        sys.stderr.flush()

    watch = asyncio.create_task(report())
    try:
        yield
    finally:
        watch.cancel()
