"""The platform's client on SecantusDB makes no retryable writes.

SecantusDB keeps the reply of every retryable write (a write carrying a ``txnNumber``) for
30 minutes, up to 10,000, and walks them all on each write: past the cap every write cost
7 ms of its CPU instead of 1 (docs/benchmarks.md). The URL the project's scripts hand every
process (``Secantus.url``) turns them off; a URL without the option would send them.
"""

from pathlib import Path
from typing import Any

from bootstrap import start_secantus
from pymongo import AsyncMongoClient, monitoring

from shared.mongo import connect
from shared.settings import InfraSettings


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in {"insert", "update"}:
            self.sent.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def _writes(url: str) -> list[dict[str, Any]]:
    """The insert and update commands a client on ``url`` sends."""
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, event_listeners=[commands])
    try:
        jobs = client["retryable"]["jobs"]
        await jobs.insert_one({"state": "queued"})
        await jobs.update_one({"state": "queued"}, {"$set": {"state": "completed"}})
    finally:
        await client.close()
    return commands.sent


async def test_the_platforms_url_sends_writes_without_a_transaction_number(
    tmp_path: Path,
) -> None:
    server = start_secantus(tmp_path / "db", tmp_path / "db.log")
    default_url = f"mongodb://127.0.0.1:{server.port}"
    platform = connect(InfraSettings(mongodb_url=server.url))
    try:
        ours = await _writes(server.url)
        default = await _writes(default_url)
    finally:
        await platform.close()
        server.stop()
    assert platform.options.retry_writes is False  # the platform's client keeps the URL's choice
    assert [c.get("txnNumber") for c in ours] == [None, None]
    assert all(c.get("txnNumber") is not None for c in default), "the default retries writes"
