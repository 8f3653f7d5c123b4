"""The Banco Inter simulator's gate: OAuth2 tokens and scopes, the account header, mutual TLS."""

from pathlib import Path

import httpx
import pytest

from tests.support import inter
from tests.support.inter import (
    CHARGES,
    CLIENT_ID,
    assert_problem,
    charge_body,
    simulator_client,
    simulator_process,
    stats,
    token,
    write_tls_files,
)

pytestmark = pytest.mark.timeout(60)
sim = inter.sim  # fixture: a fresh simulator


async def test_token_flow_and_bearer_checks(sim: httpx.AsyncClient) -> None:
    form = {"client_id": CLIENT_ID, "client_secret": "wrong", "grant_type": "client_credentials"}
    assert_problem(await sim.post("/oauth/v2/token", data=form), 401)
    assert_problem(await sim.post("/oauth/v2/token", data={"client_id": CLIENT_ID}), 400)

    response = await sim.post(
        "/oauth/v2/token",
        data={**form, "client_secret": "sim-secret", "scope": "boleto-cobranca.read"},
    )
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "boleto-cobranca.read" and body["access_token"]
    read_only = {"Authorization": f"Bearer {body['access_token']}"}

    assert_problem(await sim.get(f"{CHARGES}/x"), 401)
    assert_problem(await sim.get(f"{CHARGES}/x", headers={"Authorization": "Bearer nope"}), 401)
    assert_problem(await sim.get(f"{CHARGES}/x", headers=read_only), 404)
    assert_problem(await sim.post(CHARGES, json=charge_body(), headers=read_only), 403)

    assert (await sim.post("/_sim/tokens/expire")).status_code == 204
    assert_problem(await sim.get(f"{CHARGES}/x", headers=read_only), 401)


async def test_account_header_must_match_when_configured() -> None:
    async with simulator_client(conta_corrente="12345678") as sim:
        auth = await token(sim)
        ours = await sim.get(f"{CHARGES}/x", headers=auth | {"x-conta-corrente": "12345678"})
        assert_problem(ours, 404)
        other = await sim.get(f"{CHARGES}/x", headers=auth | {"x-conta-corrente": "999"})
        assert_problem(other, 403)


async def test_process_with_mutual_tls(tmp_path: Path) -> None:
    tls = write_tls_files(tmp_path / "tls")
    with simulator_process(
        tmp_path / "simulator.log",
        tls_cert_file=str(tls.server_cert),
        tls_key_file=str(tls.server_key),
        tls_ca_file=str(tls.ca),
        profile="original",
    ) as base_url:
        anonymous = httpx.AsyncClient(base_url=base_url, verify=tls.client_context(False))
        async with anonymous:
            with pytest.raises(httpx.TransportError):
                await anonymous.post("/oauth/v2/token", data={})
        async with httpx.AsyncClient(base_url=base_url, verify=tls.client_context()) as client:
            auth = await token(client)
            assert (await client.get(f"{CHARGES}/x", headers=auth)).status_code == 404
            assert (await stats(client))["global"]["limit"] == 5
