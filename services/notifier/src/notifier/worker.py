"""The notifier worker: fans events out into deliveries, sends them, keeps the replay window."""

import asyncio
from datetime import timedelta

from notifier.bootstrap import Repositories, dispatcher
from notifier.consumer import deliverable_events
from notifier.handlers import FanOut
from notifier.settings import NotifierSettings
from shared.bootstrap import Infra
from shared.http.ops import serve_ops
from shared.logging import configure_logging
from shared.runtime import every, serve_until_stopped
from shared.settings import InfraSettings
from shared.telemetry import configure_telemetry


async def run_worker(infra_settings: InfraSettings, settings: NotifierSettings) -> None:
    infra = await Infra.open(infra_settings)
    repos = Repositories(infra)
    await repos.ensure_indexes()
    sending, webhooks = dispatcher(infra, repos, settings)
    fan_out = FanOut(
        repos.subscriptions,
        repos.deliveries,
        repos.replay,
        timedelta(seconds=settings.replay_window_s),
        sending,
    )
    await serve_until_stopped(
        [deliverable_events(infra, fan_out, settings.prefetch)],
        [
            sending.run(),
            every(2.0, repos.relay.sweep, "outbox"),
            serve_ops(infra.checks(), settings.host, settings.ops_port),
        ],
        [sending.drain, webhooks.client.aclose, infra.close],
    )


def main() -> None:
    infra_settings = InfraSettings()
    configure_logging("notifier-worker", infra_settings)
    configure_telemetry("notifier-worker")
    asyncio.run(run_worker(infra_settings, NotifierSettings()))
