"""The images' HEALTHCHECK: healthy when ``/healthz`` answers 200 on the API port or the ops
port of the process in the container (one image runs either; only one of them listens).

Ports come from ``<PREFIX>_PORT`` and ``<PREFIX>_OPS_PORT`` when set, as the service reads
them, else from the image's defaults in ``HEALTH_PORTS``. Standard library only: no curl.
"""

import os
import sys
import urllib.request


def ports() -> list[str]:
    prefix = os.environ.get("HEALTH_ENV_PREFIX", "")
    defaults = os.environ.get("HEALTH_PORTS", "").split()
    api, ops = ([""] * (2 - len(defaults)) + defaults)[-2:]
    chosen = [os.environ.get(f"{prefix}_PORT", api), os.environ.get(f"{prefix}_OPS_PORT", ops)]
    return [port for port in chosen if port]


def healthy(port: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(0 if any(healthy(port) for port in ports()) else 1)
