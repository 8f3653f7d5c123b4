"""Strict sliding-window rate limits per endpoint group, with the counters a benchmark needs.

The bank does not say whether its windows are fixed or sliding. A sliding window is the
stricter reading: any interval of ``window_seconds`` holds at most ``limit`` accepted
requests, so a client that passes here passes under either model.
"""

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from inter_simulator.settings import Profile, SimulatorSettings

GROUPS = ("token", "issue", "get", "list", "summary", "pdf", "cancel", "webhook", "callbacks")
# The summary counts like the list it summarises; the callback history is a webhook
# resource and gets the webhook endpoints' figure, the stricter reading of the two.
PRODUCTION_LIMITS: dict[str, int | None] = {
    "token": 5,
    "issue": 120,
    "get": 120,
    "list": 120,
    "summary": 120,
    "pdf": 120,
    "cancel": 120,
    "webhook": 5,
    "callbacks": 5,
}


@dataclass
class LimitConfig:
    profile: Profile
    window_seconds: float
    limits: dict[str, int | None]
    global_limit: int | None = None
    retry_after: bool = True

    def update_limits(self, limits: dict[str, int | None]) -> None:
        if unknown := set(limits) - set(GROUPS):
            raise ValueError(f"grupos desconhecidos {sorted(unknown)}; os grupos são {GROUPS}")
        self.limits.update(limits)


def preset(profile: Profile) -> LimitConfig:
    """``production``: the bank's published figures; ``original``: 5 requests/s in all."""
    if profile == "original":
        return LimitConfig("original", 1.0, dict.fromkeys(GROUPS), global_limit=5)
    return LimitConfig("production", 60.0, dict(PRODUCTION_LIMITS))


def limit_config(settings: SimulatorSettings) -> LimitConfig:
    config = preset(settings.profile)
    if settings.window_seconds is not None:
        config.window_seconds = settings.window_seconds
    config.update_limits(settings.limits)
    if "global_limit" in settings.model_fields_set:
        config.global_limit = settings.global_limit
    config.retry_after = settings.retry_after
    return config


@dataclass
class SlidingWindow:
    accepted_at: deque[float] = field(default_factory=deque)
    accepted: int = 0
    throttled: int = 0
    max_in_window: int = 0

    def in_window(self, now: float, window: float) -> int:
        while self.accepted_at and self.accepted_at[0] <= now - window:
            self.accepted_at.popleft()
        return len(self.accepted_at)

    def wait(self, now: float, window: float, limit: int | None) -> float | None:
        """None when a request fits now, else the seconds until one will."""
        count = self.in_window(now, window)
        if limit is None or count < limit:
            return None
        if limit <= 0:
            return window
        return self.accepted_at[count - limit] + window - now

    def record(self, now: float) -> None:
        self.accepted_at.append(now)
        self.accepted += 1
        self.max_in_window = max(self.max_in_window, len(self.accepted_at))

    def stats(self, now: float, window: float, limit: int | None) -> dict[str, Any]:
        return {
            "limit": limit,
            "accepted": self.accepted,
            "throttled": self.throttled,
            "max_in_window": self.max_in_window,
            "in_window": self.in_window(now, window),
        }


class RateLimiter:
    def __init__(self, config: LimitConfig) -> None:
        self.config = config
        self.windows = {group: SlidingWindow() for group in GROUPS}
        self.overall = SlidingWindow()

    def acquire(self, group: str) -> float | None:
        """Admit one request of ``group``: None when accepted, else seconds to wait."""
        now = time.monotonic()
        window, own = self.config.window_seconds, self.windows[group]
        own_wait = own.wait(now, window, self.config.limits.get(group))
        overall_wait = self.overall.wait(now, window, self.config.global_limit)
        if own_wait is None and overall_wait is None:
            own.record(now)
            self.overall.record(now)
            return None
        own.throttled += 1
        if overall_wait is not None:
            self.overall.throttled += 1
        return max(w for w in (own_wait, overall_wait) if w is not None)

    def stats(self) -> dict[str, Any]:
        now, window = time.monotonic(), self.config.window_seconds
        return {
            "groups": {
                group: counter.stats(now, window, self.config.limits.get(group))
                for group, counter in self.windows.items()
            },
            "global": self.overall.stats(now, window, self.config.global_limit),
        }
