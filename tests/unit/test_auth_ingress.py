"""The public Ingress of every overlay routes no admin path: admins come in through the cluster."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.name for p in (ROOT / "k8s" / "overlays").iterdir() if p.is_dir())


def _ingress_paths(overlay: str) -> list[str]:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(rendered) if d]
    return [
        path["path"]
        for doc in docs
        if doc["kind"] == "Ingress"
        for rule in doc["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders the overlays")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_routes_public_paths_only(overlay: str) -> None:
    paths = _ingress_paths(overlay)
    assert "/v1/conversions" in paths
    assert [p for p in paths if p.rstrip("/") in {"", "/v1"} or p.startswith("/v1/admin")] == []
