"""Fixtures for tests of boleto-sync's API; the test module provides a ``system`` fixture."""

from collections.abc import AsyncIterator

import httpx
import pytest
from system import System

from tests.support.api import api_client


@pytest.fixture
async def api(system: System) -> AsyncIterator[httpx.AsyncClient]:
    """boleto-sync's API as the system's tenant."""
    async with api_client(system.boleto_url, system.api_key, timeout=30) as client:
        yield client


@pytest.fixture
async def admin(system: System) -> AsyncIterator[httpx.AsyncClient]:
    """boleto-sync's API as the system's admin."""
    async with api_client(system.boleto_url, system.admin_key, timeout=30) as client:
        yield client
