"""``/_sim``: the unauthenticated control API for tests and benchmarks."""

from typing import Any

from fastapi import APIRouter, Response

from inter_simulator.charges import settle
from inter_simulator.deps import Sim
from inter_simulator.schemas import PayRequest
from inter_simulator.simulator import ConfigPatch

router = APIRouter(prefix="/_sim", tags=["simulator control"])
health_router = APIRouter(tags=["health"])


@router.get("/stats")
async def stats(sim: Sim) -> dict[str, Any]:
    return sim.stats()


@router.get("/config")
async def config(sim: Sim) -> dict[str, Any]:
    return sim.config_view()


@router.post("/config")
async def configure(sim: Sim, patch: ConfigPatch) -> dict[str, Any]:
    sim.configure(patch)
    return sim.config_view()


@router.post("/reset")
async def reset(sim: Sim, keep_config: bool = False) -> dict[str, Any]:
    sim.reset(keep_config)
    return sim.config_view()


@router.post("/tokens/expire", status_code=204)
async def expire_tokens(sim: Sim) -> Response:
    sim.tokens.expire_all()
    return Response(status_code=204)


@router.post("/charges/{codigo}/pagar", status_code=204)
async def pay(sim: Sim, codigo: str, body: PayRequest | None = None) -> Response:
    """The sandbox's payment without its token: pays the charge and fires its callback."""
    settle(sim, codigo, body or PayRequest())
    return Response(status_code=204)


@health_router.get("/healthz")
@health_router.get("/readyz")
async def health() -> dict[str, str]:
    return {"status": "ok"}
