"""MongoDB through PyMongo's async API (AsyncMongoClient); Motor is end-of-life."""

import time
from typing import Any

import structlog
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ServerSelectionTimeoutError

from shared.circuit import Circuit
from shared.settings import InfraSettings
from shared.telemetry import database_listeners

DUPLICATE_KEY = 11000
# how long a process starting up waits for the database before it gives up and exits
STARTUP_WAIT_S = 30.0
# meanwhile it says so at its first miss and then this often, not at every selection timeout
WAITING_LOG_EVERY_S = 5.0

log = structlog.get_logger()


def connect(
    settings: InfraSettings, circuit: Circuit | None = None
) -> AsyncMongoClient[dict[str, Any]]:
    """A client whose pool stays small (``MONGODB_MAX_POOL_SIZE``): under a flood of requests
    a few busy connections get more done than hundreds contending in the server, and the
    requests wait in the pool instead.

    While the server is unreachable an operation gives up after the server-selection timeout
    (``MONGODB_SERVER_SELECTION_TIMEOUT_MS``, under a second, so a request answers 503 within
    one); a slow but reachable server is waited for. Every command and heartbeat that
    succeeds closes ``circuit``: the heartbeat (``MONGODB_HEARTBEAT_MS``) is how soon a
    process notices the server back without a request probing it.

    A connection idle for ``MONGODB_MAX_IDLE_MS`` (1 min) is closed rather than reused: the
    server, or anything between, may have dropped it meanwhile (SecantusDB closes a client
    idle for 5 min), and the first requests after a quiet spell would fail on it.

    Writes are journaled (``MONGODB_JOURNAL``, on by default): a write is acknowledged once
    the server's journal holds it, so what a client was told (a 202, an acknowledged
    message) survives the database process being killed. Without it SecantusDB, like
    mongod with ``j: false``, loses the writes of its last moments on a crash; a replica
    set's ``w: majority`` (set in the URL) implies the journal too."""
    listeners: list[monitoring._EventListener] = (
        [_CircuitListener(circuit), _HeartbeatListener(circuit)] if circuit else []
    )
    listeners += database_listeners()  # command spans, when traces are exported
    return AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        serverSelectionTimeoutMS=settings.mongodb_server_selection_timeout_ms,
        heartbeatFrequencyMS=settings.mongodb_heartbeat_ms,
        maxIdleTimeMS=settings.mongodb_max_idle_ms,
        maxPoolSize=settings.mongodb_max_pool_size,
        journal=settings.mongodb_journal,
        event_listeners=listeners,
    )


async def reachable(client: AsyncMongoClient[dict[str, Any]], within_s: float) -> None:
    """Wait, at start-up, until the server answers. The selection timeout is kept short so a
    request fails fast during an outage, but a process starting along with every other one
    on a busy machine (``make run``, a node restarting its pods) may not have its first
    answer from the server that soon, and used to exit there. Raises the last
    ``ServerSelectionTimeoutError`` once ``within_s`` have passed."""
    started = time.monotonic()
    said_at = -WAITING_LOG_EVERY_S
    while True:
        try:
            await client.admin.command("ping")
            return
        except ServerSelectionTimeoutError:
            waited = time.monotonic() - started
            if waited >= within_s:
                raise
            if waited - said_at >= WAITING_LOG_EVERY_S:
                log.warning("mongodb.waiting", waited_s=round(waited, 1), within_s=within_s)
                said_at = waited


class _CircuitListener(monitoring.CommandListener):
    """A successful command closes the circuit; failures are counted where they are raised."""

    def __init__(self, circuit: Circuit) -> None:
        self.circuit = circuit

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.circuit.succeeded()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class _HeartbeatListener(monitoring.ServerHeartbeatListener):
    """The client's monitor checks the server every few seconds even when no request does:
    its success closes a circuit that no request probes."""

    def __init__(self, circuit: Circuit) -> None:
        self.circuit = circuit

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        self.circuit.succeeded()

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        pass  # a server slow under a flood misses heartbeats too: only requests count


def database(
    client: AsyncMongoClient[dict[str, Any]], settings: InfraSettings
) -> AsyncDatabase[dict[str, Any]]:
    return client[settings.mongodb_db]


async def insert_new(collection: AsyncCollection[Any], docs: list[dict[str, Any]]) -> set[int]:
    """Insert the documents whose ``_id`` is not stored yet (a redelivery inserts none); the
    positions in ``docs`` of those already there. Any other write error is raised."""
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if not errors or any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise
        return {error["index"] for error in errors}
    return set()
