"""Streams a multipart upload into storage: sha256 and size on the way, sniffed, size-capped."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from pydantic import ValidationError

from shared.events import ConversionOptions
from shared.formats import TARGET_NAMES
from shared.storage import ObjectStore, ObjectWriter, StoredObject
from upload.errors import (
    DuplicateField,
    FieldTooLarge,
    InvalidForm,
    MalformedBody,
    NotAForm,
    TooLarge,
    TooManyParts,
    UnknownField,
)
from upload.multipart import FormStream, MalformedForm, Part
from upload.multipart import TooManyParts as TooManyFormParts
from upload.sniff import SNIFF_BYTES, sniff

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}

FILE_FIELD = "file"
# every field the upload form takes, each at most once; the endpoint's OpenAPI schema lists
# the same names (a unit test holds them equal), so a new field is added in both places
FORM_FIELDS = frozenset({FILE_FIELD, "target", "password", "timephased", "payer"})
# what a body may hold besides the file: the other fields, part headers, boundaries
FORM_OVERHEAD = 64 * 1024


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
    """Read the form, refusing at the first part, field or byte over a limit."""
    try:
        form = FormStream(body.content_type, max_parts=len(FORM_FIELDS))
    except MalformedForm as exc:
        raise NotAForm(str(exc)) from exc
    reader = _FormReader(store, key, max_bytes, max_field_bytes)
    try:
        async for chunk in body.chunks:
            reader.count(len(chunk))
            for kind, payload in form.feed(chunk):
                reader.on(kind, payload)
        form.finish()
        return await reader.received()
    except TooManyFormParts:
        await reader.abort()
        raise TooManyParts(f"a form holds at most {len(FORM_FIELDS)} parts") from None
    except MalformedForm as exc:
        await reader.abort()
        raise MalformedBody(str(exc)) from exc
    except BaseException:
        await reader.abort()
        raise


class _FormReader:
    """The parts as they arrive: the file streams to the store, each field is kept as text."""

    def __init__(self, store: ObjectStore, key: str, max_bytes: int, max_field_bytes: int) -> None:
        self.store, self.key = store, key
        self.max_bytes, self.max_field_bytes = max_bytes, max_field_bytes
        self.max_body = max_bytes + FORM_OVERHEAD
        self.read = 0
        self.fields: dict[str, str] = {}
        self.part: Part | None = None
        self.value = bytearray()
        self.file: _FilePart | None = None
        self.filename: str | None = None

    def count(self, size: int) -> None:
        # a chunked body declares no length: its preamble, epilogue and parts count here
        self.read += size
        if self.read > self.max_body:
            limit = self.max_bytes
            raise TooLarge(f"the upload exceeds the limit of {limit} bytes", limit=limit)

    def on(self, kind: str, payload: object) -> None:
        if kind == "part":
            assert isinstance(payload, Part)
            self._begin(payload)
        elif kind == "data" and self.part is not None:
            assert isinstance(payload, bytes)
            self._data(self.part, payload)
        elif kind == "end" and self.part is not None:
            if self.part.name != FILE_FIELD:
                self.fields[self.part.name] = self.value.decode("utf-8", "replace")
            self.part = None

    def _begin(self, part: Part) -> None:
        if part.name not in FORM_FIELDS:
            known = ", ".join(sorted(FORM_FIELDS))
            raise UnknownField(f"unknown form field {part.name[:64]!r}; the form takes {known}")
        if part.name in self.fields or (part.name == FILE_FIELD and self.file is not None):
            raise DuplicateField(f"the form field {part.name!r} is given more than once")
        self.part, self.value = part, bytearray()
        if part.name == FILE_FIELD:
            self.file = _FilePart(self.store, self.key, self.max_bytes)
            self.filename = part.filename

    def _data(self, part: Part, data: bytes) -> None:
        if part.name == FILE_FIELD and self.file is not None:
            self.file.write(data)
            return
        self.value.extend(data)
        if len(self.value) > self.max_field_bytes:
            limit = self.max_field_bytes
            raise FieldTooLarge(f"the form field {part.name!r} exceeds {limit} bytes", limit=limit)

    async def received(self) -> ReceivedForm:
        if self.file is None:
            raise InvalidForm("the multipart form has no 'file' part")
        return ReceivedForm(await self.file.commit(), self.filename, self.file.format, self.fields)

    async def abort(self) -> None:
        if self.file is not None:
            await self.file.abort()
