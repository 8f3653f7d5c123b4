"""``python -m boleto_sync api`` (HTTP API) or ``python -m boleto_sync worker``."""

import sys

import uvicorn

from boleto_sync.settings import BoletoSettings


def main() -> None:
    role = sys.argv[1] if len(sys.argv) > 1 else "api"
    if role == "worker":
        from boleto_sync.worker import main as worker_main

        worker_main()
    elif role == "api":
        settings = BoletoSettings()
        uvicorn.run(
            "boleto_sync.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )
    else:
        sys.exit(f"usage: python -m boleto_sync [api|worker], not {role!r}")


if __name__ == "__main__":
    main()
