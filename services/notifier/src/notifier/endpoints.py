"""``/v1/webhooks``, ``/v1/email`` (with its confirmation link) and ``/v1/events/stream``:
HTTP translated into service calls."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse

from notifier import filters
from notifier.schemas import (
    Delivery,
    DeliveryList,
    EmailConfirmed,
    EmailSettings,
    EmailStatus,
    SecretRotated,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
)
from notifier.service import (
    ConfirmationInvalid,
    EmailUnavailable,
    WebhookLimitReached,
    WebhookService,
)
from notifier.stream import LiveStream, StreamLimitReached
from notifier.targets import TargetRefused
from shared.auth import Principal, require_principal
from shared.auth.streams import until_revoked
from shared.http.problems import Problem
from shared.pagination import InvalidCursor
from shared.service import AppStopping

router = APIRouter(tags=["webhooks"])
Auth = Annotated[Principal, Depends(require_principal)]
STREAM_RETRY_AFTER_S = 30


async def _service(request: Request) -> WebhookService:
    return request.app.state.deps.webhooks  # type: ignore[no-any-return]


async def _stream(request: Request) -> LiveStream:
    return request.app.state.deps.stream  # type: ignore[no-any-return]


Service = Annotated[WebhookService, Depends(_service)]
Stream = Annotated[LiveStream, Depends(_stream)]


def _no_webhook(webhook_id: str) -> Problem:
    return Problem(404, "not_found", f"no webhook {webhook_id}")


def _webhook(doc: dict[str, Any] | None, webhook_id: str) -> Webhook:
    if doc is None:
        raise _no_webhook(webhook_id)
    return Webhook.from_document(doc)


def _no_email() -> Problem:
    return Problem(404, "not_found", "no e-mail notifications are set up")


@router.post(
    "/v1/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    responses={
        409: {"description": "the tenant's webhook limit is reached (webhook_limit_reached)"},
        422: {"description": "invalid input, or a URL webhooks may not reach"},
    },
)
async def create_webhook(body: WebhookCreate, principal: Auth, service: Service) -> JSONResponse:
    try:
        doc = await service.create(principal.tenant, body)
    except TargetRefused as exc:
        raise Problem(422, "invalid_webhook_url", str(exc)) from None
    except WebhookLimitReached as exc:
        raise Problem(409, "webhook_limit_reached", str(exc)) from None
    created = WebhookCreated(
        **Webhook.from_document(doc).model_dump(), secret=doc["secrets"][0]["secret"]
    )
    return JSONResponse(
        created.model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/v1/webhooks/{doc['_id']}"},
    )


@router.get("/v1/webhooks", response_model=WebhookList)
async def list_webhooks(principal: Auth, service: Service) -> WebhookList:
    docs = await service.of_tenant(principal.tenant)
    return WebhookList(items=[Webhook.from_document(d) for d in docs])


@router.get("/v1/webhooks/{webhook_id}", response_model=Webhook)
async def get_webhook(webhook_id: str, principal: Auth, service: Service) -> Webhook:
    return _webhook(await service.get(principal.tenant, webhook_id), webhook_id)


@router.delete("/v1/webhooks/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, principal: Auth, service: Service) -> Response:
    if not await service.delete(principal.tenant, webhook_id):
        raise _no_webhook(webhook_id)
    return Response(status_code=204)


@router.post("/v1/webhooks/{webhook_id}/rotate-secret", response_model=SecretRotated)
async def rotate_secret(webhook_id: str, principal: Auth, service: Service) -> SecretRotated:
    rotated = await service.rotate(principal.tenant, webhook_id)
    if rotated is None:
        raise _no_webhook(webhook_id)
    secret, doc = rotated
    return SecretRotated(secret=secret, previous_secret_expires_at=doc["secrets"][1]["expires_at"])


@router.post("/v1/webhooks/{webhook_id}/enable", response_model=Webhook)
async def enable_webhook(webhook_id: str, principal: Auth, service: Service) -> Webhook:
    return _webhook(await service.enable(principal.tenant, webhook_id), webhook_id)


@router.get("/v1/webhooks/{webhook_id}/deliveries", response_model=DeliveryList)
async def list_deliveries(
    webhook_id: str,
    principal: Auth,
    service: Service,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> DeliveryList:
    try:
        page = await service.delivery_page(principal.tenant, webhook_id, status, limit, cursor)
    except InvalidCursor as exc:
        raise Problem(422, "invalid_cursor", str(exc)) from None
    if page is None:
        raise _no_webhook(webhook_id)
    items = [Delivery.from_document(d) for d in page.items]
    return DeliveryList(items=items, next_cursor=page.next_cursor)


@router.put("/v1/email", response_model=EmailStatus, tags=["email"])
async def set_email(body: EmailSettings, principal: Auth, service: Service) -> EmailStatus:
    """Each recipient not confirmed yet is sent a confirmation link, and nothing else."""
    try:
        doc = await service.set_email(principal.tenant, body)
    except EmailUnavailable as exc:
        raise Problem(409, "email_unavailable", str(exc)) from None
    return EmailStatus.from_document(doc)


@router.get("/v1/email", response_model=EmailStatus, tags=["email"])
async def get_email(principal: Auth, service: Service) -> EmailStatus:
    doc = await service.get_email(principal.tenant)
    if doc is None:
        raise _no_email()
    return EmailStatus.from_document(doc)


Token = Annotated[str, Query(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
CONFIRM_PAGE = """<!doctype html><title>Confirm e-mail notifications</title>
<form method="post" action="/v1/email/confirm?token={token}">
<p>Receive the schedule platform's notifications at this address?</p>
<button type="submit">Confirm</button></form>
"""


@router.get("/v1/email/confirm", response_class=HTMLResponse, tags=["email"])
async def confirm_email_page(token: Token) -> HTMLResponse:
    """The confirmation link's page: confirming takes a click (a POST), so a mail scanner
    that fetches links does not confirm on the reader's behalf. No API key needed."""
    return HTMLResponse(CONFIRM_PAGE.format(token=token))


@router.post(
    "/v1/email/confirm",
    response_model=EmailConfirmed,
    tags=["email"],
    responses={404: {"description": "unknown, used or expired link (confirmation_invalid)"}},
)
async def confirm_email(token: Token, service: Service) -> EmailConfirmed:
    """Confirm the recipient the link was mailed to; the token works once. No API key needed."""
    try:
        address = await service.confirm_email(token)
    except ConfirmationInvalid as exc:
        raise Problem(404, "confirmation_invalid", str(exc)) from None
    return EmailConfirmed(address=address)


@router.delete("/v1/email", status_code=204, tags=["email"])
async def delete_email(principal: Auth, service: Service) -> Response:
    if not await service.delete_email(principal.tenant):
        raise _no_email()
    return Response(status_code=204)


@router.get(
    "/v1/events/stream",
    tags=["events"],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        429: {"description": "the tenant's open streams are at its limit (stream_limit_reached)"},
    },
)
async def stream_events(
    request: Request,
    principal: Auth,
    stream: Stream,
    stopping: AppStopping,
    last_event_id: Annotated[str | None, Header(max_length=200)] = None,
    events: Annotated[str | None, Query(description="filters, comma-separated")] = None,
) -> StreamingResponse:
    """Server-Sent Events of the tenant's events; ``Last-Event-ID`` resumes after a gap."""
    try:
        body = await stream.open(principal.tenant, _stream_filters(events), last_event_id)
    except StreamLimitReached as exc:
        problem = Problem(429, "stream_limit_reached", str(exc))
        problem.headers["Retry-After"] = str(STREAM_RETRY_AFTER_S)
        raise problem from None
    # the stream ends when the replica is asked to stop; the client resumes on another one
    body = stopping.until(body)
    body = until_revoked(request, body)  # and soon after its key is revoked
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _stream_filters(events: str | None) -> list[str]:
    if not events:
        return []
    try:
        return [filters.check(p) for p in events.split(",") if p.strip()]
    except filters.InvalidFilter as exc:
        raise Problem(422, "validation_error", str(exc)) from None
