"""Streams a multipart upload into storage: sha256 and size on the way, sniffed, size-capped."""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from shared.http.problems import Problem
from shared.storage import ObjectStore, ObjectWriter, StoredObject
from upload.multipart import FormStream, MalformedForm, Part
from upload.sniff import SNIFF_BYTES, NotASchedule, sniff


@dataclass
class ReceivedForm:
    fields: dict[str, str] = field(default_factory=dict)
    source: StoredObject | None = None
    filename: str | None = None
    format: str = "unknown"


class _FilePart:
    """The ``file`` part: held back until sniffed, then streamed to the writer."""

    def __init__(self, store: ObjectStore, key: str, max_bytes: int) -> None:
        self.store, self.key, self.max_bytes = store, key, max_bytes
        self.head = bytearray()
        self.writer: ObjectWriter | None = None
        self.format = "unknown"

    def write(self, data: bytes) -> None:
        if self.writer is None:
            self.head.extend(data)
            if len(self.head) >= SNIFF_BYTES:
                self._open()
        else:
            self.writer.write(data)
            if self.writer.size > self.max_bytes:
                raise _too_large(self.max_bytes)

    def _open(self) -> None:
        try:
            self.format = sniff(bytes(self.head[:SNIFF_BYTES]))
        except NotASchedule as exc:
            raise Problem(415, "unsupported_format", str(exc)) from exc
        self.writer = self.store.writer(self.key)
        head, self.head = bytes(self.head), bytearray()
        self.write(head)

    async def commit(self) -> StoredObject:
        if self.writer is None:
            self._open()
        assert self.writer is not None
        return await self.writer.commit()

    async def abort(self) -> None:
        if self.writer is not None:
            await self.writer.abort()


async def receive_form(
    chunks: AsyncIterator[bytes],
    content_type: str,
    store: ObjectStore,
    key: str,
    max_bytes: int,
    max_field_bytes: int,
) -> ReceivedForm:
    try:
        form = FormStream(content_type)
    except MalformedForm as exc:
        raise Problem(415, "unsupported_media_type", str(exc)) from exc
    received = ReceivedForm()
    part: Part | None = None
    file: _FilePart | None = None
    value = bytearray()
    try:
        async for chunk in chunks:
            for kind, payload in form.feed(chunk):
                if kind == "part":
                    part, value = payload, bytearray()  # type: ignore[assignment]
                    if part.name == "file" and file is None:  # type: ignore[union-attr]
                        file = _FilePart(store, key, max_bytes)
                        received.filename = part.filename  # type: ignore[union-attr]
                elif kind == "data" and part is not None:
                    if part.name == "file" and file is not None:
                        file.write(payload)  # type: ignore[arg-type]
                    else:
                        value.extend(payload)  # type: ignore[arg-type]
                        if len(value) > max_field_bytes:
                            raise Problem(
                                422, "validation_error", f"form field {part.name!r} is too long"
                            )
                elif kind == "end" and part is not None:
                    if part.name != "file":
                        received.fields[part.name] = value.decode("utf-8", "replace")
                    part = None
        form.finish()
        if file is None:
            raise Problem(422, "validation_error", "the multipart form has no 'file' part")
        received.source = await file.commit()
        received.format = file.format
        return received
    except MalformedForm as exc:
        await _abort(file)
        raise Problem(400, "malformed_request", str(exc)) from exc
    except BaseException:
        await _abort(file)
        raise


async def _abort(file: _FilePart | None) -> None:
    if file is not None:
        await file.abort()


def _too_large(limit: int) -> Problem:
    return Problem(413, "too_large", f"the upload exceeds the limit of {limit} bytes", limit=limit)
