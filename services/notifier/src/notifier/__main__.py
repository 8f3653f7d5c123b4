"""``python -m notifier api`` (subscriptions, live stream) or ``python -m notifier worker``."""

import sys

import uvicorn

from notifier.settings import NotifierSettings


def main() -> None:
    role = sys.argv[1] if len(sys.argv) > 1 else "api"
    if role == "worker":
        from notifier.worker import main as worker_main

        worker_main()
    elif role == "api":
        settings = NotifierSettings()
        uvicorn.run(
            "notifier.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )
    else:
        sys.exit(f"usage: python -m notifier [api|worker], not {role!r}")


if __name__ == "__main__":
    main()
