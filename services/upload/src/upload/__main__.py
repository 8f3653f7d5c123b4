"""``python -m upload api`` (HTTP API) or ``python -m upload worker`` (event consumer)."""

from shared.runtime import run_roles
from upload.settings import UploadSettings
from upload.worker import main as worker


def main() -> None:
    settings = UploadSettings()
    run_roles("upload", settings.host, settings.port, worker, settings.api_processes)


if __name__ == "__main__":
    main()
