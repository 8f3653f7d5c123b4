"""Hostile zip files made by the tests: bombs of zeros, many tiny entries, lying headers.

The bombs are written as raw zip structures: a deflated megabyte of zeros, flushed so that
its compressed form repeats, is copied as often as needed, so a gigabyte costs a second.
"""

import struct
import zipfile
import zlib
from pathlib import Path

_MB = 2**20
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")


def zeros_bomb(path: Path, size: int, declared: int | None = None, name: str = "plan.xml") -> Path:
    """One deflated entry of ``size`` zero bytes (a multiple of 1 MiB, under 4 GiB). With
    ``declared``, the headers claim that many bytes (and their CRC) instead."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = bytes(_MB)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    repeated = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    packed = first + repeated * (size // _MB - 1) + packer.flush()
    claimed = size if declared is None else declared
    crc = 0
    for _ in range(claimed // _MB):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(bytes(claimed % _MB), crc)
    _write(path, name.encode(), packed, crc, claimed)
    return path


def many_entries(path: Path, count: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for number in range(count):
            archive.writestr(f"f{number}.txt", b"x")
    return path


def _write(path: Path, name: bytes, packed: bytes, crc: int, size: int) -> None:
    local = _LOCAL.pack(b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(packed), size, len(name), 0)
    central = _CENTRAL.pack(
        b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(packed), size, len(name), 0, 0, 0, 0, 0, 0
    )
    body = local + name + packed
    end = _END.pack(b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(name), len(body), 0)
    path.write_bytes(body + central + name + end)
