"""``python -m notifier api`` (subscriptions, live stream) or ``python -m notifier worker``."""

from notifier.settings import NotifierSettings
from notifier.worker import main as worker
from shared.runtime import run_roles


def main() -> None:
    settings = NotifierSettings()
    run_roles("notifier", settings.host, settings.port, worker, settings.api_processes)


if __name__ == "__main__":
    main()
