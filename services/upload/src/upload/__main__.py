"""``python -m upload api`` (HTTP API) or ``python -m upload worker`` (event consumer)."""

import sys

import uvicorn

from upload.settings import UploadSettings


def main() -> None:
    role = sys.argv[1] if len(sys.argv) > 1 else "api"
    if role == "worker":
        from upload.worker import main as worker_main

        worker_main()
    elif role == "api":
        settings = UploadSettings()
        uvicorn.run(
            "upload.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )
    else:
        sys.exit(f"usage: python -m upload [api|worker], not {role!r}")


if __name__ == "__main__":
    main()
