"""Builds the limiter, the shared token and the Inter client from settings (api and worker)."""

import ssl
from functools import partial

import httpx

from boleto_sync.inter.client import InterClient, fetch_token
from boleto_sync.inter.token import SharedToken
from boleto_sync.inter.token_repository import TokenRepository
from boleto_sync.limiter import GlobalRateLimiter, Limit
from boleto_sync.limiter_repository import RateLimitRepository
from boleto_sync.repository import BoletoRepository
from boleto_sync.service import BoletoService
from boleto_sync.settings import BoletoSettings
from shared.bootstrap import Infra
from shared.messaging import OutboxRelay

GROUPS = ("issue", "get", "list", "pdf", "cancel", "token", "webhook")


def limiter(infra: Infra, settings: BoletoSettings) -> GlobalRateLimiter:
    limits = {g: Limit(getattr(settings, f"limit_{g}"), settings.limit_window_s) for g in GROUPS}
    return GlobalRateLimiter(RateLimitRepository(infra.db), limits, settings.limit_utilisation)


def boleto_service(infra: Infra, settings: BoletoSettings) -> BoletoService:
    repo = BoletoRepository(infra.db)
    return BoletoService(
        repo, OutboxRelay(repo.outbox, infra.broker), infra.store, limiter(infra, settings)
    )


def inter_http(settings: BoletoSettings) -> httpx.AsyncClient:
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


def inter_client(
    infra: Infra, settings: BoletoSettings, http: httpx.AsyncClient, limits: GlobalRateLimiter
) -> InterClient:
    fetch = partial(
        fetch_token,
        http,
        limits,
        settings.inter_client_id,
        settings.inter_client_secret,
        settings.inter_scope,
    )
    stored = TokenRepository(infra.db, f"inter:{settings.inter_client_id}")
    token = SharedToken(stored, fetch)
    return InterClient(http, limits, token, settings.inter_account)
