"""The services' processes run on jemalloc (scripts/bootstrap.py, JEMALLOC_CONF), the converter,
which hosts JVMs, on the default allocators; the images are built the same way."""

import re
from pathlib import Path

import pytest
from bootstrap import JEMALLOC_CONF
from system import System

DOCKERFILE = Path(__file__).resolve().parents[2] / "deploy" / "Dockerfile"


def _libraries(pid: int) -> set[str]:
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {Path(line.split()[-1]).name for line in maps if line.split()[-1].startswith("/")}


@pytest.mark.parametrize("name", ["upload-api", "upload-worker", "boleto-api", "notifier-api"])
def test_a_service_process_allocates_through_jemalloc(system: System, name: str) -> None:
    process = system.processes[name]
    assert process.poll() is None
    assert "libjemalloc.so.2" in _libraries(process.pid)
    environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
    assert b"PYTHONMALLOC=malloc" in environ  # Python's objects too, not its own arenas


def test_the_converter_keeps_the_default_allocators(system: System) -> None:
    process = system.processes["converter"]
    assert process.poll() is None
    assert "libjemalloc.so.2" not in _libraries(process.pid)


def test_the_images_set_the_same_allocator_and_the_converter_image_resets_it() -> None:
    text = DOCKERFILE.read_text()
    service, converter = text.split("FROM service AS converter", 1)
    assert re.search(rf"MALLOC_CONF={re.escape(JEMALLOC_CONF)}\s", service)
    assert "LD_PRELOAD=/usr/local/lib/libjemalloc.so.2" in service
    assert 'LD_PRELOAD=""' in converter and 'PYTHONMALLOC=""' in converter
