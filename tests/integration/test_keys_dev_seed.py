"""Seeding development keys at start-up never brings back a revoked key, and a production
process given one refuses to start."""

import os
import subprocess
import sys

from shared.auth.repository import hash_key
from shared.bootstrap import Infra
from shared.settings import InfraSettings


async def test_a_revoked_dev_key_stays_revoked_after_a_restart(
    infra_settings: InfraSettings,
) -> None:
    settings = infra_settings.model_copy(update={"dev_api_key": "dev-k", "dev_admin_key": "adm"})
    infra = await Infra.open(settings)
    try:
        auth = await infra.api_keys()
        dev = await auth.authenticate("dev-k")
        assert dev is not None
        await auth.revoke(dev.key_id)
        restarted = await infra.api_keys()  # what every replica does when it starts
        assert await restarted.authenticate("dev-k") is None
        stored = await infra.db["api_keys"].find_one({"hash": hash_key("dev-k")})
        assert stored is not None and stored["revoked_at"] is not None
        assert await restarted.authenticate("adm") is not None
    finally:
        await infra.mongo.drop_database(settings.mongodb_db)
        await infra.close()


def test_an_api_given_a_dev_key_in_production_refuses_to_start() -> None:
    env = {**os.environ, "ENVIRONMENT": "production", "DEV_ADMIN_KEY": "adm"}
    done = subprocess.run(
        [sys.executable, "-m", "upload", "api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "refused when ENVIRONMENT=production" in done.stderr
