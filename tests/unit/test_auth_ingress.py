"""The public Ingresses of every overlay route every public path and no admin or ops path
(admins come in through the cluster), bound request bodies, and keep the event stream open."""

from typing import Any

import pytest

from tests.support.manifests import rendered

OVERLAYS = ("dev", "production")
PUBLIC = {
    "/v1/conversions": "upload",
    "/v1/boletos": "boleto-sync",
    "/v1/proposals": "boleto-sync",
    "/v1/jobs": "boleto-sync",
    "/v1/inter/webhook": "boleto-sync",
    "/v1/webhooks": "notifier",
    "/v1/email": "notifier",
    "/v1/events": "notifier",
    # the web page, served by upload on the same host as the API (Exact "/": not a catch-all)
    "/": "upload",
    "/web": "upload",
    "/web-config.json": "upload",
}
NGINX = "nginx.ingress.kubernetes.io/"


def _ingresses(overlay: str) -> list[dict[str, Any]]:
    return [d for d in rendered(overlay) if d["kind"] == "Ingress"]


def _routes(ingress: dict[str, Any]) -> dict[str, str]:
    return {
        path["path"]: path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_routes_public_paths_only(overlay: str) -> None:
    routes: dict[str, str] = {}
    for ingress in _ingresses(overlay):
        routes.update(_routes(ingress))
    assert routes == PUBLIC
    private = ("/v1/admin", "/metrics", "/healthz", "/readyz")
    assert [p for p in routes if p.startswith(private)] == []
    catch_alls = [
        (path["path"], path["pathType"])
        for ingress in _ingresses(overlay)
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
        if path["path"].rstrip("/") in {"", "/v1"} and path["pathType"] != "Exact"
    ]
    assert catch_alls == []  # a Prefix "/" would route the admin and ops paths too


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_ingress_bounds_request_bodies_and_the_stream_stays_open(overlay: str) -> None:
    for ingress in _ingresses(overlay):
        annotations = ingress["metadata"]["annotations"]
        size = annotations[NGINX + "proxy-body-size"]
        assert size in {"1m", "128m"}
        if "/v1/events" in _routes(ingress):
            assert int(annotations[NGINX + "proxy-read-timeout"]) >= 3600
            assert annotations[NGINX + "proxy-buffering"] == "off"
            assert _routes(ingress) == {"/v1/events": "notifier"}
