"""``create_app()``: the Banco Inter Cobrança v3 simulator."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from inter_simulator import charges, control, oauth
from inter_simulator.middleware import SimulatorMiddleware
from inter_simulator.problems import install_problem_handlers
from inter_simulator.settings import SimulatorSettings
from inter_simulator.simulator import Simulator
from shared.logging import configure_logging
from shared.settings import InfraSettings

log = structlog.get_logger()


def create_app(settings: SimulatorSettings | None = None) -> FastAPI:
    settings = settings or SimulatorSettings()
    configure_logging("inter-simulator", InfraSettings())
    simulator = Simulator(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("simulator.started", profile=settings.profile, tls=settings.tls)
        try:
            yield
        finally:
            await simulator.webhooks.close()

    app = FastAPI(
        title="Banco Inter API Cobrança v3 simulator",
        description="Development, tests and benchmarks only; never deployed.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.simulator = simulator
    install_problem_handlers(app)
    app.add_middleware(SimulatorMiddleware, simulator=simulator)
    for router in (oauth.router, charges.router, control.router, control.health_router):
        app.include_router(router)
    return app
