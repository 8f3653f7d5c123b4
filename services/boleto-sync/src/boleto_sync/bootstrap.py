"""Wires boleto-sync: the API's service, and the worker's handlers, bank client and loops."""

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from urllib.parse import urlencode

import httpx
import structlog

from boleto_sync.bank_checks import CHECK_EVERY_S, run_due_checks
from boleto_sync.cache import boleto_cache
from boleto_sync.check_repository import BankCheckRepository
from boleto_sync.consumer import subscriptions
from boleto_sync.fair_share import FairShareLimiter
from boleto_sync.inter.client import InterClient, fetch_token
from boleto_sync.inter.errors import InterError
from boleto_sync.inter.metrics import LIMITER_WAIT
from boleto_sync.inter.token import SharedToken
from boleto_sync.inter.token_repository import TokenRepository
from boleto_sync.reconciliation import POLL_S, Reconciler
from boleto_sync.reconciliation_repository import ReconciliationRepository
from boleto_sync.repository import BoletoRepository
from boleto_sync.service import BoletoService
from boleto_sync.settings import BoletoSettings
from shared.admin.summary_repository import JobSummaryRepository
from shared.bootstrap import Infra
from shared.messaging import OutboxRelay
from shared.messaging.broadcast import Broadcast
from shared.ratelimit.gcra import GlobalRateLimiter, Limit
from shared.ratelimit.repository import RateLimitRepository
from shared.runtime import every
from shared.service import Worker
from shared.storage import ObjectStore
from shared.telemetry import tracer

log = structlog.get_logger()
GROUPS = ("issue", "get", "list", "pdf", "cancel", "token", "webhook", "summary", "callbacks")
MIN_CALLBACK_SECRET = 16


class NoCallbackSecret(RuntimeError):
    """Production without ``BOLETO_WEBHOOK_TOKEN``: anyone could post the bank's callbacks."""


def require_callback_secret(environment: str, token: str | None) -> None:
    if environment == "production" and len((token or "").strip()) < MIN_CALLBACK_SECRET:
        raise NoCallbackSecret(
            "BOLETO_WEBHOOK_TOKEN must be set (at least 16 characters) when "
            "ENVIRONMENT=production: without it anyone can post to /v1/inter/webhook. Set a "
            "long random value in the boleto-sync-credentials Secret; the worker registers "
            "it with the bank in the callback URL (docs/security.md, Bank callbacks)."
        )


@dataclass
class ApiDeps:
    boletos: BoletoService
    webhook_token: str | None
    job_summary: JobSummaryRepository
    reconciliation: ReconciliationRepository


@dataclass
class WorkerDeps:
    repo: BoletoRepository
    relay: OutboxRelay
    store: ObjectStore
    inter: InterClient
    processing_poll_s: float
    processing_timeout_s: float
    payment_agenda_days: int = 30


@asynccontextmanager
async def api(infra: Infra, settings: BoletoSettings) -> AsyncIterator[ApiDeps]:
    require_callback_secret(infra.settings.environment, settings.webhook_token)
    repo = await _repository(infra)
    cache = boleto_cache(repo.shown)
    relay = OutboxRelay(repo.outbox, infra.broker)
    limiter = _limiter(infra, settings)
    checks = BankCheckRepository(infra.db)
    service = BoletoService(repo, relay, infra.store, limiter, cache, checks)
    changes = Broadcast(infra.broker, cache.routing_keys, cache.on_event, on_gap=cache.clear)
    await changes.start()
    try:
        yield ApiDeps(
            service, settings.webhook_token, repo.job_summary, ReconciliationRepository(infra.db)
        )
    finally:
        await changes.stop()


async def worker(infra: Infra, settings: BoletoSettings) -> Worker:
    require_callback_secret(infra.settings.environment, settings.webhook_token)
    repo = await _repository(infra)
    await repo.forget_issued_payers()  # once per worker start, not per API replica too
    relay = OutboxRelay(repo.outbox, infra.broker)
    http = _inter_http(settings)
    inter = _inter_client(infra, settings, http, _limiter(infra, settings))
    deps = WorkerDeps(
        repo,
        relay,
        infra.store,
        inter,
        settings.processing_poll_s,
        settings.processing_timeout_s,
        settings.payment_agenda_days,
    )
    checks = BankCheckRepository(infra.db)
    runs = ReconciliationRepository(infra.db)
    await runs.ensure()
    every_run = timedelta(seconds=settings.reconcile_interval_s)
    reconciler = Reconciler(runs, checks, deps, every_run)
    return Worker(
        subscriptions(infra, deps, settings.prefetch),
        relays=[relay],
        loops=[
            _register_webhook(inter, settings),
            every(CHECK_EVERY_S, partial(run_due_checks, checks, deps), "boleto.bank_checks"),
            every(POLL_S, reconciler.run_if_due, "boleto.reconciliation"),
        ],
        closers=[http.aclose],
    )


async def _repository(infra: Infra) -> BoletoRepository:
    repo = BoletoRepository(infra.db)
    await repo.ensure_indexes()
    return repo


def _limiter(infra: Infra, settings: BoletoSettings) -> GlobalRateLimiter:
    limits = {g: Limit(getattr(settings, f"limit_{g}"), settings.limit_window_s) for g in GROUPS}
    slots = RateLimitRepository(infra.db, "inter_rate_limits")
    utilisation = settings.limit_utilisation
    return FairShareLimiter(slots, limits, infra.tenants, utilisation, _observe_wait)


def _observe_wait(group: str, waited_s: float) -> None:
    LIMITER_WAIT.labels(group).observe(waited_s)


def _inter_http(settings: BoletoSettings) -> httpx.AsyncClient:
    verify: ssl.SSLContext | bool = True
    if settings.inter_cert_file:
        verify = ssl.create_default_context(cafile=settings.inter_ca_file)
        verify.load_cert_chain(settings.inter_cert_file, settings.inter_key_file)
    return httpx.AsyncClient(
        base_url=settings.inter_base_url,
        timeout=settings.inter_timeout_s,
        verify=verify,
        limits=httpx.Limits(max_connections=50),
    )


def _inter_client(
    infra: Infra, settings: BoletoSettings, http: httpx.AsyncClient, limiter: GlobalRateLimiter
) -> InterClient:
    fetch = partial(
        fetch_token,
        http,
        limiter,
        settings.inter_client_id,
        settings.inter_client_secret,
        settings.inter_scope,
    )
    stored = TokenRepository(infra.db, f"inter:{settings.inter_client_id}")
    return InterClient(http, limiter, SharedToken(stored, fetch), settings.inter_account)


async def _register_webhook(inter: InterClient, settings: BoletoSettings) -> None:
    """Tell the bank where to send charge callbacks (best effort: retried at the next start)."""
    if not settings.webhook_url:
        return
    url = settings.webhook_url
    if settings.webhook_token:
        url += ("&" if "?" in url else "?") + urlencode({"token": settings.webhook_token})
    # one trace for the token, the limiter's waits and the call, not one apiece
    with tracer.start_as_current_span("register webhook"):
        try:
            await inter.set_webhook(url)
            log.info("inter.webhook_registered", url=settings.webhook_url)
        except InterError as exc:
            log.warning("inter.webhook_not_registered", error=str(exc))
