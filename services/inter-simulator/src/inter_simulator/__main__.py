"""``python -m inter_simulator``: serve the simulator (TLS with client certificates if set)."""

import ssl
import sys
from typing import Any

from inter_simulator.settings import SimulatorSettings
from shared.runtime import run_roles


def main() -> None:
    settings = SimulatorSettings()
    run_roles("inter_simulator", settings.host, settings.port, **tls_options(settings))


def tls_options(settings: SimulatorSettings) -> dict[str, Any]:
    if not settings.tls:
        return {}
    if settings.tls_ca_file is None:
        sys.exit("INTER_SIM_TLS_CA_FILE is required with TLS: client certificates are checked")
    return {
        "ssl_certfile": str(settings.tls_cert_file),
        "ssl_keyfile": str(settings.tls_key_file),
        "ssl_ca_certs": str(settings.tls_ca_file),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }


if __name__ == "__main__":
    main()
