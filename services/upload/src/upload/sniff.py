"""Content sniffing at upload: refuse what is certainly not a schedule, whatever its name.

The converter's MPXJ detection is authoritative; this only turns away, before anything is
queued, the file types that no schedule reader accepts, and a zip whose first entry says it
unpacks to more than the converter accepts (the converter measures every entry again).
"""

import struct

from shared.formats import source_format
from upload.errors import NotASchedule, Refused

_FOREIGN = [
    (b"%PDF", "PDF"),
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF8", "GIF image"),
    (b"\x7fELF", "ELF executable"),
    (b"MZ", "Windows executable"),
    (b"\x1f\x8b", "gzip archive"),
    (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"Rar!", "RAR archive"),
]
SNIFF_BYTES = 512
# the converter's default CONVERTER_ARCHIVE_MAX_BYTES; deflate never packs more than 1032:1,
# so a first entry near that ratio is a bomb, whatever its size
ARCHIVE_MAX_BYTES = 256 * 2**20
ARCHIVE_MAX_RATIO = 1000
_ZIP_ENTRY = struct.Struct("<4sHHHHHIII")


class ArchiveTooLarge(Refused):
    code = "too_large"


def sniff(head: bytes) -> str:
    """The likely source format from the first bytes, or NotASchedule."""
    if not head:
        raise NotASchedule("the file is empty")
    for magic, name in _FOREIGN:
        if head.startswith(magic):
            raise NotASchedule(f"the file is a {name}, not a schedule")
    _refuse_zip_bomb(head)
    return source_format(head)


def _refuse_zip_bomb(head: bytes) -> None:
    if len(head) < _ZIP_ENTRY.size or not head.startswith(b"PK\x03\x04"):
        return
    _, _, flags, _, _, _, _, packed, size = _ZIP_ENTRY.unpack_from(head)
    if flags & 8:  # sizes follow the data: only the converter can count them
        return
    if size > ARCHIVE_MAX_BYTES:
        raise ArchiveTooLarge(
            f"the zip archive unpacks to more than {ARCHIVE_MAX_BYTES // 2**20} MB",
            declared_bytes=size,
        )
    if size > ARCHIVE_MAX_RATIO * max(packed, 1):
        raise ArchiveTooLarge(
            f"the zip archive is packed more than {ARCHIVE_MAX_RATIO} to 1 (a zip bomb)",
            declared_bytes=size,
        )
