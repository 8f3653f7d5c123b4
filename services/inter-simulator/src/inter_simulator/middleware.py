"""Rate limits and faults around every bank endpoint, before auth, as a gateway would do."""

import asyncio
import json
import math
import re

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inter_simulator.problems import problem_body
from inter_simulator.simulator import Simulator

log = structlog.get_logger()

_CHARGES = "/cobranca/v3/cobrancas"
_ROUTES: list[tuple[frozenset[str], re.Pattern[str], str]] = [
    (frozenset({"POST"}), re.compile(r"/oauth/v2/token"), "token"),
    (frozenset({"PUT", "GET", "DELETE"}), re.compile(f"{_CHARGES}/webhook"), "webhook"),
    (frozenset({"GET"}), re.compile(f"{_CHARGES}/webhook/callbacks"), "callbacks"),
    (frozenset({"GET"}), re.compile(f"{_CHARGES}/sumario"), "summary"),
    (frozenset({"POST"}), re.compile(_CHARGES), "issue"),
    (frozenset({"GET"}), re.compile(_CHARGES), "list"),
    (frozenset({"GET"}), re.compile(f"{_CHARGES}/[^/]+/pdf"), "pdf"),
    (frozenset({"POST"}), re.compile(f"{_CHARGES}/[^/]+/cancelar"), "cancel"),
    (frozenset({"GET"}), re.compile(f"{_CHARGES}/[^/]+"), "get"),
]


def endpoint_group(method: str, path: str) -> str | None:
    path = path.rstrip("/")
    for methods, pattern, group in _ROUTES:
        if method in methods and pattern.fullmatch(path):
            return group
    return None


class SimulatorMiddleware:
    def __init__(self, app: ASGIApp, simulator: Simulator) -> None:
        self.app = app
        self.sim = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        group = endpoint_group(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if group is None:
            await self.app(scope, receive, send)
            return
        wait = self.sim.limiter.acquire(group)
        if wait is not None:
            log.info("limit.throttled", group=group, wait_seconds=round(wait, 3))
            await send_problem(send, 429, "Limite de requisições excedido", self._retry_after(wait))
            return
        fault = self.sim.faults.draw(group)
        if fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault.kind in ("error", "timeout"):
            await self._fail(group, fault.kind, fault.status, send)
        elif fault.kind == "malformed":
            await self.app(scope, receive, self._malforming(group, send))
        else:
            await self.app(scope, receive, send)

    def _retry_after(self, wait: float) -> dict[str, str]:
        if not self.sim.limiter.config.retry_after:
            return {}
        return {"retry-after": str(max(1, math.ceil(wait)))}

    async def _fail(self, group: str, kind: str, status: int, send: Send) -> None:
        self.sim.faults.count(group, kind)
        log.info("fault.injected", group=group, kind=kind, status=status)
        if kind == "timeout":
            await asyncio.sleep(self.sim.faults.config.timeout_seconds)
        await send_problem(send, status, "Falha simulada")

    def _malforming(self, group: str, send: Send) -> Send:
        start: Message = {}
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = dict(start.get("headers", []))
            is_json = headers.get(b"content-type", b"").startswith(b"application/json")
            if 200 <= start["status"] < 300 and is_json and body:
                body = self.sim.faults.malform(body)
                self.sim.faults.count(group, "malformed")
                headers[b"content-length"] = str(len(body)).encode()
                start = {**start, "headers": list(headers.items())}
            await send(start)
            await send({"type": "http.response.body", "body": body})

        return buffered


async def send_problem(
    send: Send, status: int, detail: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps(problem_body(status, detail)).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((name.encode(), value.encode()) for name, value in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
