"""The Kubernetes manifests as kustomize renders them (kubectl includes kustomize)."""

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import yaml

K8S = Path(__file__).resolve().parents[2] / "k8s"


def render(path: Path) -> list[dict[str, Any]]:
    """Every object of the kustomization at ``path``, in the order kustomize prints them."""
    out = subprocess.run(
        ["kubectl", "kustomize", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    """One overlay of k8s/overlays, rendered once per test session (callers copy to change)."""
    return tuple(render(K8S / "overlays" / overlay))
