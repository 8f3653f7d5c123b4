"""One running system per test session, reached only through its public HTTP API."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from bootstrap import free_port
from system import System

from tests.support.api import api_client
from tests.support.infra import system_of_components


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with system_of_components(
        tmp_path_factory.mktemp("system"),
        boleto=True,
        notifier=True,
        MONGODB_DB="e2e",
        API_KEY_CACHE_SECONDS="1",
        INTER_SIM_PROCESSING_DELAY_SECONDS="0.5",
        BOLETO_PROCESSING_POLL_S="0.2",
        # the bank's limits per second instead of per minute: same rules, faster tests
        BOLETO_LIMIT_WINDOW_S="1",
        INTER_SIM_WINDOW_SECONDS="1",
        RETRY_BASE_DELAY_MS="200",
        # queue depths and outbox backlogs in /metrics every second, not every 15
        METRICS_SAMPLE_S="1",
        # receivers run on loopback here; short schedules and leases keep retries fast
        NOTIFIER_ALLOW_HTTP="true",
        NOTIFIER_ALLOW_LOOPBACK="true",
        NOTIFIER_RETRY_SCHEDULE_S="0.2,0.4,0.8",
        NOTIFIER_ATTEMPT_TIMEOUT_S="2",
        NOTIFIER_LEASE_MARGIN_S="2",
        NOTIFIER_SWEEP_INTERVAL_S="0.5",
        NOTIFIER_DISABLE_AFTER_FAILURES="6",
        NOTIFIER_DISABLE_AFTER_S="0",
        NOTIFIER_HEARTBEAT_S="1",
        # the e-mail test starts its SMTP server (aiosmtpd) on this port
        NOTIFIER_SMTP_HOST="127.0.0.1",
        NOTIFIER_SMTP_PORT=str(free_port()),
        NOTIFIER_SMTP_ALLOW_PLAIN="true",
    ) as running:
        yield running


@pytest.fixture
async def client(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(system.base_url, system.api_key) as c:
        yield c


@pytest.fixture
async def admin(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(system.base_url, system.admin_key) as c:
        yield c
