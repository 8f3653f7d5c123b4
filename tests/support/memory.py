"""Peak memory of a storage round trip, measured in a fresh interpreter."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# Runs in a fresh interpreter, since the test process's peak depends on whatever ran before it
# and memory freed earlier can be reused unseen. VmHWM rather than getrusage's ru_maxrss, which
# Linux carries over from the parent through fork and exec. The baseline follows a warm-up.
MEMORY_PROBE = """
import asyncio, hashlib, json, os, sys
from pathlib import Path
from shared.settings import InfraSettings
from shared.storage import create_store

CHUNK, COUNT, REPORT = 1 << 20, int(sys.argv[1]), Path(sys.argv[2])


def peak_rss() -> int:
    status = Path("/proc/self/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) * 1024


async def round_trip(store, key, count):
    writer = store.writer(key)
    for _ in range(count):
        writer.write(os.urandom(CHUNK))
    stored = await writer.commit()
    digest = hashlib.sha256()
    async for chunk in store.read(key):
        digest.update(chunk)
    return stored, digest.hexdigest()


async def main():
    store = create_store(InfraSettings())
    await round_trip(store, "warm-up", 1)
    before = peak_rss()
    stored, read_sha256 = await round_trip(store, "large", COUNT)
    report = {"size": stored.size, "sha256": stored.sha256, "read_sha256": read_sha256,
              "growth": peak_rss() - before, "size_in_store": await store.size("large")}
    REPORT.write_text(json.dumps(report))

asyncio.run(main())
"""


def run_memory_probe(environment: dict[str, str], chunks: int, workdir: Path) -> dict[str, Any]:
    report = workdir / "memory-report.json"
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(chunks), str(report)],
        env=os.environ | environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(report.read_text()))
