"""Request dependencies: the simulator, and a bearer token with the scope an endpoint needs."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from inter_simulator.auth import Token
from inter_simulator.problems import InterError
from inter_simulator.simulator import Simulator

READ, WRITE = "boleto-cobranca.read", "boleto-cobranca.write"


async def get_simulator(request: Request) -> Simulator:
    simulator: Simulator = request.app.state.simulator
    return simulator


Sim = Annotated[Simulator, Depends(get_simulator)]


def authorized(scope: str) -> Callable[..., Awaitable[Token]]:
    async def dependency(
        sim: Sim,
        authorization: Annotated[str | None, Header()] = None,
        x_conta_corrente: Annotated[str | None, Header()] = None,
    ) -> Token:
        token = sim.tokens.check(authorization, scope)
        expected = sim.settings.conta_corrente
        if expected and x_conta_corrente not in (None, expected):
            raise InterError(403, "x-conta-corrente não pertence a esta aplicação")
        return token

    return dependency


Reader = Annotated[Token, Depends(authorized(READ))]
Writer = Annotated[Token, Depends(authorized(WRITE))]
