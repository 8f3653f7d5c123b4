"""A minimal keep-alive HTTP/1.1 receiver in the benchmark's own event loop.

It answers 204 at once and notes when each ``webhook-id`` arrived, on the clock the
publisher uses, so latency from publication needs no clock sync.
"""

import asyncio
import time


class FastReceiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.requests = 0
        self.changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)

    async def stop(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = _headers(head)
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                self.arrivals.setdefault(headers.get("webhook-id", ""), time.perf_counter())
                self.changed.set()
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def wait_for(self, ids: list[str], timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while not all(i in self.arrivals for i in ids):
            self.changed.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                return False
        return True


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}
