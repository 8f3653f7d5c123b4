"""Each API key's request rate on every public API: ``429 rate_limited`` with ``Retry-After``
over it, and the ``RateLimit-Policy``/``RateLimit`` headers on every authenticated answer.

The check runs once the key is known (``shared.auth.require_principal``): probes and requests
without a valid key never reach it.
"""

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth.service import Principal
from shared.http.problems import Problem
from shared.ratelimit.requests import RequestRateLimits

_VERDICT = "rate_limit_headers"  # where the answer's headers wait in the request's state


async def limit_request(request: Request, principal: Principal) -> None:
    limits: RequestRateLimits | None = getattr(request.app.state, "rate_limits", None)
    if limits is None:
        return
    verdict = await limits.check(principal.key_id, principal.tenant)
    request.scope.setdefault("state", {})[_VERDICT] = verdict.headers
    if not verdict.allowed:
        raise _rate_limited(verdict.retry_after_s)


def _rate_limited(retry_after_s: int) -> Problem:
    return Problem(
        429,
        "rate_limited",
        f"this API key is over its request rate; retry after {retry_after_s} s",
        retry_after_s=retry_after_s,
    )


class RateLimitHeaders:
    """Adds the headers of the request's rate-limit verdict to its answer, whatever route or
    error handler produced it. Plain ASGI, like ``RequestTelemetry``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            headers = scope.get("state", {}).get(_VERDICT)
            if message["type"] == "http.response.start" and headers:
                extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
