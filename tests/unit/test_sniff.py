from pathlib import Path

import pytest

from upload.sniff import SNIFF_BYTES, NotASchedule, sniff


@pytest.mark.parametrize(
    "head, fmt",
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "mpp"),
        (b"MPX,Microsoft Project for Windows,4.0,ANSI\r\n", "mpx"),
        (b"ERMHDR\t19.12\t2024-01-01", "xer"),
        (b'<?xml version="1.0"?><Project>', "xml"),
        (b"\xef\xbb\xbf  \r\n<Project>", "xml"),
        (b"PK\x03\x04rest", "zip"),
        (b"\x13\x37 some binary we do not know", "unknown"),
    ],
)
def test_known_and_undecided_content_passes(head: bytes, fmt: str) -> None:
    assert sniff(head) == fmt


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"%PDF-1.7\n",
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff\xe0",
        b"GIF89a",
        b"\x7fELF\x02",
        b"MZ\x90\x00",
        b"\x1f\x8b\x08",
        b"BZh91AY",
        b"Rar!\x1a\x07",
    ],
)
def test_certainly_foreign_content_is_refused(head: bytes) -> None:
    with pytest.raises(NotASchedule):
        sniff(head)


# PMXML and Planner files are XML: the converter tells them apart, not the sniffer
SNIFFED_AS = {
    ".mpp": "mpp",
    ".mpx": "mpx",
    ".xer": "xer",
    ".xml": "xml",
    ".pmxml": "xml",
    ".planner": "xml",
}


def test_every_vendored_fixture_is_recognised(fixtures_dir: Path) -> None:
    assert _sniffed(fixtures_dir) == {"mpp", "mpx", "xer", "xml"}


def test_every_fixture_of_the_larger_set_is_recognised(full_fixtures_dir: Path) -> None:
    assert _sniffed(full_fixtures_dir) == {"mpp", "mpx", "xer", "xml"}


def _sniffed(folder: Path) -> set[str]:
    """The formats sniffed in ``folder``, each file's equal to what its extension says."""
    found = set()
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".md":
            fmt = sniff(path.read_bytes()[:SNIFF_BYTES])
            assert fmt == SNIFFED_AS[path.suffix], path.name
            found.add(fmt)
    return found
