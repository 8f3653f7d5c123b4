"""The Banco Inter simulator's injected faults and its control API (configure, reset)."""

import time
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.support import inter
from tests.support.inter import CHARGES, assert_problem, configure, issued, stats, wait_situacao

pytestmark = pytest.mark.timeout(60)
sim, auth = inter.sim, inter.auth  # fixtures: a fresh simulator, a token for it


async def test_server_errors_at_the_configured_rate(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await configure(
        sim, limits={"get": None}, faults={"seed": 7, "groups": {"get": {"error_rate": 0.3}}}
    )
    statuses = Counter(
        [(await sim.get(f"{CHARGES}/x", headers=auth)).status_code for _ in range(400)]
    )
    errors = sum(n for status, n in statuses.items() if status >= 500)
    assert set(statuses) <= {404, 500, 502, 503}
    assert 0.22 <= errors / 400 <= 0.38, statuses
    assert (await stats(sim))["groups"]["get"]["faults"]["error"] == errors
    other = [(await sim.get(f"{CHARGES}/x/pdf", headers=auth)).status_code for _ in range(20)]
    assert set(other) == {404}  # the override holds for its group only


async def test_malformed_bodies(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    codigo = await issued(sim, auth, seuNumero="M-1")
    whole = await wait_situacao(sim, auth, codigo, "A_RECEBER")
    await configure(sim, faults={"seed": 3, "malformed_rate": 1.0})
    kinds: Counter[str] = Counter()
    for _ in range(40):
        response = await sim.get(f"{CHARGES}/{codigo}", headers=auth)
        assert response.status_code == 200
        try:
            body = response.json()
        except ValueError:
            kinds["invalid json"] += 1
            continue
        missing = key_paths(whole) - key_paths(body)
        root = min(missing, key=len)  # one field gone, with whatever it held
        assert key_paths(body) < key_paths(whole)
        assert all(path == root or path.startswith(f"{root}.") for path in missing)
        kinds["missing field"] += 1
    assert kinds["invalid json"] > 5 and kinds["missing field"] > 5, kinds
    assert (await stats(sim))["groups"]["get"]["faults"]["malformed"] == 40


def key_paths(document: dict[str, Any]) -> set[str]:
    """Top-level keys and keys one level down, as ``outer.inner``."""
    paths = set(document)
    for key, value in document.items():
        if isinstance(value, dict):
            paths |= {f"{key}.{inner}" for inner in value}
    return paths


async def test_latency_and_timeouts(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await configure(sim, faults={"groups": {"get": {"latency_ms": 150, "jitter_ms": 50}}})
    started = time.monotonic()
    assert (await sim.get(f"{CHARGES}/x", headers=auth)).status_code == 404
    assert 0.15 <= time.monotonic() - started < 1.0

    await configure(sim, faults={"timeout_rate": 1.0, "timeout_seconds": 0.3, "groups": {}})
    started = time.monotonic()
    assert_problem(await sim.get(f"{CHARGES}/x", headers=auth), 504)
    assert time.monotonic() - started >= 0.3
    assert (await stats(sim))["groups"]["get"]["faults"]["timeout"] == 1


async def test_failed_issue_ends_in_falha_emissao(
    sim: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await configure(sim, processing_delay_seconds=0, faults={"issue_failure_rate": 1.0})
    codigo = await issued(sim, auth)
    view = await wait_situacao(sim, auth, codigo, "FALHA_EMISSAO")
    assert "boleto" not in view
    assert_problem(await sim.get(f"{CHARGES}/{codigo}/pdf", headers=auth), 400)


async def test_invalid_control_input_is_refused(sim: httpx.AsyncClient) -> None:
    assert_problem(await sim.post("/_sim/config", json={"limits": {"nope": 1}}), 400)
    assert_problem(await sim.post("/_sim/config", json={"faults": {"error_rate": 2}}), 400)
    assert_problem(await sim.post("/_sim/config", json={"unknown": 1}), 400)


async def test_reset_forgets_everything(sim: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await issued(sim, auth)
    await configure(sim, limits={"get": 1}, faults={"error_rate": 0.5})
    before = await stats(sim)
    assert before["charges"]["total"] == 1 and before["groups"]["issue"]["accepted"] == 1

    config = (await sim.post("/_sim/reset")).json()
    assert config["limits"]["get"] == 120 and config["faults"]["error_rate"] == 0
    after = await stats(sim)
    assert after["charges"] == {"total": 0, "by_situacao": {}}
    assert all(group["accepted"] == 0 for group in after["groups"].values())
    assert_problem(await sim.get(f"{CHARGES}/x", headers=auth), 401)

    await configure(sim, limits={"get": 1})
    kept = (await sim.post("/_sim/reset", params={"keep_config": "true"})).json()
    assert kept["limits"]["get"] == 1
