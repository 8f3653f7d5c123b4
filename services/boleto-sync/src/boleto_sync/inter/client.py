"""The Inter client: every call reserves a slot of its endpoint group, then retries 429, 5xx
and timeouts with exponential backoff up to a budget; other 4xx raise at once."""

import asyncio
import base64
import binascii
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from boleto_sync.inter.errors import (
    InterDuplicate,
    InterError,
    InterMalformed,
    InterNotFound,
    InterRejected,
    InterThrottled,
    InterUnavailable,
)
from boleto_sync.inter.metrics import called, transport_failure
from boleto_sync.inter.token import SharedToken
from shared.ratelimit.gcra import GlobalRateLimiter
from shared.telemetry import client_span

log = structlog.get_logger()
BASE = "/cobranca/v3/cobrancas"
PROCESSING = "EM_PROCESSAMENTO"  # the charge's situacao until the bank has issued it
ISSUE_FAILED = "FALHA_EMISSAO"  # ... or when it could not


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int) -> float:
        exp = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        return exp * random.uniform(0.5, 1.0)


class InterClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        limiter: GlobalRateLimiter,
        token: SharedToken,
        account: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.http, self.limiter, self.token = http, limiter, token
        self.account = account
        self.retry = retry or RetryPolicy()

    async def issue(self, charge: dict[str, Any]) -> str:
        # not idempotent: a lost answer may hide a charge the bank made, so only a 429 (which
        # the bank did not process) is retried here; the caller looks for the charge first
        body = await self._call("issue", "POST", BASE, safe_to_repeat=False, json=charge)
        return _field(body, "codigoSolicitacao")

    async def get(self, codigo: str) -> dict[str, Any]:
        body = await self._call("get", "GET", f"{BASE}/{codigo}")
        charge = _field(body, "cobranca")
        if not isinstance(charge, dict) or not isinstance(charge.get("situacao"), str):
            raise InterMalformed("the charge has no situacao")
        if charge["situacao"] in ("A_RECEBER", "ATRASADO") and not _issued_fields(body):
            raise InterMalformed("an issued charge without its boleto and pix data")
        return body

    async def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._call("list", "GET", BASE, params=params)

    async def pdf(self, codigo: str) -> bytes:
        body = await self._call("pdf", "GET", f"{BASE}/{codigo}/pdf")
        try:
            pdf = base64.b64decode(_field(body, "pdf"), validate=True)
        except (binascii.Error, ValueError):
            raise InterMalformed("the PDF is not valid base64") from None
        if not pdf.startswith(b"%PDF"):
            raise InterMalformed("the bank's PDF does not start with %PDF")
        return pdf

    async def set_webhook(self, url: str) -> None:
        await self._call("webhook", "PUT", f"{BASE}/webhook", json={"webhookUrl": url})

    async def _call(
        self, group: str, method: str, path: str, safe_to_repeat: bool = True, **kwargs: Any
    ) -> Any:
        for attempt in range(1, self.retry.attempts + 1):
            await self.limiter.acquire(group)
            try:
                return await self._once(group, method, path, **kwargs)
            except InterThrottled as exc:
                retry_after = _retry_after(exc.body)
                await self.limiter.throttled(
                    group, None if retry_after is None else retry_after * 2 ** (attempt - 1)
                )
                failure: InterError = exc
            except InterUnavailable as exc:
                if not safe_to_repeat:
                    raise
                failure = exc
                await asyncio.sleep(self.retry.delay(attempt))
            log.warning("inter.retry", group=group, attempt=attempt, error=str(failure))
        raise failure

    async def _once(self, group: str, method: str, path: str, **kwargs: Any) -> Any:
        token = await self.token.get()
        headers = {"Authorization": f"Bearer {token}"}
        if self.account:
            headers["x-conta-corrente"] = self.account
        operation = client_span(f"inter {group}", {"inter.operation": group})
        started = time.perf_counter()
        try:
            response = await self.http.request(
                method, path, headers=headers, extensions=operation, **kwargs
            )
        except httpx.TimeoutException as exc:
            called(group, "timeout", started)
            raise InterUnavailable(f"{group}: timed out") from exc
        except httpx.TransportError as exc:
            called(group, "error", started)
            raise InterUnavailable(f"{group}: {type(exc).__name__}") from exc
        called(group, response.status_code, started)
        if response.status_code == 401:
            await self.token.invalidate(token)
            raise InterUnavailable(f"{group}: token refused", 401)
        return _decode(group, response)


def _issued_fields(body: dict[str, Any]) -> bool:
    boleto, pix = body.get("boleto"), body.get("pix")
    return isinstance(boleto, dict) and bool(boleto.get("linhaDigitavel")) and isinstance(pix, dict)


def _decode(group: str, response: httpx.Response) -> Any:
    status = response.status_code
    body = _json(response)
    if status == 429:
        raise InterThrottled(
            f"{group}: throttled", 429, {"retry_after": response.headers.get("retry-after")}
        )
    if status >= 500:
        raise InterUnavailable(f"{group}: bank answered {status}", status, body)
    if status == 404:
        raise InterNotFound(f"{group}: not found", status, body)
    if status == 409:
        raise InterDuplicate(f"{group}: duplicate", status, body)
    if status >= 400:
        raise InterRejected(f"{group}: {_detail(body) or status}", status, body)
    if body is None and not response.content:
        return {}  # 202 / 204 without a body
    if body is None:
        raise InterMalformed(f"{group}: the response is not JSON", status)
    return body


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _field(body: Any, name: str) -> Any:
    if not isinstance(body, dict) or body.get(name) in (None, ""):
        raise InterMalformed(f"the response has no {name!r}")
    return body[name]


def _detail(body: Any) -> str | None:
    return str(body.get("detail") or body.get("title")) if isinstance(body, dict) else None


def _retry_after(body: Any) -> float | None:
    value = body.get("retry_after") if isinstance(body, dict) else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


async def fetch_token(
    http: httpx.AsyncClient,
    limiter: GlobalRateLimiter,
    client_id: str,
    client_secret: str,
    scope: str,
) -> tuple[str, float]:
    """The client-credentials call itself (rate limited like any other group)."""
    for attempt in range(1, 6):
        await limiter.acquire("token")
        started = time.perf_counter()
        try:
            response = await http.post(
                "/oauth/v2/token",
                data={
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "grant_type": "client_credentials",
                    "scope": scope,
                },
                extensions=client_span("oauth token", {"inter.operation": "token"}),
            )
        except httpx.TransportError as exc:
            called("token", transport_failure(exc), started)
            log.warning("inter.token.retry", attempt=attempt, error=type(exc).__name__)
            await asyncio.sleep(RetryPolicy().delay(attempt))
            continue
        called("token", response.status_code, started)
        if response.status_code == 429:
            await limiter.throttled(
                "token", _retry_after({"retry_after": response.headers.get("retry-after")})
            )
            continue
        if response.status_code >= 500:
            await asyncio.sleep(RetryPolicy().delay(attempt))
            continue
        body = _decode("token", response)
        return str(_field(body, "access_token")), float(body.get("expires_in") or 3600)
    raise InterUnavailable("token: no token after retries")
