"""Real local components for integration and end-to-end tests, one set per test session."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap import ensure_rabbitmq, rabbitmq_vhost, start_secantus
from system import System, running_system


@dataclass(frozen=True)
class Components:
    rabbitmq_url: str
    mongodb_url: str
    root: Path


@contextmanager
def components(root: Path) -> Iterator[Components]:
    """RabbitMQ (one vhost of our own) and SecantusDB (its own data folder and port)."""
    ensure_rabbitmq()
    mongo = start_secantus(root / "mongo", root / "secantusdb.log")
    try:
        with rabbitmq_vhost() as amqp_url:
            yield Components(amqp_url, mongo.url, root)
    finally:
        mongo.stop()


@contextmanager
def system_of_components(root: Path, **options: Any) -> Iterator[System]:
    """The whole system as processes (``running_system`` options) on components of its own."""
    with (
        components(root) as parts,
        running_system(root, parts.rabbitmq_url, parts.mongodb_url, **options) as running,
    ):
        yield running
