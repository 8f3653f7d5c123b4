"""What an upload form may hold: known fields, each once, few parts, bounded bytes."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.storage.filesystem import FilesystemStore
from upload.endpoints import _UPLOAD_SCHEMA
from upload.errors import (
    DuplicateField,
    FieldTooLarge,
    MalformedBody,
    NotAForm,
    Refused,
    TooLarge,
    TooManyParts,
    UnknownField,
)
from upload.receive import FORM_FIELDS, FORM_OVERHEAD, FormBody, receive_form
from upload.sniff import SNIFF_BYTES

MPP = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * SNIFF_BYTES


def _field(name: str, value: bytes) -> bytes:
    head = f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
    return head.encode() + value + b"\r\n"


def _file(content: bytes = MPP) -> bytes:
    return (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="plan.mpp"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n"
    )


class _Body:
    """A chunked body (no declared length) that counts how much of it the server read."""

    def __init__(self, *pieces: bytes, chunk: int = 4096) -> None:
        self.data = b"".join(pieces)
        self.chunk = chunk
        self.read = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            self.read = start + self.chunk
            yield self.data[start : start + self.chunk]

    def form(self) -> FormBody:
        return FormBody("multipart/form-data; boundary=b", None, self.chunks())


async def _receive(store: FilesystemStore, body: _Body, max_bytes: int = 1 << 20) -> object:
    return await receive_form(body.form(), store, "acme/cv_1/source", max_bytes, 4096)


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    return FilesystemStore(tmp_path / "store")


def _nothing_stored(store: FilesystemStore) -> bool:
    return not [p for p in store.root.rglob("*") if p.is_file()]


async def test_a_form_of_every_known_field_is_read(store: FilesystemStore) -> None:
    body = _Body(_field("target", b"xer"), _field("password", b"pw"), _file(), b"--b--\r\n")
    form = await _receive(store, body)
    assert form.fields == {"target": "xer", "password": "pw"}  # type: ignore[attr-defined]
    assert form.format == "mpp"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "pieces, refusal",
    [
        ((_field("f0", b"x"), _file()), UnknownField),
        ((_file(), _field("payer_id", b"x")), UnknownField),
        ((_field("target", b"mpx"), _field("target", b"xer"), _file()), DuplicateField),
        ((_file(), _file()), DuplicateField),
        ((_field("password", b"x" * 5000), _file()), FieldTooLarge),
    ],
    ids=["unknown", "unknown-after-the-file", "two-targets", "two-files", "long-field"],
)
async def test_a_form_breaking_a_rule_is_refused_and_nothing_kept(
    store: FilesystemStore, pieces: tuple[bytes, ...], refusal: type[Refused]
) -> None:
    with pytest.raises(refusal):
        await _receive(store, _Body(*pieces, b"--b--\r\n"))
    assert _nothing_stored(store)


async def test_two_hundred_thousand_small_fields_are_refused_at_the_first_chunk(
    store: FilesystemStore,
) -> None:
    """The body of the review's finding: ~12 MB of fields, read no further than its start."""
    body = _Body(_file(), *(_field("target", b"x") for _ in range(200_000)), b"--b--\r\n")
    with pytest.raises((DuplicateField, TooManyParts)):
        await _receive(store, body)
    assert body.read <= 4096 * 2


@pytest.mark.parametrize("name", ["file", "target"])
async def test_a_flood_of_parts_in_one_chunk_stops_at_the_part_cap(
    store: FilesystemStore, name: str
) -> None:
    """Parts the reader never sees one by one (all in one chunk) still stop at the cap."""
    body = _Body(_field(name, b"x") * 1000, chunk=1 << 20)
    with pytest.raises((TooManyParts, DuplicateField)):
        await _receive(store, body)


async def test_a_chunked_body_is_refused_past_the_limit_whatever_it_holds(
    store: FilesystemStore,
) -> None:
    """An epilogue after a valid form: no part grows, the bytes read still count."""
    limit = 64 * 1024
    body = _Body(_file(), b"--b--\r\n", b"e" * (4 << 20))
    with pytest.raises(TooLarge) as refused:
        await _receive(store, body, max_bytes=limit)
    assert refused.value.details["limit"] == limit
    assert body.read <= limit + FORM_OVERHEAD + 4096
    assert _nothing_stored(store)


def test_the_documented_form_is_the_accepted_form() -> None:
    schema = _UPLOAD_SCHEMA["requestBody"]["content"]["multipart/form-data"]["schema"]  # type: ignore[index]
    assert set(schema["properties"]) == FORM_FIELDS


async def test_a_form_cut_short_is_malformed_not_a_truncated_upload(
    store: FilesystemStore,
) -> None:
    with pytest.raises(MalformedBody):
        await _receive(store, _Body(_field("target", b"xer"), _file()))  # no closing boundary
    assert _nothing_stored(store)


async def test_an_unusable_boundary_is_refused(store: FilesystemStore) -> None:
    body = FormBody("multipart/form-data; boundary=" + "q" * 300, None, _Body().chunks())
    with pytest.raises(NotAForm):
        await receive_form(body, store, "acme/cv_1/source", 1 << 20, 4096)
