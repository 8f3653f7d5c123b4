"""What the database acknowledged survives the database process being killed.

Writes go through the platform's own client (``shared.mongo.connect``), which asks for
journaled writes: SecantusDB, like mongod with ``j: false``, otherwise loses the writes of
its last moments on a SIGKILL (measured here: 1 to 9 of ~1,000 acknowledged inserts), and a
job whose completion was acknowledged, then lost, would stay "converting" for ever.
"""

import asyncio
from pathlib import Path
from typing import Any

from bootstrap import port_open, start_secantus, wait_for
from pymongo.errors import ConnectionFailure

from shared.mongo import connect
from shared.settings import InfraSettings


async def test_every_acknowledged_write_survives_a_kill_of_the_database(tmp_path: Path) -> None:
    server = start_secantus(tmp_path / "db", tmp_path / "db.log")
    settings = InfraSettings(mongodb_url=server.url, mongodb_db="durability")
    client = connect(settings)
    try:
        jobs = client[settings.mongodb_db]["jobs"]
        assert jobs.write_concern.document == {"j": True}
        acknowledged: list[int] = []
        enough = asyncio.Event()  # writes are flowing: time to kill

        async def writer(first: int) -> None:
            for n in range(first, first + 100_000, 4):
                try:
                    await jobs.insert_one({"_id": n})
                except Exception:
                    return
                acknowledged.append(n)
                if len(acknowledged) >= 200:
                    enough.set()

        writers = [asyncio.create_task(writer(i)) for i in range(4)]
        await asyncio.wait_for(enough.wait(), 60)
        server.process.kill()  # mid-write: some inserts are in flight
        await asyncio.to_thread(server.process.wait, 10)
        await asyncio.gather(*writers)
        server.restart()
        await asyncio.to_thread(wait_for, lambda: port_open(server.port), 60, "SecantusDB")
        stored = await _read_when_serving(jobs)
        assert set(acknowledged) <= stored, sorted(set(acknowledged) - stored)
    finally:
        await client.close()
        server.stop()


async def _read_when_serving(jobs: Any) -> set[int]:
    """Every stored id, once the restarted server answers queries: its port opens before it
    serves, and a loaded machine can hold the first query past server selection's timeout.
    What this test judges is the data, not how soon the server is back."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        try:
            return {doc["_id"] async for doc in jobs.find({}, {"_id": 1})}
        except ConnectionFailure:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
