"""A key's record says who created and who revoked it: the admin key's id through the API
(besides its ``admin.audit`` line), ``cli`` from the command line."""

import json
import os
import subprocess
import sys

import httpx
import structlog
from fastapi import FastAPI

from shared.auth import ApiKeyRepository, ApiKeys
from shared.auth.endpoints import router
from shared.bootstrap import Infra
from shared.http.problems import install_problem_handlers
from shared.settings import InfraSettings


async def test_the_admin_api_records_which_admin_key_created_and_revoked_a_key(
    infra: Infra,
) -> None:
    repository = ApiKeyRepository(infra.db)
    admin_id, admin = await repository.create("ops", admin=True)
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.state.api_keys = ApiKeys(repository)
    headers = {"Authorization": f"Bearer {admin}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        with structlog.testing.capture_logs() as logged:
            created = await client.post(
                "/v1/admin/api-keys", json={"tenant": "acme"}, headers=headers
            )
            key_id = created.json()["id"]
            assert (
                await client.delete(f"/v1/admin/api-keys/{key_id}", headers=headers)
            ).status_code == 204
    stored = await infra.db["api_keys"].find_one({"_id": key_id})
    assert stored is not None
    assert (stored["created_by"], stored["revoked_by"]) == (admin_id, admin_id)
    audits = [
        (a["action"], a["key_id"], a["result"]) for a in logged if a["event"] == "admin.audit"
    ]
    assert audits == [("api_keys.create", admin_id, "ok"), ("api_keys.revoke", admin_id, "ok")]


def test_the_command_line_records_itself(infra_settings: InfraSettings) -> None:
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "MONGODB_URL": infra_settings.mongodb_url,
        "MONGODB_DB": infra_settings.mongodb_db,
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.auth", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = json.loads(cli("create", "--tenant", "acme", "--admin").stdout)
    assert cli("revoke", created["id"]).returncode == 0
    [listed] = [json.loads(line) for line in cli("list", "--tenant", "acme").stdout.splitlines()]
    assert (listed["created_by"], listed["revoked_by"]) == ("cli", "cli")
