"""Streams a multipart upload into storage: sha256 and size on the way, sniffed, size-capped."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from pydantic import ValidationError

from shared.events import ConversionOptions
from shared.formats import TARGET_NAMES
from shared.storage import ObjectStore, ObjectWriter, StoredObject
from upload.errors import InvalidForm, MalformedBody, NotAForm, TooLarge
from upload.multipart import FormStream, MalformedForm, Part
from upload.sniff import SNIFF_BYTES, sniff

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


@dataclass(frozen=True)
class FormBody:
    """A multipart request body as it arrives, not read yet."""

    content_type: str
    declared_size: int | None
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class ReceivedForm:
    """The stored ``file`` part and the other fields as text."""

    source: StoredObject
    filename: str | None
    format: str
    fields: dict[str, str]

    @property
    def password(self) -> str | None:
        return self.fields.get("password") or None

    def options(self) -> ConversionOptions:
        flag = self.fields.get("timephased", "false").strip().lower()
        if flag not in _TRUE | _FALSE:
            raise InvalidForm("timephased must be true or false")
        target = self.fields.get("target", "mspdi").strip().lower() or "mspdi"
        try:
            return ConversionOptions.model_validate({"target": target, "timephased": flag in _TRUE})
        except ValidationError:
            raise InvalidForm(f"target must be one of {', '.join(TARGET_NAMES)}") from None


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
                limit = self.max_bytes
                raise TooLarge(f"the upload exceeds the limit of {limit} bytes", limit=limit)

    def _open(self) -> None:
        self.format = sniff(bytes(self.head[:SNIFF_BYTES]))
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
    body: FormBody, store: ObjectStore, key: str, max_bytes: int, max_field_bytes: int
) -> ReceivedForm:
    try:
        form = FormStream(body.content_type)
    except MalformedForm as exc:
        raise NotAForm(str(exc)) from exc
    fields: dict[str, str] = {}
    filename: str | None = None
    part: Part | None = None
    file: _FilePart | None = None
    value = bytearray()
    try:
        async for chunk in body.chunks:
            for kind, payload in form.feed(chunk):
                if kind == "part":
                    part, value = payload, bytearray()  # type: ignore[assignment]
                    if part.name == "file" and file is None:  # type: ignore[union-attr]
                        file = _FilePart(store, key, max_bytes)
                        filename = part.filename  # type: ignore[union-attr]
                elif kind == "data" and part is not None:
                    if part.name == "file" and file is not None:
                        file.write(payload)  # type: ignore[arg-type]
                    else:
                        value.extend(payload)  # type: ignore[arg-type]
                        if len(value) > max_field_bytes:
                            raise InvalidForm(f"form field {part.name!r} is too long")
                elif kind == "end" and part is not None:
                    if part.name != "file":
                        fields[part.name] = value.decode("utf-8", "replace")
                    part = None
        form.finish()
        if file is None:
            raise InvalidForm("the multipart form has no 'file' part")
        return ReceivedForm(await file.commit(), filename, file.format, fields)
    except MalformedForm as exc:
        await _abort(file)
        raise MalformedBody(str(exc)) from exc
    except BaseException:
        await _abort(file)
        raise


async def _abort(file: _FilePart | None) -> None:
    if file is not None:
        await file.abort()
