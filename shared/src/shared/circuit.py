"""What a process knows about its dependencies, kept from the operations it makes anyway.

A dependency that fails several times in a row is *open*: requests that need it answer 503 at
once instead of each waiting out the client's timeouts, and workers hold their messages instead
of burning retries. After a pause one call goes through as a probe (*half-open*): its success
closes the circuit, its failure opens it again for twice as long (up to a ceiling).
"""

import errno
import time
from collections.abc import Callable
from enum import StrEnum

import structlog
from pymongo.errors import ConnectionFailure

log = structlog.get_logger()

# Errors of the local disk that no retry within the request can mend.
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}
PROBE_TIMEOUT_S = 5.0


class Unavailable(Exception):
    """A dependency cannot serve now; try again after ``retry_after_s``."""

    def __init__(self, dependency: str, retry_after_s: float) -> None:
        super().__init__(f"{dependency} is unavailable")
        self.dependency = dependency
        self.retry_after_s = retry_after_s


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Circuit:
    def __init__(
        self,
        name: str,
        *,
        threshold: int = 3,
        pause_s: float = 1.0,
        max_pause_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.threshold = name, threshold
        self.base_pause_s, self.max_pause_s, self.clock = pause_s, max_pause_s, clock
        self.state = State.CLOSED
        self.failures = 0  # in a row
        self.pause_s = pause_s
        self.opened_at = 0.0
        self.last_success = 0.0
        self.last_failure = 0.0
        self._probe_started: float | None = None

    @property
    def retry_after_s(self) -> float:
        """How long until the next probe may go through (the pause when closed)."""
        if self.state is State.CLOSED:
            return self.pause_s
        return max(0.0, self.opened_at + self.pause_s - self.clock())

    @property
    def blocked(self) -> bool:
        """Open, and its pause not over: no call should be tried. (Asks without taking the
        probe: the call that then goes through takes it where it meets the dependency.)"""
        return self.state is not State.CLOSED and self.retry_after_s > 0

    def check(self) -> None:
        """Raise Unavailable unless a call may go through now; at most one probe at a time."""
        if self.state is State.CLOSED:
            return
        now = self.clock()
        if self.state is State.OPEN and now >= self.opened_at + self.pause_s:
            self.state, self._probe_started = State.HALF_OPEN, None
        if self.state is State.HALF_OPEN and self._may_probe(now):
            self._probe_started = now
            return
        raise Unavailable(self.name, max(self.retry_after_s, 0.1))

    def _may_probe(self, now: float) -> bool:
        """No probe out, or the one out never reported (a request that did not use the
        dependency after all)."""
        started = self._probe_started
        return started is None or now - started > max(self.pause_s, PROBE_TIMEOUT_S)

    def succeeded(self) -> None:
        self.last_success = self.clock()
        self.failures = 0
        if self.state is not State.CLOSED:
            log.info("dependency.recovered", dependency=self.name)
            self.state, self.pause_s = State.CLOSED, self.base_pause_s

    def failed(self) -> None:
        """A failure in a row; the one after a pause (a probe's, or any call let through
        once the pause was over) opens the circuit again for longer. Failures of calls that
        were under way when it opened change nothing."""
        self.last_failure = self.clock()
        self.failures += 1
        if self.state is State.CLOSED:
            if self.failures >= self.threshold:
                self._open()
        elif not self.blocked:
            self.pause_s = min(self.pause_s * 2, self.max_pause_s)
            self._open()

    def _open(self) -> None:
        self.state, self.opened_at = State.OPEN, self.clock()
        log.warning("dependency.unavailable", dependency=self.name, pause_s=self.pause_s)

    def report(self) -> dict[str, object]:
        now = self.clock()
        return {
            "state": str(self.state),
            "failures_in_a_row": self.failures,
            "last_success_s_ago": _ago(now, self.last_success),
            "last_failure_s_ago": _ago(now, self.last_failure),
        }


def _ago(now: float, at: float) -> float | None:
    return round(now - at, 1) if at else None


class Outages:
    """One circuit per dependency a process uses, and which errors count against which."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.mongodb = Circuit("mongodb", clock=clock)
        self.storage = Circuit("storage", clock=clock)

    def circuits(self) -> list[Circuit]:
        return [self.mongodb, self.storage]

    def classify(self, exc: BaseException) -> Circuit | None:
        """The dependency whose outage ``exc`` is, or None for any other error."""
        if isinstance(exc, Unavailable):
            return next((c for c in self.circuits() if c.name == exc.dependency), None)
        if isinstance(exc, ConnectionFailure):
            return self.mongodb
        if is_storage_outage(exc):
            return self.storage
        return None

    def failed(self, exc: BaseException) -> Unavailable | None:
        """Count ``exc`` against its dependency; the Unavailable to answer with, if it is one."""
        circuit = self.classify(exc)
        if circuit is None:
            return None
        if not isinstance(exc, Unavailable):
            circuit.failed()
        return Unavailable(circuit.name, max(circuit.retry_after_s, 1.0))


def is_storage_outage(exc: BaseException) -> bool:
    import urllib3
    from minio.error import ServerError

    if isinstance(exc, urllib3.exceptions.HTTPError | ServerError):
        return True
    return isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS
