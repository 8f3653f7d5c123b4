"""The live stream of one replica: tenants apart, filters, resume, slow clients dropped."""

from typing import Any

from notifier.stream import Frame, StreamHub, frames


def frame(n: int) -> Frame:
    return Frame(f"ev_{n}", "conversion.completed.v1", f'{{"n":{n}}}')


async def no_replay(_: str | None) -> list[dict[str, Any]]:
    raise AssertionError("the replica heard the event itself; no database read expected")


async def test_clients_get_only_their_tenants_events_that_match_their_filters() -> None:
    hub = StreamHub(queue_size=10)
    mine, filtered = hub.connect("a", []), hub.connect("a", ["conversion.failed"])
    other = hub.connect("b", [])
    hub.publish("a", "conversion.completed", frame(1))
    assert mine.queue.qsize() == 1 and filtered.queue.empty() and other.queue.empty()


async def test_a_client_that_cannot_keep_up_is_dropped() -> None:
    hub = StreamHub(queue_size=2)
    slow = hub.connect("a", [])
    for n in range(3):
        hub.publish("a", "conversion.completed", frame(n))
    assert slow.overflowed
    hub.publish("a", "conversion.completed", frame(4))
    assert slow.queue.qsize() == 2


async def test_resume_from_what_the_replica_heard_then_live() -> None:
    hub = StreamHub(queue_size=10)
    for n in range(4):
        hub.publish("a", "conversion.completed", frame(n))
    client = hub.connect("a", [])
    body = frames(hub, client, no_replay, "ev_1", heartbeat_s=0.01)
    chunks = [await anext(body) for _ in range(3)]
    assert chunks[0].startswith("retry:")
    assert chunks[1] == 'id: ev_2\nevent: conversion.completed.v1\ndata: {"n":2}\n\n'
    assert chunks[2].startswith("id: ev_3\n")
    assert await anext(body) == ": keep-alive\n\n"
    hub.publish("a", "conversion.completed", frame(3))  # heard again: not sent twice
    hub.publish("a", "conversion.completed", frame(5))
    assert (await anext(body)).startswith("id: ev_5\n")


async def test_an_unknown_last_event_id_resumes_from_the_replay_window() -> None:
    hub = StreamHub(queue_size=10)
    client = hub.connect("a", [])
    asked: list[str | None] = []

    async def replay(last_id: str | None) -> list[dict[str, Any]]:
        asked.append(last_id)
        return [{"_id": "ev_9", "type": "conversion.completed.v1", "data": "{}"}]

    body = frames(hub, client, replay, "ev_8", heartbeat_s=1)
    await anext(body)
    assert (await anext(body)).startswith("id: ev_9\n") and asked == ["ev_8"]


def test_recent_events_are_bounded_per_tenant_and_in_tenants() -> None:
    hub = StreamHub(queue_size=1, recent_per_tenant=3, tenants=2)
    for n in range(5):
        hub.publish("a", "conversion.completed", frame(n))
    assert hub.heard_after("a", "ev_0") is None
    assert [f.id for _, f in hub.heard_after("a", "ev_2") or []] == ["ev_3", "ev_4"]
    hub.publish("b", "conversion.completed", frame(1))
    hub.publish("c", "conversion.completed", frame(1))
    assert hub.heard_after("a", "ev_4") is None  # the least recent tenant was forgotten
