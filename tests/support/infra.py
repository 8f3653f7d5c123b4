"""Real local components for integration and end-to-end tests, one set per test session."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bootstrap import ensure_rabbitmq, rabbitmq_vhost, start_secantus


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
