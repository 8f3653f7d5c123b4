"""Calls to Banco Inter as /metrics shows them: by operation (the limiter's endpoint group)
and answer, their latency, and the time spent waiting for a slot of the shared limiter."""

import time

import httpx
from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "inter_requests_total",
    "Calls to Banco Inter by answer (an HTTP status, timeout or error)",
    ["operation", "status"],
)
LATENCY = Histogram("inter_request_duration_seconds", "Banco Inter call latency", ["operation"])
LIMITER_WAIT = Histogram(
    "inter_limiter_wait_seconds",
    "Time waited for a slot of the shared rate limiter",
    ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


def called(operation: str, answer: int | str, started: float) -> None:
    """One call answered (``answer``: its HTTP status) or failed (``timeout``, ``error``)
    ``started`` (``time.perf_counter()``) ago."""
    LATENCY.labels(operation).observe(time.perf_counter() - started)
    REQUESTS.labels(operation, str(answer)).inc()


def transport_failure(exc: httpx.TransportError) -> str:
    return "timeout" if isinstance(exc, httpx.TimeoutException) else "error"
