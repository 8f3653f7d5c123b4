"""A cancellation that a library lost, raised again where a loop begins its next round.

Python 3.11's ``asyncio.wait_for`` returns its awaitable's result instead of raising when the
task is cancelled in the step that awaitable finishes (CPython gh-86296, fixed in 3.12).
PyMongo's async driver sends every command through ``wait_for``, so a loop cancelled while
it talks to the database can carry on as if nothing happened. The task still counts the
request (``Task.cancelling()``), but nothing raises it: the loop sleeps and runs again, and
whoever cancelled it to stop waits for ever (a worker's shutdown, a test's teardown). Worse,
every ``asyncio.timeout`` the task opens afterwards takes that count for its baseline and
ends as a plain timeout, so a loop paced by timeouts never notices.
"""

import asyncio


def raise_lost_cancel() -> None:
    """Raise ``CancelledError`` if this task was asked to stop and nothing raised it yet.

    Call it where a loop begins a round, outside any ``asyncio.timeout`` block (inside one
    that has expired, the task counts the timeout's own request)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
