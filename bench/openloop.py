"""An open-model HTTP load driver: requests leave at the times a schedule fixes, whatever the
server does, and each latency counts from its scheduled send, so a slow server cannot hide by
slowing the client down (no coordinated omission).

The client speaks just enough HTTP/1.1 over keep-alive connections to stay cheap: at 1,000
requests per second it must leave the cores to the system it measures. A request takes an idle
connection or opens one, up to ``max_connections``; past that it waits for one, and the wait
counts in its latency.
"""

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.stats import percentile


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass
class Sample:
    scheduled: float  # monotonic seconds
    latency_s: float | None  # from the scheduled send to the whole answer read; None: no answer
    status: int = 0
    error: str = ""
    body: bytes = b""


@dataclass
class Outcome:
    rate: float  # requests per second scheduled
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    connections: int = 0

    @property
    def answered(self) -> list[float]:
        return [s.latency_s * 1000 for s in self.samples if s.latency_s is not None]

    @property
    def errors(self) -> int:
        """Requests with no answer or a 5xx: what a user would call failed."""
        return sum(s.latency_s is None or s.status >= 500 for s in self.samples)

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for s in self.samples:
            counts[s.status] = counts.get(s.status, 0) + 1
        return counts

    def p(self, q: float) -> float:
        """The q-th percentile latency in ms, a request with no answer counting as infinite."""
        missing = len(self.samples) - len(self.answered)
        latencies = sorted(self.answered) + [float("inf")] * missing
        if not latencies:
            return float("nan")
        rank = (len(latencies) - 1) * q / 100
        if latencies[min(int(rank) + 1, len(latencies) - 1)] == float("inf"):
            return float("inf")
        return percentile(latencies, q)

    @property
    def achieved(self) -> float:
        """Answers per second over the scheduled window."""
        return len(self.answered) / self.seconds if self.seconds else 0.0


IDLE_S = 4.0  # an idle connection older than this is closed: uvicorn closes its end after 5 s


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = 0.0

    async def exchange(self, raw: bytes) -> tuple[int, bytes, bool]:
        """(status, body, whether the server keeps the connection open)."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, keep = 0, False, True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
        body = await self._chunked() if chunked else await self.reader.readexactly(length)
        return status, body, keep

    async def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            data = await self.reader.readexactly(size + 2)
            if size == 0:
                return b"".join(parts)
            parts.append(data[:-2])

    def close(self) -> None:
        self.writer.close()


class Driver:
    """Connections to one ``host:port``, shared by every request of a run."""

    def __init__(self, host: str, port: int, max_connections: int, timeout_s: float) -> None:
        self.host, self.port = host, port
        self.timeout_s = timeout_s
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self.opened = 0

    def encode(self, request: Request) -> bytes:
        lines = [f"{request.method} {request.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in request.headers]
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(request.body)}")
        return "\r\n".join(lines).encode() + b"\r\n\r\n" + request.body

    async def send(self, raw: bytes, scheduled: float, keep_body: bool = False) -> Sample:
        try:
            async with asyncio.timeout(self.timeout_s), self._slots:
                status, body, keep, connection = await self._exchange(raw)
                if keep:
                    connection.idle_since = time.monotonic()
                    self._idle.append(connection)
                else:
                    connection.close()
        except TimeoutError:
            return Sample(scheduled, None, error="timeout")
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            return Sample(scheduled, None, error=type(exc).__name__)
        return Sample(
            scheduled, time.monotonic() - scheduled, status, body=body if keep_body else b""
        )

    async def _exchange(self, raw: bytes) -> tuple[int, bytes, bool, _Connection]:
        """On an idle connection if one is fresh enough, else a new one; a reused connection the
        server closed meanwhile is retried once on a new one, as browsers and HTTP clients do."""
        reused = self._fresh_idle()
        connection = reused or await self._open()
        try:
            return (*await connection.exchange(raw), connection)
        except (asyncio.IncompleteReadError, ConnectionError):
            connection.close()
            if reused is None:
                raise
        except BaseException:  # a timeout: the answer may still come, on nobody's watch
            connection.close()
            raise
        connection = await self._open()
        try:
            return (*await connection.exchange(raw), connection)
        except BaseException:
            connection.close()
            raise

    def _fresh_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if time.monotonic() - connection.idle_since < IDLE_S:
                return connection
            connection.close()
        return None

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
        self.opened += 1
        return _Connection(reader, writer)

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


async def run_open(
    driver: Driver,
    rate: float,
    seconds: float,
    requests: Sequence[bytes],
    keep_body: bool = False,
) -> Outcome:
    """Send ``rate`` requests per second for ``seconds``, evenly spaced, cycling through
    ``requests`` (already encoded). Waits for every answer or timeout."""
    count = round(rate * seconds)
    tasks: list[asyncio.Task[Sample]] = []
    start = time.monotonic() + 0.05
    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - time.monotonic()
        if delay > 0.001:
            await asyncio.sleep(delay)
        tasks.append(
            asyncio.create_task(driver.send(requests[i % len(requests)], scheduled, keep_body))
        )
    # every send ends within its timeout; the wait is bounded anyway, so a run cannot hang
    done, late = await asyncio.wait(tasks, timeout=driver.timeout_s + 5) if tasks else ([], [])
    for task in late:
        task.cancel()
    samples = [
        task.result() if task in done else Sample(0.0, None, error="unfinished") for task in tasks
    ]
    return Outcome(rate, seconds, samples, driver.opened)


def knee(outcomes: Sequence[Outcome], p95_ms: float = 500.0) -> float | None:
    """The lowest scheduled rate whose p95 crossed ``p95_ms`` or had errors; None if none did."""
    for outcome in sorted(outcomes, key=lambda o: o.rate):
        if outcome.p(95) > p95_ms or outcome.errors:
            return outcome.rate
    return None
