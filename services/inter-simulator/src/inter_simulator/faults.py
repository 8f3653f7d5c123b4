"""Injectable faults: latency, 5xx, held requests that end in 504, malformed bodies."""

import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from inter_simulator.limits import GROUPS
from inter_simulator.settings import Faults, GroupFaults, SimulatorSettings

FaultKind = Literal["none", "error", "timeout", "malformed"]
FAULT_KINDS = ("error", "timeout", "malformed")
ERROR_STATUSES = (500, 502, 503)


class FaultConfig(Faults):
    """The faults in force, with per-group overrides (``groups``)."""

    groups: dict[str, GroupFaults] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_groups(self) -> "FaultConfig":
        if unknown := set(self.groups) - set(GROUPS):
            raise ValueError(f"grupos desconhecidos {sorted(unknown)}; os grupos são {GROUPS}")
        return self

    @classmethod
    def from_settings(cls, settings: SimulatorSettings) -> "FaultConfig":
        start = settings.model_dump(include=set(Faults.model_fields))
        return cls(**start, groups=settings.group_faults)

    def value(self, group: str, name: str) -> float:
        override = getattr(self.groups.get(group, GroupFaults()), name)
        return float(getattr(self, name) if override is None else override)


@dataclass(frozen=True)
class Fault:
    delay_seconds: float
    kind: FaultKind = "none"
    status: int = 200


class FaultInjector:
    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.random = random.Random(config.seed)
        self.counts: dict[str, Counter[str]] = {group: Counter() for group in GROUPS}

    def draw(self, group: str) -> Fault:
        delay = self._latency(group)
        roll, threshold = self.random.random(), 0.0
        for kind in FAULT_KINDS:
            threshold += self.config.value(group, f"{kind}_rate")
            if roll < threshold:
                return Fault(delay, kind, self._status(kind))  # type: ignore[arg-type]
        return Fault(delay)

    def count(self, group: str, kind: str) -> None:
        self.counts[group][kind] += 1

    def failed_issue(self) -> bool:
        return self.random.random() < self.config.issue_failure_rate

    def malform(self, body: bytes) -> bytes:
        """Half the time not JSON at all, half the time JSON missing one field."""
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        paths = _field_paths(document)
        if not paths or self.random.random() < 0.5:
            return body[: max(1, len(body) // 2)] + b"\x00<html>"
        _drop(document, self.random.choice(paths))
        return json.dumps(document).encode()

    def _latency(self, group: str) -> float:
        jitter = self.config.value(group, "jitter_ms")
        fixed = self.config.value(group, "latency_ms")
        return (fixed + (self.random.uniform(0, jitter) if jitter else 0.0)) / 1000

    def _status(self, kind: str) -> int:
        if kind == "error":
            return self.random.choice(ERROR_STATUSES)
        return 504 if kind == "timeout" else 200


def _field_paths(document: Any) -> list[tuple[str, ...]]:
    if not isinstance(document, dict):
        return []
    paths: list[tuple[str, ...]] = []
    for key, value in document.items():
        paths.append((key,))
        if isinstance(value, dict):
            paths.extend((key, inner) for inner in value)
    return paths


def _drop(document: dict[str, Any], path: tuple[str, ...]) -> None:
    for key in path[:-1]:
        document = document[key]
    del document[path[-1]]
