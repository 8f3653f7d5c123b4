"""``python -m boleto_sync api`` (HTTP API) or ``python -m boleto_sync worker``."""

from boleto_sync.settings import BoletoSettings
from boleto_sync.worker import main as worker
from shared.runtime import run_roles


def main() -> None:
    settings = BoletoSettings()
    run_roles("boleto_sync", settings.host, settings.port, worker, settings.api_processes)


if __name__ == "__main__":
    main()
