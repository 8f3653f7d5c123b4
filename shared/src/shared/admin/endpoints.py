"""``/v1/admin/queues``: every platform queue's depth, and replay of its dead letters (admin).

A service whose jobs a dead letter leaves failed puts a ``before_replay`` mapping (queue name
-> ``BeforeReplay``) on its ``ApiDeps``: each replayed message of that queue passes through it
before it goes back, so the job can be set back to where a fresh attempt finds it.
"""

import math
from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from shared.admin.audit import admin_key, audited
from shared.admin.queues import BeforeReplay, NotDeclared, QueueAdmin, QueueView, UnknownQueue
from shared.auth import Principal
from shared.circuit import Unavailable
from shared.http.problems import Problem
from shared.queues import PLATFORM_QUEUES

router = APIRouter(prefix="/v1/admin/queues", tags=["admin"])
T = TypeVar("T")


class QueueDepth(BaseModel):
    queue: str
    declared: bool = Field(description="false until the queue's consumer first started")
    ready: int | None = Field(description="messages waiting in the queue")
    consumers: int | None = Field(description="subscriptions reading the queue now")
    dead_letters: int | None = Field(description="messages in `<queue>.dlq`")
    retrying: dict[str, int | None] = Field(
        description="messages waiting out a backoff, per `<queue>.retry.<ms>ms` queue"
    )


class QueueList(BaseModel):
    queues: list[QueueDepth]


class ReplayRequest(BaseModel):
    limit: int = Field(100, ge=1, le=10_000, description="move at most this many")


class ReplayResult(BaseModel):
    queue: str
    moved: int = Field(description="dead letters put back on the queue")


async def _queue_admin(request: Request) -> QueueAdmin:
    settings = request.app.state.infra.settings
    return QueueAdmin(
        request.app.state.infra.broker,
        settings.retry_base_delay_ms,
        settings.max_delivery_attempts,
    )


def _before_replay(request: Request, queue: str) -> BeforeReplay | None:
    hooks: dict[str, BeforeReplay] = getattr(request.app.state.deps, "before_replay", {})
    return hooks.get(queue)


@router.get(
    "",
    response_model=QueueList,
    summary="Depth, consumers, retries and dead letters of every platform queue",
)
async def list_queues(
    principal: Annotated[Principal, admin_key("queues.view")],
    admin: Annotated[QueueAdmin, Depends(_queue_admin)],
) -> QueueList:
    """Every platform queue, declared or not: messages ready, consumers, dead letters, and
    messages waiting out a retry. `503 unavailable` while the broker is out of reach."""
    with audited(principal, "queues.view", "*") as fields:
        views = await _answered(admin.views())
        fields["dead_letters"] = sum(view.dead_letters or 0 for view in views)
    return QueueList(queues=[_depth(view) for view in views])


@router.post(
    "/{queue}/replay",
    response_model=ReplayResult,
    summary="Move dead letters of a queue back to it, for a fresh round of attempts",
    responses={404: {"description": "not one of the platform's queues (`not_found`)"}},
)
async def replay_queue(
    queue: str,
    body: ReplayRequest,
    request: Request,
    principal: Annotated[Principal, admin_key("queues.replay")],
    admin: Annotated[QueueAdmin, Depends(_queue_admin)],
) -> ReplayResult:
    """Move up to `limit` dead letters of `queue` back to it, with the attempt count reset
    (a fresh round of attempts) and the CloudEvents id kept. A conversion request's job,
    failed because the request ran out of attempts, is queued again first.
    `404 not_found` for a queue that is not the platform's, `409 not_declared` before its
    consumer first started."""
    with audited(principal, "queues.replay", queue) as fields:
        fields["limit"] = body.limit
        try:
            moved = await _answered(admin.replay(queue, body.limit, _before_replay(request, queue)))
        except UnknownQueue:
            known = ", ".join(PLATFORM_QUEUES)
            raise Problem(404, "not_found", f"no queue {queue}; the queues are {known}") from None
        except NotDeclared:
            raise Problem(
                409, "not_declared", f"{queue} is not declared yet: its consumer never started"
            ) from None
        fields["moved"] = moved
    return ReplayResult(queue=queue, moved=moved)


async def _answered(call: Awaitable[T]) -> T:
    """The call's result; the broker (or a replay's database) out of reach answers 503."""
    try:
        return await call
    except Unavailable as outage:
        retry_after = max(1, math.ceil(outage.retry_after_s))
        problem = Problem(
            503,
            "unavailable",
            f"{outage.dependency} is unavailable; retry after {retry_after} s",
            dependency=outage.dependency,
        )
        problem.headers["Retry-After"] = str(retry_after)
        raise problem from None


def _depth(view: QueueView) -> QueueDepth:
    return QueueDepth(
        queue=view.queue,
        declared=view.declared,
        ready=view.ready,
        consumers=view.consumers,
        dead_letters=view.dead_letters,
        retrying=view.retrying,
    )
