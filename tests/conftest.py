"""Fixtures every layer shares: where the sample schedules are."""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "projects"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.skip(f"sample schedules not found at {FIXTURES} (they live in ../shared/fixtures)")
    return FIXTURES


@pytest.fixture(scope="session")
def mpp_files(fixtures_dir: Path) -> list[Path]:
    return sorted((fixtures_dir / "mpp").glob("*.mpp"))
