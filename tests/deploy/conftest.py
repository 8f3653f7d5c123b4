"""Fixtures of ``make test-deploy``: the deployment ``make deploy-local`` left running.

Nothing is started here: the tests reach the pods through the host ports recorded in
.data/deploy-local/state.json (scripts/deploy_local.py), as a user of that deployment would.
"""

import json
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.notifier import new_tenant

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / ".data" / "deploy-local" / "state.json"
CONTAINERS_CONF = ROOT / "deploy" / "containers.conf"


def podman(*args: str) -> str:
    result = subprocess.run(
        ["podman", *args],
        env={**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"podman {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def deployment() -> dict[str, Any]:
    assert STATE.exists(), "no local deployment: run `make deploy-local` first"
    return json.loads(STATE.read_text())  # type: ignore[no-any-return]


def _url(deployment: dict[str, Any], container: str, port: str = "http") -> str:
    return f"http://127.0.0.1:{deployment['containers'][container]['ports'][port]}"


@pytest.fixture(scope="session")
def upload_url(deployment: dict[str, Any]) -> str:
    return _url(deployment, "upload-api")


@pytest.fixture(scope="session")
def notifier_url(deployment: dict[str, Any]) -> str:
    return _url(deployment, "notifier-api")


@pytest.fixture(scope="session")
def boleto_url(deployment: dict[str, Any]) -> str:
    return _url(deployment, "boleto-sync-api")


@pytest.fixture(scope="session")
def simulator_url(deployment: dict[str, Any]) -> str:
    return _url(deployment, "inter-simulator-inter-simulator")


@pytest.fixture(scope="session")
def admin_key(deployment: dict[str, Any]) -> str:
    """An admin key made as docs/deployment.md tells an operator to: the CLI in the API's pod."""
    out = podman(
        "exec", "upload-api", "python", "-m", "shared.auth", "create", "--tenant", "ops", "--admin"
    )
    created = json.loads(out.strip().splitlines()[-1])
    assert created["admin"] is True
    return str(created["key"])


@pytest.fixture
async def tenant_key(upload_url: str, admin_key: str) -> str:
    """A fresh tenant's key, so each test sees only its own jobs and events."""
    _, key = await new_tenant(upload_url, admin_key)
    return key


@pytest.fixture
async def api(upload_url: str, tenant_key: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {tenant_key}"}
    async with httpx.AsyncClient(base_url=upload_url, headers=headers, timeout=60) as client:
        yield client
