"""The registered webhook and the bank's callbacks to it (background, with retries)."""

import asyncio
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from inter_simulator.problems import InterError, violation
from inter_simulator.schemas import BRASILIA

log = structlog.get_logger()
# the attempts ``GET /webhook/callbacks`` can list; a long benchmark forgets the oldest
HISTORY_SIZE = 100_000


@dataclass
class Registration:
    url: str
    created: datetime
    updated: datetime

    def view(self) -> dict[str, str]:
        return {
            "webhookUrl": self.url,
            "criacao": self.created.isoformat(timespec="milliseconds"),
            "atualizacao": self.updated.isoformat(timespec="milliseconds"),
        }


@dataclass(frozen=True)
class CallbackAttempt:
    """One POST of a callback to the webhook, as ``GET /webhook/callbacks`` lists it."""

    url: str
    attempt: int
    fired_at: datetime
    success: bool
    http_status: int | None
    error: str | None
    payload: list[dict[str, Any]]

    def concerns(self, codigo: str | None) -> bool:
        return codigo is None or any(item["codigoSolicitacao"] == codigo for item in self.payload)

    def view(self) -> dict[str, Any]:
        return {
            "webhookUrl": self.url,
            "numeroTentativa": self.attempt,
            "dataHoraDisparo": self.fired_at.isoformat(timespec="milliseconds"),
            "sucesso": self.success,
            "httpStatus": self.http_status,
            "mensagemErro": self.error,
            "payload": self.payload,
        }


@dataclass(frozen=True)
class DeliveryPolicy:
    retries: int
    retry_delay_seconds: float
    timeout_seconds: float


class Webhooks:
    def __init__(self, policy: DeliveryPolicy, allow_http: Callable[[], bool]) -> None:
        self.policy = policy
        self.allow_http = allow_http
        self.registration: Registration | None = None
        self.counts: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self.client: httpx.AsyncClient | None = None
        self.history: deque[CallbackAttempt] = deque(maxlen=HISTORY_SIZE)

    def register(self, url: str) -> None:
        parts = urlsplit(url)
        schemes = ("https", "http") if self.allow_http() else ("https",)
        if parts.scheme not in schemes or not parts.hostname:
            reason = "deve ser uma URL https válida"
            raise InterError(400, "webhookUrl inválida", [violation(reason, "webhookUrl", url)])
        now = datetime.now(BRASILIA)
        created = self.registration.created if self.registration else now
        self.registration = Registration(url, created, now)

    def current(self) -> Registration:
        if self.registration is None:
            raise InterError(404, "Nenhum webhook cadastrado")
        return self.registration

    def delete(self) -> None:
        self.current()
        self.registration = None

    def notify(self, items: list[dict[str, Any]]) -> None:
        if self.registration is None:
            return
        task = asyncio.create_task(self._deliver(self.registration.url, items))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def stats(self) -> dict[str, Any]:
        registered = self.registration.url if self.registration else None
        counts = {name: self.counts[name] for name in ("attempts", "delivered", "failed")}
        return {"url": registered, "pending": len(self.tasks), **counts}

    def attempts(
        self, start: datetime, end: datetime, codigo: str | None = None
    ) -> list[CallbackAttempt]:
        return [
            attempt
            for attempt in self.history
            if start <= attempt.fired_at <= end and attempt.concerns(codigo)
        ]

    def reset(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.registration = None
        self.counts.clear()
        self.history.clear()

    async def close(self) -> None:
        self.reset()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def _deliver(self, url: str, items: list[dict[str, Any]]) -> None:
        for attempt in range(self.policy.retries + 1):
            if attempt:
                await asyncio.sleep(self.policy.retry_delay_seconds * 2 ** (attempt - 1))
            self.counts["attempts"] += 1
            if await self._post(url, items, attempt + 1):
                self.counts["delivered"] += 1
                return
        self.counts["failed"] += 1
        log.warning("webhook.callback.failed", url=url, attempts=self.policy.retries + 1)

    async def _post(self, url: str, items: list[dict[str, Any]], attempt: int) -> bool:
        if self.client is None:
            # receivers in tests and local runs present self-signed certificates
            self.client = httpx.AsyncClient(timeout=self.policy.timeout_seconds, verify=False)
        at = datetime.now(BRASILIA)
        try:
            response = await self.client.post(url, json=items)
        except httpx.HTTPError as exc:
            log.info("webhook.callback.error", url=url, attempt=attempt, error=repr(exc))
            failure = f"falha de comunicação: {type(exc).__name__}"
            self.history.append(CallbackAttempt(url, attempt, at, False, None, failure, items))
            return False
        status, success = response.status_code, response.is_success
        log.info("webhook.callback.sent", url=url, attempt=attempt, status=status)
        refused = None if success else f"o destino respondeu HTTP {status}"
        self.history.append(CallbackAttempt(url, attempt, at, success, status, refused, items))
        return success
