"""Counters the services keep: SecantusDB's opcounters and the upload API's request histogram."""

import urllib.request
from dataclasses import dataclass
from typing import Any

import pymongo
from prometheus_client.parser import text_string_to_metric_families

DB_OPERATIONS = ("insert", "query", "update", "delete", "command")
HTTP_HISTOGRAM = "http_request_duration_seconds"


@dataclass(frozen=True)
class Requests:
    """Requests of one route and the seconds the server spent on them."""

    count: float = 0.0
    seconds: float = 0.0

    def __sub__(self, other: "Requests") -> "Requests":
        return Requests(self.count - other.count, self.seconds - other.seconds)

    @property
    def mean_ms(self) -> float:
        return self.seconds * 1000 / self.count if self.count else 0.0


def db_operations(monitor: pymongo.MongoClient[dict[str, Any]]) -> dict[str, int]:
    counters = monitor.admin.command("serverStatus")["opcounters"]
    return {name: int(counters.get(name, 0)) for name in DB_OPERATIONS}


TOP_KINDS = ("queries", "getmore", "insert", "update", "remove", "commands")


def db_top(monitor: pymongo.MongoClient[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per collection (``db.collection``): operations by kind, and ``time_us`` spent on them."""
    totals = monitor.admin.command("top")["totals"]
    per: dict[str, dict[str, int]] = {}
    for name, kinds in totals.items():
        if not isinstance(kinds, dict) or name.startswith(("local.", "admin.", "config.")):
            continue
        row = {kind: int(kinds[kind]["count"]) for kind in TOP_KINDS if kind in kinds}
        row["time_us"] = int(kinds.get("total", {}).get("time", 0))
        per[name] = row
    return per


def top_between(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """What each collection did between two ``db_top`` readings; idle collections left out."""
    changes = {}
    for name, row in after.items():
        earlier = before.get(name, {})
        change = {kind: value - earlier.get(kind, 0) for kind, value in row.items()}
        if any(change.values()):
            changes[name] = change
    return changes


def http_requests(base_url: str) -> dict[str, Requests]:
    """Per ``METHOD route``, summed over status codes, from the API's /metrics."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    totals: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.name != HTTP_HISTOGRAM:
            continue
        for sample in family.samples:
            kind = sample.name.removeprefix(HTTP_HISTOGRAM)
            if kind in ("_count", "_sum"):
                route = f"{sample.labels['method']} {sample.labels['route']}"
                totals.setdefault(route, [0.0, 0.0])[kind == "_sum"] += sample.value
    return {route: Requests(count, seconds) for route, (count, seconds) in totals.items()}


def requests_between(
    before: dict[str, Requests], after: dict[str, Requests]
) -> dict[str, Requests]:
    return {route: value - before.get(route, Requests()) for route, value in after.items()}
