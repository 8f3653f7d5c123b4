"""The live stream of each API replica: its own broadcast queue, handed to its SSE clients.

Every replica hears every deliverable event (an exclusive queue per process), so a client
gets its tenant's events from whichever replica it is connected to. A client too slow to keep
up is dropped; it reconnects with ``Last-Event-ID`` and resumes: from the events this replica
heard itself when the last one is among them (complete even while the worker that writes the
replay window lags behind), from the replay window in MongoDB otherwise.
"""

import asyncio
import weakref
from collections import OrderedDict, defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from prometheus_client import Gauge

from notifier.cloudevent import compact, structured
from notifier.filters import matches_any
from notifier.repository.replay import ReplayRepository
from notifier.repository.streams import StreamSlots
from shared.messaging.envelope import Received
from shared.tenants import TenantLimits, TenantSettings

# summed over the live processes of an API served by several
CLIENTS = Gauge("notifier_stream_clients", "SSE clients connected", multiprocess_mode="livesum")


@dataclass(frozen=True)
class Frame:
    id: str
    type: str
    data: str

    def encode(self) -> str:
        return f"id: {self.id}\nevent: {self.type}\ndata: {self.data}\n\n"


@dataclass(eq=False)
class Client:
    tenant: str
    filters: list[str]
    queue: asyncio.Queue[Frame] = field(default_factory=asyncio.Queue)
    overflowed: bool = False


class StreamHub:
    def __init__(self, queue_size: int, recent_per_tenant: int = 256, tenants: int = 1000) -> None:
        self.queue_size = queue_size
        self.recent_per_tenant = recent_per_tenant
        self.tenants = tenants
        self._clients: dict[str, set[Client]] = defaultdict(set)
        self._recent: OrderedDict[str, deque[tuple[str, Frame]]] = OrderedDict()

    def heard_after(self, tenant: str, last_id: str) -> list[tuple[str, Frame]] | None:
        """What this replica heard after ``last_id``; None when it did not hear that one."""
        recent = list(self._recent.get(tenant, ()))
        for index, (_, frame) in enumerate(recent):
            if frame.id == last_id:
                return recent[index + 1 :]
        return None

    def _remember(self, tenant: str, event_name: str, frame: Frame) -> None:
        recent = self._recent.get(tenant)
        if recent is None:
            recent = self._recent[tenant] = deque(maxlen=self.recent_per_tenant)
            while len(self._recent) > self.tenants:
                self._recent.popitem(last=False)
        self._recent.move_to_end(tenant)
        recent.append((event_name, frame))

    def connect(self, tenant: str, filters: list[str]) -> Client:
        client = Client(tenant, filters, asyncio.Queue(self.queue_size))
        self._clients[tenant].add(client)
        CLIENTS.inc()
        return client

    def disconnect(self, client: Client) -> None:
        clients = self._clients.get(client.tenant)
        if clients is not None and client in clients:
            clients.discard(client)
            CLIENTS.dec()
            if not clients:
                del self._clients[client.tenant]

    def on_event(self, received: Received) -> None:
        """The broadcast listener: an event as its publisher stamped it, to the tenant's clients."""
        event = received.event
        body, _ = structured(event, received.id, received.time, received.source)
        frame = Frame(received.id, event.routing_key(), compact(body))
        self.publish(event.tenant_id, type(event).name, frame)

    def publish(self, tenant: str, event_name: str, frame: Frame) -> None:
        self._remember(tenant, event_name, frame)
        for client in list(self._clients.get(tenant, ())):
            if client.filters and not matches_any(client.filters, event_name):
                continue
            try:
                client.queue.put_nowait(frame)
            except asyncio.QueueFull:
                client.overflowed = True
                self.disconnect(client)


class StreamLimitReached(Exception):
    """The tenant has as many event streams open as its limit allows."""


Replay = Callable[[str | None], Awaitable[list[dict[str, Any]]]]


async def missed(hub: StreamHub, client: Client, replay: Replay, last_event_id: str) -> list[Frame]:
    heard = hub.heard_after(client.tenant, last_event_id)
    if heard is None:
        docs = await replay(last_event_id)
        heard = [
            (d["type"].rsplit(".v", 1)[0], Frame(d["_id"], d["type"], d["data"])) for d in docs
        ]
    return [f for name, f in heard if not client.filters or matches_any(client.filters, name)]


async def frames(
    hub: StreamHub, client: Client, replay: Replay, last_event_id: str | None, heartbeat_s: float
) -> AsyncIterator[str]:
    """The SSE body: missed events (on resume), then live ones, with heartbeats between."""
    yield "retry: 3000\n\n"
    sent: set[str] = set()
    for frame in await missed(hub, client, replay, last_event_id) if last_event_id else []:
        sent.add(frame.id)
        yield frame.encode()
    while not client.overflowed:
        try:  # asyncio.timeout: 3.11's wait_for can swallow the cancel of a closed stream
            async with asyncio.timeout(heartbeat_s):
                frame = await client.queue.get()
        except TimeoutError:
            yield ": keep-alive\n\n"
            continue
        if frame.id not in sent:
            yield frame.encode()


@dataclass
class LiveStream:
    """A tenant's SSE stream from this replica: what it missed (on resume), then live events."""

    hub: StreamHub
    replay: ReplayRepository
    replay_max_events: int
    heartbeat_s: float
    slots: StreamSlots | None = None  # the tenants' open streams, across replicas
    tenants: TenantSettings | None = None  # their limits; the defaults without it

    async def open(
        self, tenant: str, wanted: list[str], last_event_id: str | None
    ) -> AsyncIterator[str]:
        """The SSE body, StreamLimitReached when the tenant has its limit's worth open. The
        client is connected before it is read, so no event published from now on is missed."""
        slot = await self._slot(tenant)
        client = self.hub.connect(tenant, wanted)
        body = self._body(client, last_event_id, slot)
        # a body never started (its request cancelled first) runs no ``finally``: once it is
        # gone, its client leaves the hub and its slot's lease is left to lapse
        weakref.finalize(body, self._abandoned, client, slot)
        return body

    def _abandoned(self, client: Client, slot: str | None) -> None:
        self.hub.disconnect(client)
        if slot is not None and self.slots is not None:
            self.slots.forget(slot)

    async def _slot(self, tenant: str) -> str | None:
        if self.slots is None:
            return None
        cap = (
            await self.tenants.limits(tenant) if self.tenants else TenantLimits()
        ).sse_connections
        slot = await self.slots.take(tenant, cap)
        if slot is None:
            raise StreamLimitReached(
                f"this tenant has {cap} event streams open, its limit; close one first"
            )
        return slot

    async def _body(
        self, client: Client, last_event_id: str | None, slot: str | None = None
    ) -> AsyncIterator[str]:
        load = partial(self.replay.after, client.tenant, limit=self.replay_max_events)
        try:
            async for chunk in frames(self.hub, client, load, last_event_id, self.heartbeat_s):
                yield chunk
        finally:
            self.hub.disconnect(client)
            if slot is not None and self.slots is not None:
                await self.slots.release(slot)
