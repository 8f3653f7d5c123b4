"""One attempt at one delivery, by channel: a signed webhook POST, or an e-mail over SMTP."""

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from notifier.delivery.schedule import retry_after, retryable
from notifier.delivery.signing import signed_headers
from notifier.targets import TargetRefused
from shared.clock import now
from shared.telemetry import client_span

WEBHOOK_SPAN = client_span("POST webhook")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retry: bool
    status_code: int | None
    latency_ms: float
    error: str | None = None
    retry_after_s: float | None = None


class Sender(Protocol):
    async def send(self, delivery: dict[str, Any], subscription: dict[str, Any]) -> Outcome: ...


def active_secrets(subscription: dict[str, Any], at: datetime) -> list[str]:
    return [
        s["secret"]
        for s in subscription["secrets"]
        if s["expires_at"] is None or s["expires_at"] > at
    ]


class WebhookSender:
    def __init__(
        self, client: httpx.AsyncClient, timeout_s: float, max_response_bytes: int
    ) -> None:
        self.client = client
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes

    async def send(self, delivery: dict[str, Any], subscription: dict[str, Any]) -> Outcome:
        body: bytes = delivery["body"]
        headers = {
            "content-type": delivery["content_type"],
            **signed_headers(active_secrets(subscription, now()), delivery["msg_id"], body),
        }
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                status, wait = await self._post(subscription["url"], body, headers)
        except TimeoutError:
            return self._failed(started, f"no answer within {self.timeout_s:g} s")
        except TargetRefused as exc:
            return self._failed(started, f"refused: {exc}")
        except httpx.HTTPError as exc:
            return self._failed(started, f"{type(exc).__name__}: {exc}"[:300])
        latency = (time.perf_counter() - started) * 1000
        if 200 <= status < 300:
            return Outcome(True, False, status, latency)
        error = f"the receiver answered {status}"
        if 300 <= status < 400:
            error += " (redirects are not followed)"
        return Outcome(False, retryable(status), status, latency, error, wait)

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, float | None]:
        async with self.client.stream(
            "POST", url, content=body, headers=headers, extensions=WEBHOOK_SPAN
        ) as response:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= self.max_response_bytes:
                    break
            return response.status_code, retry_after(response.headers.get("retry-after"))

    @staticmethod
    def _failed(started: float, error: str) -> Outcome:
        return Outcome(False, True, None, (time.perf_counter() - started) * 1000, error)
