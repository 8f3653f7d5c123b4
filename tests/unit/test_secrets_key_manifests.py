"""Every workload that keeps secrets at rest takes SECRETS_KEY from a Secret, in every overlay;
the dev overlay's example key is a valid one and not the public development key."""

import base64
from typing import Any

import pytest

from shared.crypto import DEV_SECRETS_KEY
from tests.support.manifests import rendered

OVERLAYS = ("dev", "production")
KEEPERS = ("upload", "converter", "notifier")  # the images whose processes seal or open


def _key_source(container: dict[str, Any]) -> dict[str, Any] | None:
    for var in container.get("env", []):
        if var["name"] == "SECRETS_KEY":
            return var["valueFrom"]["secretKeyRef"]  # type: ignore[no-any-return]
    return None


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_workloads_that_keep_secrets_read_the_key_from_a_secret(overlay: str) -> None:
    docs = rendered(overlay)
    containers = [
        container
        for doc in docs
        if doc["kind"] == "Deployment"
        for container in doc["spec"]["template"]["spec"]["containers"]
        if container["image"].split("/")[-1].split(":")[0] in KEEPERS
    ]
    assert len(containers) == 5  # upload api and worker, converter, notifier api and worker
    for container in containers:
        source = _key_source(container)
        assert source == {"name": "platform-secrets", "key": "SECRETS_KEY"}, container["name"]
    for doc in docs:
        if doc["kind"] == "Secret" and "SECRETS_KEY" in doc.get("data", {}):
            key = base64.b64decode(base64.b64decode(doc["data"]["SECRETS_KEY"]))
            assert len(key) == 32 and base64.b64encode(key).decode() != DEV_SECRETS_KEY
