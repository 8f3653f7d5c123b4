"""RabbitMQ and SecantusDB for one benchmark run, the way every benchmark starts them."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bootstrap import Secantus, ensure_rabbitmq, rabbitmq_vhost, start_secantus
from system import Ports, System, running_system


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


@contextmanager
def development_system(
    root: Path, name: str, *, boleto: bool = False, notifier: bool = False, **settings: str
) -> Iterator[tuple[System, Secantus]]:
    """Every service as ``make run`` starts it (development, ports of its own), over a fresh
    vhost ``name`` and a database of that name (``-`` as ``_``)."""
    with (
        broker_and_database(root, name) as (amqp_url, database),
        running_system(
            root,
            amqp_url,
            database.url,
            ports=Ports.free(),
            boleto=boleto,
            notifier=notifier,
            ENVIRONMENT="development",
            MONGODB_DB=name.replace("-", "_"),
            **settings,
        ) as system,
    ):
        yield system, database
