"""Every sample schedule converts through the whole system into exactly what MPXJ writes."""

import asyncio
import random
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from tests.support.api import convert
from tests.support.generate import generate
from tests.support.mspdi import normalise
from tests.support.reference import reference_outputs


async def test_every_mpp_fixture_equals_mpxj_own_mspdi(
    client: httpx.AsyncClient, all_mpp_files: list[Path], tmp_path: Path
) -> None:
    mpp_files = all_mpp_files
    references = await asyncio.to_thread(reference_outputs, mpp_files, tmp_path / "ref")
    semaphore = asyncio.Semaphore(8)

    async def one(path: Path) -> tuple[Path, dict, bytes]:  # type: ignore[type-arg]
        async with semaphore:
            job = await convert(client, path)
            result = await client.get(f"/v1/conversions/{job['id']}/result")
            return path, job, result.content

    outcomes = await asyncio.gather(*(one(p) for p in mpp_files))
    differing = []
    for path, job, body in outcomes:
        assert job["status"] == "completed", (path.name, job.get("error"))
        reference = references[path]
        assert reference is not None, f"MPXJ itself failed on {path.name}"
        if normalise(body) != normalise(reference):
            differing.append(path.name)
        assert job["result"]["sha256"]
        assert job["result"]["manifest"]["read"]["tasks"] == _tasks(reference), path.name
    assert differing == []
    assert len(outcomes) == len(mpp_files) >= 70


@pytest.mark.parametrize(
    "name",
    [
        "PredecessorCalendar.xer",
        "legacy__sample.mpx",
        "legacy__sample.xml",
        "planner-calendar.planner",
        "generated__task-percentcomplete__percent-complete-8.4.pmxml",
    ],
)
async def test_other_formats_equal_mpxj_own_mspdi(
    client: httpx.AsyncClient, fixtures_dir: Path, name: str, tmp_path: Path
) -> None:
    await _equals_mpxj_own_mspdi(client, fixtures_dir / "other" / name, tmp_path)


@pytest.mark.parametrize(
    "name", ["mspditimephased.xml", "mpxrecurring.mpx", "assignment__resource-rates-test.xer"]
)
async def test_more_other_formats_equal_mpxj_own_mspdi(
    client: httpx.AsyncClient, full_fixtures_dir: Path, name: str, tmp_path: Path
) -> None:
    await _equals_mpxj_own_mspdi(client, full_fixtures_dir / "other" / name, tmp_path)


async def _equals_mpxj_own_mspdi(client: httpx.AsyncClient, source: Path, tmp_path: Path) -> None:
    reference = (await asyncio.to_thread(reference_outputs, [source], tmp_path / "ref"))[source]
    assert reference is not None, f"MPXJ itself failed on {source.name}"
    job = await convert(client, source)
    assert job["status"] == "completed", job.get("error")
    result = await client.get(f"/v1/conversions/{job['id']}/result")
    assert result.status_code == 200
    assert normalise(result.content) == normalise(reference)
    assert job["result"]["manifest"]["read"]["tasks"] == _tasks(reference) > 0


async def test_schedules_never_seen_before_equal_mpxj_own_mspdi(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    files = generate(tmp_path / "generated", seed, 15)
    references = reference_outputs(files, tmp_path / "ref")
    assert sum(ref is not None for ref in references.values()) >= 10, seed
    for path in files:
        job = await convert(client, path)
        reference = references[path]
        if reference is None:  # MPXJ itself cannot read what it wrote: we fail the same way
            assert job["status"] == "failed" and job["error"]["code"] == "corrupt_file", seed
            continue
        assert job["status"] == "completed", (seed, path.name, job["error"])
        result = await client.get(f"/v1/conversions/{job['id']}/result")
        assert normalise(result.content) == normalise(reference), (seed, path.name)


def _tasks(mspdi: bytes) -> int:
    root = ET.fromstring(mspdi)
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    return len(root.findall(f"{ns}Tasks/{ns}Task"))
