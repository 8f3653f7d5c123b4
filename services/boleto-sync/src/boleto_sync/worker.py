"""The boleto worker: issues charges and syncs PDFs within the global rate limits."""

import asyncio
from urllib.parse import urlencode

import structlog

from boleto_sync.bootstrap import boleto_service, inter_client, inter_http
from boleto_sync.consumer import subscriptions
from boleto_sync.handlers import WorkerDeps
from boleto_sync.inter.client import InterClient
from boleto_sync.inter.errors import InterError
from boleto_sync.settings import BoletoSettings
from shared.bootstrap import Infra
from shared.http.ops import serve_ops
from shared.logging import configure_logging
from shared.runtime import every, serve_until_stopped
from shared.settings import InfraSettings
from shared.telemetry import configure_telemetry

log = structlog.get_logger()


async def run_worker(infra_settings: InfraSettings, settings: BoletoSettings) -> None:
    infra = await Infra.open(infra_settings)
    service = boleto_service(infra, settings)
    await service.repo.ensure_indexes()
    await service.relay.ensure_indexes()
    http = inter_http(settings)
    inter = inter_client(infra, settings, http, service.limiter)
    deps = WorkerDeps(
        service,
        inter,
        settings.processing_poll_s,
        settings.processing_timeout_s,
    )
    await serve_until_stopped(
        subscriptions(
            infra.broker,
            deps,
            settings.max_parallel_pdfs,
            infra_settings.max_delivery_attempts,
            infra_settings.retry_base_delay_ms,
        ),
        [
            _register_webhook(inter, settings),
            every(2.0, service.relay.sweep, "outbox"),
            serve_ops(infra.checks(), settings.host, settings.ops_port),
        ],
        [http.aclose, infra.close],
    )


async def _register_webhook(inter: InterClient, settings: BoletoSettings) -> None:
    """Tell the bank where to send charge callbacks (best effort: retried at the next start)."""
    if not settings.webhook_url:
        return
    url = settings.webhook_url
    if settings.webhook_token:
        url += ("&" if "?" in url else "?") + urlencode({"token": settings.webhook_token})
    try:
        await inter.set_webhook(url)
        log.info("inter.webhook_registered", url=settings.webhook_url)
    except InterError as exc:
        log.warning("inter.webhook_not_registered", error=str(exc))


def main() -> None:
    infra_settings = InfraSettings()
    configure_logging("boleto-sync-worker", infra_settings)
    configure_telemetry("boleto-sync-worker")
    asyncio.run(run_worker(infra_settings, BoletoSettings()))
