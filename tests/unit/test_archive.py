"""The zip check that runs before MPXJ unpacks a source: entries and bytes counted as
ZipInputStream would find them, whatever the headers and the central directory declare."""

import io
import time
import zipfile
from pathlib import Path

import pytest

from converter.archive import ArchiveLimits, check_archive
from converter.errors import ConversionError
from tests.support.archives import many_entries, zeros_bomb
from upload.sniff import SNIFF_BYTES, ArchiveTooLarge, sniff

LIMITS = ArchiveLimits(max_entries=50, max_bytes=10 * 2**20)


def _code(source: Path, limits: ArchiveLimits = LIMITS) -> str:
    with pytest.raises(ConversionError) as failure:
        check_archive(source, limits)
    return failure.value.code


def test_two_gigabytes_of_zeros_are_refused_fast(tmp_path: Path) -> None:
    bomb = zeros_bomb(tmp_path / "bomb.zip", 2 * 2**30)
    assert bomb.stat().st_size < 3 * 2**20
    with zipfile.ZipFile(bomb) as archive:  # a well-formed zip, honest about its size
        assert archive.infolist()[0].file_size == 2 * 2**30
    started = time.monotonic()
    assert _code(bomb, ArchiveLimits()) == "too_large"
    assert time.monotonic() - started < 10  # stops at the limit, not at 2 GB


def test_many_tiny_entries_are_refused(tmp_path: Path) -> None:
    assert _code(many_entries(tmp_path / "many.zip", 51)) == "too_large"
    check_archive(many_entries(tmp_path / "fifty.zip", 50), LIMITS)


def test_a_header_that_understates_the_size_is_not_believed(tmp_path: Path) -> None:
    liar = zeros_bomb(tmp_path / "liar.zip", 20 * 2**20, declared=1000)
    with zipfile.ZipFile(liar) as archive:  # what a central-directory reader believes
        assert archive.infolist()[0].file_size == 1000
        assert archive.read("plan.xml") == bytes(1000)
    assert _code(liar) == "too_large"


def test_a_zip_inside_a_zip_is_refused(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("plan.xml", b"<Project/>")
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inner.zip", inner.getvalue())
    assert _code(outer) == "unsupported_format"


def test_a_truncated_archive_is_corrupt(tmp_path: Path) -> None:
    whole = zeros_bomb(tmp_path / "whole.zip", 4 * 2**20).read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[: len(whole) // 2])
    assert _code(cut) == "corrupt_file"


def test_an_ordinary_archive_passes(tmp_path: Path) -> None:
    source = tmp_path / "ok.zip"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("dir/", b"")
        archive.writestr("dir/plan.xml", b"<Project>" + b"<Task/>" * 10000 + b"</Project>")
        archive.writestr("notes.txt", b"stored", compress_type=zipfile.ZIP_STORED)
    check_archive(source, LIMITS)


def test_an_entry_that_ends_on_a_whole_megabyte_is_read_to_its_end(tmp_path: Path) -> None:
    """Its last inflated chunk fills the read exactly: the walk must see the stream end."""
    check_archive(zeros_bomb(tmp_path / "four.zip", 4 * 2**20), LIMITS)


def test_the_upload_refuses_a_bomb_from_its_first_bytes(tmp_path: Path) -> None:
    """The upload's sniff reads the first entry's header: a declared gigabyte, or a ratio
    only a bomb reaches, is refused before the file is stored."""
    honest = zeros_bomb(tmp_path / "honest.zip", 1024 * 2**20).read_bytes()[:SNIFF_BYTES]
    with pytest.raises(ArchiveTooLarge, match="more than 256 MB"):
        sniff(honest)
    small = zeros_bomb(tmp_path / "small.zip", 64 * 2**20).read_bytes()[:SNIFF_BYTES]
    with pytest.raises(ArchiveTooLarge, match="zip bomb"):
        sniff(small)
    ordinary = tmp_path / "ok.zip"
    with zipfile.ZipFile(ordinary, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("plan.xml", b"<Project>" + b"<Task/>" * 1000 + b"</Project>")
    assert sniff(ordinary.read_bytes()[:SNIFF_BYTES]) == "zip"
