"""CORS of the live stream, through a served notifier API: only the configured origins, only
the stream, and nothing at all by default."""

import httpx
import pytest
from pydantic import ValidationError

from notifier.settings import NotifierSettings
from shared.settings import InfraSettings
from tests.support.notifier_api import notifier_replica

PAGE = "http://127.0.0.1:8000"
KEY = "sk_dev_cors_test_key"
CORS_HEADERS = {
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "access-control-max-age",
}


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, last-event-id",
    }


async def stream_headers(client: httpx.AsyncClient, url: str, origin: str) -> httpx.Headers:
    headers = {"Origin": origin, "Authorization": f"Bearer {KEY}", "Last-Event-ID": "none"}
    async with client.stream("GET", f"{url}/v1/events/stream", headers=headers) as response:
        assert response.status_code == 200
        return response.headers


async def test_the_configured_origin_may_read_the_stream_and_no_other(
    infra_settings: InfraSettings,
) -> None:
    settings = NotifierSettings(cors_origins=[PAGE, "https://app.example.com"])
    async with (
        notifier_replica(infra_settings, settings, KEY) as url,
        httpx.AsyncClient(timeout=30) as client,
    ):
        allowed = await client.options(f"{url}/v1/events/stream", headers=preflight(PAGE))
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == PAGE
        assert "GET" in allowed.headers["access-control-allow-methods"]
        allowed_headers = allowed.headers["access-control-allow-headers"].lower()
        assert {"authorization", "last-event-id"} <= set(
            allowed_headers.replace(" ", "").split(",")
        )
        assert "access-control-allow-credentials" not in allowed.headers

        read = await stream_headers(client, url, PAGE)
        assert read["access-control-allow-origin"] == PAGE
        assert "origin" in read["vary"].lower()
        assert read["content-type"].startswith("text/event-stream")

        other = "http://evil.example.com"
        refused = await client.options(f"{url}/v1/events/stream", headers=preflight(other))
        assert "access-control-allow-origin" not in refused.headers
        assert "access-control-allow-origin" not in await stream_headers(client, url, other)

        # only the stream: the webhook API stays same-origin
        webhooks = await client.options(f"{url}/v1/webhooks", headers=preflight(PAGE))
        assert "access-control-allow-origin" not in webhooks.headers
        post = await client.get(
            f"{url}/v1/webhooks", headers={"Origin": PAGE, "Authorization": f"Bearer {KEY}"}
        )
        assert post.status_code == 200 and "access-control-allow-origin" not in post.headers


async def test_no_cors_headers_by_default(infra_settings: InfraSettings) -> None:
    assert NotifierSettings().cors_origins == []
    async with (
        notifier_replica(infra_settings, NotifierSettings(), KEY) as url,
        httpx.AsyncClient(timeout=30) as client,
    ):
        asked = await client.options(f"{url}/v1/events/stream", headers=preflight(PAGE))
        assert not CORS_HEADERS & set(asked.headers)
        assert not CORS_HEADERS & set(await stream_headers(client, url, PAGE))


def test_origins_come_comma_separated_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFIER_CORS_ORIGINS", f"{PAGE}, http://localhost:8000")
    assert NotifierSettings().cors_origins == [PAGE, "http://localhost:8000"]


@pytest.mark.parametrize(
    "origin", ["*", "http://*.example.com", "http://127.0.0.1:8000/", "127.0.0.1:8000", "null"]
)
def test_anything_but_an_exact_origin_is_refused(origin: str) -> None:
    with pytest.raises(ValidationError, match="not an exact origin"):
        NotifierSettings(cors_origins=[origin])
