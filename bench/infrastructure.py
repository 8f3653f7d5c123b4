"""RabbitMQ and SecantusDB for one benchmark run, the way every benchmark starts them."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bootstrap import Secantus, ensure_rabbitmq, rabbitmq_vhost, start_secantus


@contextmanager
def broker_and_database(root: Path, vhost: str) -> Iterator[tuple[str, Secantus]]:
    """A fresh RabbitMQ vhost (its URL) and a SecantusDB with its data and log under root."""
    ensure_rabbitmq()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    database = start_secantus(root / "mongo", root / "logs" / "secantusdb.log")
    try:
        with rabbitmq_vhost(vhost) as amqp_url:
            yield amqp_url, database
    finally:
        database.stop()
