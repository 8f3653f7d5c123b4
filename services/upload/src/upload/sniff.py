"""Content sniffing at upload: refuse what is certainly not a schedule, whatever its name.

The converter's MPXJ detection is authoritative; this only turns away, before anything is
queued, the file types that no schedule reader accepts.
"""

from shared.formats import source_format
from upload.errors import NotASchedule

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


def sniff(head: bytes) -> str:
    """The likely source format from the first bytes, or NotASchedule."""
    if not head:
        raise NotASchedule("the file is empty")
    for magic, name in _FOREIGN:
        if head.startswith(magic):
            raise NotASchedule(f"the file is a {name}, not a schedule")
    return source_format(head)
