"""A loopback TCP proxy a test can cut: the peer behind it looks stopped, then back.

``cut()`` drops every open connection and stops listening, so new connections are refused
exactly as by a stopped server; ``restore()`` listens again on the same port. It runs in a
process of its own, so neither the test's event loop nor its CPU (a flood of uploads) slows
the traffic through it.
"""

import asyncio
import multiprocessing
from contextlib import suppress
from multiprocessing.connection import Connection

from bootstrap import free_port

CHUNK = 1 << 16
_SPAWN = multiprocessing.get_context("spawn")


class FaultProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host, self.target_port = host, target_port
        self.port = free_port()
        self._control, child = _SPAWN.Pipe()
        self._process = _SPAWN.Process(
            target=_serve, args=(child, host, self.port, target_port), daemon=True
        )

    def start(self) -> "FaultProxy":
        self._process.start()
        self._ask("restore")
        return self

    def cut(self) -> None:
        self._ask("cut")

    def restore(self) -> None:
        self._ask("restore")

    def stop(self) -> None:
        self._ask("stop")
        self._process.join(5)

    def _ask(self, command: str) -> None:
        self._control.send(command)
        if not self._control.poll(10):
            raise RuntimeError(f"the fault proxy did not {command} within 10 s")
        self._control.recv()


def _serve(control: Connection, host: str, port: int, target_port: int) -> None:
    asyncio.run(_Proxy(host, port, target_port).run(control))


class _Proxy:
    def __init__(self, host: str, port: int, target_port: int) -> None:
        self.host, self.port, self.target_port = host, port, target_port
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def run(self, control: Connection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, control.recv)
            if command == "restore":
                await self.listen()
            else:
                await self.cut()
            control.send("ok")
            if command == "stop":
                return

    async def listen(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(
                self.accept, self.host, self.port, reuse_address=True
            )

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()  # a reset, as when the peer's process dies
        self.writers.clear()

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        self.writers -= {writer, up_writer}


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with suppress(Exception):
            writer.close()
