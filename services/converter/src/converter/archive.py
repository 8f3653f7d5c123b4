"""Zip sources measured before MPXJ unpacks them.

MPXJ writes every entry of a zip into its temporary folder with ``java.util.zip.ZipInputStream``
and then looks for a schedule among the files. This walks the same local headers in the same
order, inflating each entry to count the bytes it really holds (the sizes a header declares
may lie, and the central directory may list other entries than the stream holds), and refuses
the file before MPXJ sees it when it would unpack into too many entries or too many bytes.
Nothing is written: the inflated bytes are counted and dropped.
"""

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from converter.errors import ConversionError

ZIP_MAGIC = b"PK\x03\x04"
_DESCRIPTOR = b"PK\x07\x08"
_HEADER = struct.Struct("<4sHHHHHIIIHH")
_STORED, _DEFLATED = 0, 8
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int = 1000
    max_bytes: int = 256 * 1024 * 1024


DEFAULT_LIMITS = ArchiveLimits()


def check_archive(source: Path, limits: ArchiveLimits) -> None:
    """Raise ConversionError (``too_large``, ``unsupported_format`` or ``corrupt_file``) if
    ``source``, a zip, would unpack beyond ``limits``."""
    with source.open("rb") as fh:
        _Walk(fh, limits).run()


class _Walk:
    def __init__(self, fh: BinaryIO, limits: ArchiveLimits) -> None:
        self.fh, self.limits = fh, limits
        self.entries = 0
        self.unpacked = 0

    def run(self) -> None:
        while (header := self.fh.read(_HEADER.size))[:4] == ZIP_MAGIC:
            if len(header) < _HEADER.size:
                raise _corrupt()
            self.entries += 1
            if self.entries > self.limits.max_entries:
                raise ConversionError(
                    "too_large", f"the zip archive holds more than {self.limits.max_entries} files"
                )
            self._entry(header)

    def _entry(self, header: bytes) -> None:
        _, _, flags, method, _, _, _, _, size, name_len, extra_len = _HEADER.unpack(header)
        self.fh.seek(name_len + extra_len, 1)
        if method == _STORED and not flags & 8:
            self._stored(size)
        elif method == _DEFLATED:
            self._deflated(flags)
        elif method == _STORED:
            return  # MPXJ stops reading the archive here (stored entries have no descriptor)
        else:
            raise _corrupt()

    def _stored(self, size: int) -> None:
        start = self.fh.read(min(size, len(ZIP_MAGIC)))
        self._count(size, start)
        self.fh.seek(size - len(start), 1)

    def _deflated(self, flags: int) -> None:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        start = True
        while not inflater.eof:
            pending = self.fh.read(_CHUNK)
            if not pending:
                raise _corrupt()
            while True:
                data = _inflate(inflater, pending)
                self._count(len(data), data if start else b"")
                start = start and not data
                pending = inflater.unconsumed_tail
                if inflater.eof or (not pending and len(data) < _CHUNK):
                    break
        self.fh.seek(-len(inflater.unused_data), 1)
        if flags & 8:  # a data descriptor follows, read as ZipInputStream reads it
            self.fh.seek(12 if self.fh.read(4) == _DESCRIPTOR else 8, 1)

    def _count(self, size: int, start: bytes) -> None:
        if start.startswith(ZIP_MAGIC):
            raise ConversionError("unsupported_format", "a zip archive inside a zip is not read")
        self.unpacked += size
        if self.unpacked > self.limits.max_bytes:
            raise ConversionError(
                "too_large",
                f"the zip archive unpacks to more than {self.limits.max_bytes // 2**20} MB",
            )


def _inflate(inflater: "zlib._Decompress", data: bytes) -> bytes:
    try:
        return inflater.decompress(data, _CHUNK)
    except zlib.error:
        raise _corrupt() from None


def _corrupt() -> ConversionError:
    return ConversionError("corrupt_file", "the zip archive is damaged and cannot be read")
