"""``make run``'s supervision, as Kubernetes would restart a pod's containers.

A process that exits is started again after a backoff (0.5 s doubling up to 30 s, back to
0.5 s once it stayed up for a minute); the local broker, started detached and not our child,
is started again once it refused connections for a few seconds. Every restart is one line
on stderr and a count in a JSON state file (README, "When a process dies").
"""

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bootstrap import port_open, say
from system import kill_group

Process = subprocess.Popen[bytes]


@dataclass(frozen=True)
class Backoff:
    first: float = 0.5
    limit: float = 30.0
    stable_after: float = 60.0

    def delay(self, streak: int) -> float:
        """The wait before the restart that follows ``streak`` restarts which did not hold."""
        return min(self.first * 2**streak, self.limit)


@dataclass
class Record:
    """What the state file tells of one supervised thing."""

    state: str = "running"
    pid: int | None = None
    restarts: int = 0
    last_exit: str | None = None
    last_restart_at: str | None = None


@dataclass
class Unit:
    """A process we started; it leads a process group of its own."""

    name: str
    process: Process
    restart: Callable[[], Process]
    started_at: float
    record: Record
    streak: int = 0
    due: float | None = None  # when it is waiting for its restart


@dataclass
class BrokerWatch:
    """When to start the broker again: once it refused connections for ``grace`` seconds, never
    while a start is under way, and after a backoff when the last start did not hold."""

    policy: Backoff = field(default_factory=Backoff)
    grace: float = 5.0
    starting: bool = False
    streak: int = 0
    down_since: float | None = None
    up_since: float | None = None
    not_before: float = 0.0

    def observe(self, now: float, answers: bool) -> bool:
        """One probe's result; True when a start should begin now."""
        if self.starting:
            return False
        if answers:
            self.down_since = None
            self.up_since = now if self.up_since is None else self.up_since
            if now - self.up_since >= self.policy.stable_after:
                self.streak = 0
            return False
        self.up_since = None
        self.down_since = now if self.down_since is None else self.down_since
        if now - self.down_since < self.grace or now < self.not_before:
            return False
        self.starting = True
        return True

    def finished(self, now: float) -> float:
        """A start ended, the broker up or not; returns the wait before another may begin."""
        self.starting = False
        delay = self.policy.delay(self.streak)
        self.streak += 1
        self.not_before = now + delay
        return delay


class Supervisor:
    """Call ``tick()`` every half second or so; it never waits for anything it starts."""

    def __init__(
        self,
        state_file: Path,
        policy: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state_file = state_file
        self.policy = policy or Backoff()
        self.clock = clock
        self.units: dict[str, Unit] = {}
        self.records: dict[str, Record] = {}
        self._broker: tuple[int, Callable[[], Process]] | None = None
        self._watch = BrokerWatch(self.policy)
        self._starter: Process | None = None
        self._next_probe = 0.0

    def add(self, name: str, process: Process, restart: Callable[[], Process]) -> None:
        if os.getpgid(process.pid) != process.pid:
            raise ValueError(f"{name} must lead a process group of its own")
        record = self.records[name] = Record(pid=process.pid)
        self.units[name] = Unit(name, process, restart, self.clock(), record)
        self._write()

    def watch_broker(self, port: int, start: Callable[[], Process], grace: float = 5.0) -> None:
        """Probe ``port`` every 2 s; ``start`` begins a start in a process that exits 0 once
        the broker is up (``bootstrap.ensure_rabbitmq_in_background``)."""
        self._broker = (port, start)
        self._watch.grace = grace
        self.records["rabbitmq"] = Record(state="up")
        self._write()

    def tick(self) -> None:
        now = self.clock()
        changed = [self._tend(unit, now) for unit in self.units.values()]
        if self._broker is not None and self._tend_broker(now):
            changed.append(True)
        if any(changed):
            self._write()

    def stop(self) -> None:
        """Once the processes are stopped: stop a broker start under way (the broker it
        launched, detached, stays up) and record that none of our processes runs any more."""
        if self._starter is not None and self._starter.poll() is None:
            self._starter.terminate()
            self._starter.wait(10)
        for unit in self.units.values():
            unit.record.state, unit.record.pid = "stopped", None
        if self.records:
            self._write()

    def summary(self) -> str:
        counts = [f"{name} {r.restarts}" for name, r in self.records.items() if r.restarts]
        return f"restarts: {', '.join(counts) or 'none'} (see {self.state_file})"

    def _tend(self, unit: Unit, now: float) -> bool:
        if unit.due is None:
            code = unit.process.poll()
            if code is not None:
                kill_group(unit.process.pid)  # what the leader left, e.g. uvicorn's workers
                self._schedule(unit, now, describe_exit(code))
            return code is not None
        if now < unit.due:
            return False
        try:
            unit.process = unit.restart()
        except (OSError, RuntimeError) as exc:
            unit.started_at = now
            self._schedule(unit, now, f"failed to start: {exc}")
            return True
        unit.started_at, unit.due = now, None
        _restarted(unit.record, unit.process.pid)
        return True

    def _schedule(self, unit: Unit, now: float, why: str) -> None:
        if now - unit.started_at >= self.policy.stable_after:
            unit.streak = 0
        delay = self.policy.delay(unit.streak)
        unit.streak += 1
        unit.due = now + delay
        unit.record.state, unit.record.pid, unit.record.last_exit = "waiting", None, why
        attempt = unit.record.restarts + 1
        say(f"{unit.name} exited ({why}); restart {attempt} in {delay:.1f} s", "run")

    def _tend_broker(self, now: float) -> bool:
        assert self._broker is not None
        port, start = self._broker
        record = self.records["rabbitmq"]
        if self._starter is not None:
            if (code := self._starter.poll()) is None:
                return False
            self._starter = None
            delay = self._watch.finished(now)
            record.state = "up" if code == 0 else "down"
            if code != 0:
                say(f"rabbitmq did not start (exit {code}); next try in {delay:.1f} s", "run")
            return True
        if now < self._next_probe:
            return False
        self._next_probe = now + 2.0
        answers = port_open(port)
        if not self._watch.observe(now, answers):
            was, record.state = record.state, "up" if answers else "down"
            return was != record.state
        record.last_exit = f"refused connections on port {port} for {self._watch.grace:.0f} s"
        say(f"rabbitmq {record.last_exit}; restart {record.restarts + 1} now", "run")
        try:
            self._starter = start()
        except OSError as exc:
            delay = self._watch.finished(now)
            say(f"rabbitmq could not be started ({exc}); next try in {delay:.1f} s", "run")
            return True
        _restarted(record, None)
        record.state = "starting"
        return True

    def _write(self) -> None:
        state = {
            "updated_at": _utc_now(),
            "processes": {name: vars(record) for name, record in self.records.items()},
        }
        partial = self.state_file.with_suffix(".json.partial")
        partial.write_text(json.dumps(state, indent=2) + "\n")
        partial.replace(self.state_file)


def describe_exit(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"code {code}"


def _restarted(record: Record, pid: int | None) -> None:
    record.state, record.pid = "running", pid
    record.restarts += 1
    record.last_restart_at = _utc_now()


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
