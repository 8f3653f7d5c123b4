"""Fixtures every layer shares: where the sample schedules are.

A small set is vendored in ``tests/fixtures/projects``, so the repository alone proves
conversion. The larger set (``../shared/fixtures/projects``) feeds the suites that need many
files; without it they skip, unless ``CI`` is set: CI must not go green on fewer files.
"""

import os
from pathlib import Path

import pytest

VENDORED = Path(__file__).resolve().parent / "fixtures" / "projects"
FULL = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "projects"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The vendored sample schedules: always there."""
    return VENDORED


@pytest.fixture(scope="session")
def mpp_files(fixtures_dir: Path) -> list[Path]:
    files = sorted((fixtures_dir / "mpp").glob("*.mpp"))
    assert len(files) >= 8, f"the vendored MPP samples are missing from {fixtures_dir}"
    return files


@pytest.fixture(scope="session")
def full_fixtures_dir() -> Path:
    """The larger set next to the repository; skipped without it, a failure on CI."""
    if not FULL.is_dir():
        reason = f"the larger sample set is not at {FULL} (it lives in ../shared/fixtures)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {reason}", pytrace=False)
        pytest.skip(reason)
    return FULL


@pytest.fixture(scope="session")
def all_mpp_files(full_fixtures_dir: Path) -> list[Path]:
    return sorted((full_fixtures_dir / "mpp").glob("*.mpp"))
