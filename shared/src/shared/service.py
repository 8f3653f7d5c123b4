"""The skeleton every service shares: its HTTP app, its worker process, its subscriptions.

A service supplies only its wiring (``bootstrap.py``): what to build from the open
infrastructure, and for the worker which subscriptions, outbox relays and loops to run.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from shared.bootstrap import Infra
from shared.events import Event
from shared.http.app import attach_infra, build_app
from shared.http.ops import Check, serve_ops
from shared.logging import configure_logging
from shared.memory import TRIM_EVERY_S, release_free_memory, startup_objects_frozen
from shared.messaging import OutboxRelay, Subscription
from shared.messaging.consumer import DeadHandler, Handler
from shared.messaging.metrics import OutboxSampler, QueueSampler, sample_every
from shared.metrics import process_exiting
from shared.runtime import Stopping, every, on_stop_signal, serve_until_stopped
from shared.settings import InfraSettings, WorkerSettings
from shared.telemetry import configure_telemetry, shutdown_telemetry

ApiWiring = Callable[[Infra], AbstractAsyncContextManager[Any]]
OUTBOX_SWEEP_S = 2.0


def service_app(
    name: str,
    description: str,
    routers: list[APIRouter],
    wire: ApiWiring,
    infra_settings: InfraSettings | None = None,
) -> FastAPI:
    """The HTTP app of a service. Its lifespan opens the infrastructure, enters ``wire`` (whose
    value routes read as ``request.app.state.deps``) and closes both in reverse order. From
    the stop signal on, ``app.state.stopping`` is set and the app reports itself not ready."""
    infra_settings = infra_settings or InfraSettings()
    configure_logging(name, infra_settings)
    configure_telemetry(name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        infra = await Infra.open(infra_settings)
        app.state.stopping = stopping = Stopping()
        trimming: asyncio.Task[None] | None = None

        def stop() -> None:
            stopping.set()
            app.state.readiness.serving = False

        try:
            await attach_infra(app, infra)
            async with wire(infra) as deps:
                app.state.deps = deps
                with startup_objects_frozen(), on_stop_signal(stop):
                    trimming = asyncio.create_task(
                        every(TRIM_EVERY_S, release_free_memory, "memory")
                    )
                    app.state.readiness.serving = True
                    yield
                app.state.readiness.serving = False
        finally:
            if trimming is not None:
                trimming.cancel()
            await infra.close()
            process_exiting()
            shutdown_telemetry()  # the last requests' spans, before the process ends

    return build_app(name, description, lifespan, routers)


async def _stopping(request: Request) -> Stopping:
    return request.app.state.stopping  # type: ignore[no-any-return]


# for routes that hold a request open until something happens: ``stopping.first(...)``
AppStopping = Annotated[Stopping, Depends(_stopping)]


@dataclass
class Worker:
    """What a worker process runs besides its ops endpoints."""

    subscriptions: list[Subscription]
    relays: list[OutboxRelay] = field(default_factory=list)  # swept every OUTBOX_SWEEP_S
    loops: list[Coroutine[Any, Any, None]] = field(default_factory=list)
    checks: dict[str, Check] = field(default_factory=dict)  # the process's own readiness
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


WorkerWiring = Callable[[Infra], Awaitable[Worker]]


async def run_worker(
    wire: WorkerWiring, settings: WorkerSettings, infra_settings: InfraSettings
) -> None:
    """Open the infrastructure, wire the worker and serve until SIGTERM/SIGINT, then drain."""
    infra = await Infra.open(infra_settings)
    try:
        worker = await wire(infra)
    except BaseException:
        await infra.close()
        raise
    readiness = infra.readiness(worker.checks)
    loops = [
        *(every(OUTBOX_SWEEP_S, relay.sweep, "outbox") for relay in worker.relays),
        *worker.loops,
        _sample_metrics(infra, worker),
        serve_ops(readiness, settings.host, settings.ops_port),
    ]
    drains = [relay.drain for relay in worker.relays]
    closers = [*drains, *worker.closers, infra.close]
    grace_s = infra_settings.shutdown_grace_s
    await serve_until_stopped(worker.subscriptions, loops, closers, readiness, grace_s)


def _sample_metrics(infra: Infra, worker: Worker) -> Coroutine[Any, Any, None]:
    """The depths of the worker's own queues and the backlogs of its outboxes, in /metrics."""
    queues = QueueSampler(infra.broker, [s.queue for s in worker.subscriptions])
    outboxes = OutboxSampler([relay.outbox for relay in worker.relays])
    return sample_every(infra.settings.metrics_sample_s, [queues, outboxes])


def worker_main(name: str, settings: WorkerSettings, wire: WorkerWiring) -> None:
    """The ``main()`` of a worker process named ``name`` in logs and traces."""
    infra_settings = InfraSettings()
    configure_logging(name, infra_settings)
    configure_telemetry(name)
    try:
        asyncio.run(run_worker(wire, settings, infra_settings))
    finally:
        shutdown_telemetry()


def subscribe(
    infra: Infra,
    queue: str,
    handlers: dict[type[Event], Handler],
    *,
    prefetch: int,
    on_dead: DeadHandler | None = None,
) -> Subscription:
    """A subscription with the platform's retry policy (attempts and backoff from settings),
    whose handlers log the ids of the job their event concerns on every line."""
    return Subscription(
        infra.broker,
        queue,
        handlers,
        prefetch=prefetch,
        max_attempts=infra.settings.max_delivery_attempts,
        base_delay_ms=infra.settings.retry_base_delay_ms,
        on_dead=on_dead,
        outages=infra.outages,
    )
