"""Push parsing of multipart/form-data, so a file part streams to storage chunk by chunk."""

from dataclasses import dataclass

from python_multipart.multipart import MultipartParser, parse_options_header


class MalformedForm(ValueError):
    pass


class TooManyParts(MalformedForm):
    """More parts than the form may hold: parsing stops at the first one over."""


@dataclass
class Part:
    name: str
    filename: str | None


class _Collector:
    """The parser's callbacks and what they gather. The parser holds these, and nothing here
    holds the parser: no reference cycle keeps a finished upload's parser alive until the
    garbage collector's next full pass."""

    def __init__(self, max_parts: int) -> None:
        self.events: list[tuple[str, object]] = []
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, bytes] = {}
        self.parts_left = max_parts
        self.ended = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field_data,
            "on_header_value": self.header_value_data,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def part_begin(self) -> None:
        if self.parts_left == 0:
            raise TooManyParts("the form has more parts than it may hold")
        self.parts_left -= 1
        self.headers = {}

    def header_field_data(self, data: bytes, start: int, end: int) -> None:
        self.header_field.extend(data[start:end])

    def header_value_data(self, data: bytes, start: int, end: int) -> None:
        self.header_value.extend(data[start:end])

    def header_end(self) -> None:
        self.headers[bytes(self.header_field).lower().decode("latin-1")] = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def headers_finished(self) -> None:
        disposition, params = parse_options_header(self.headers.get("content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise MalformedForm("a part has no form-data name")
        filename = params.get(b"filename")
        self.events.append(
            (
                "part",
                Part(
                    params[b"name"].decode("utf-8", "replace"),
                    filename.decode("utf-8", "replace") if filename is not None else None,
                ),
            )
        )

    def part_data(self, data: bytes, start: int, end: int) -> None:
        self.events.append(("data", bytes(data[start:end])))

    def part_end(self) -> None:
        self.events.append(("end", None))

    def end(self) -> None:
        self.ended = True


class FormStream:
    """Feed raw body chunks; get back ("part", Part), ("data", bytes), ("end", None) events."""

    def __init__(self, content_type: str, max_parts: int) -> None:
        ctype, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if ctype != b"multipart/form-data" or not boundary:
            raise MalformedForm("expected multipart/form-data with a boundary")
        self._c = _Collector(max_parts)
        try:
            self._parser = MultipartParser(boundary, callbacks=self._c.callbacks())  # type: ignore[arg-type]
        except Exception as exc:  # a boundary the parser turns down (over 256 bytes)
            raise MalformedForm(f"unusable boundary: {exc}") from exc

    def feed(self, chunk: bytes) -> list[tuple[str, object]]:
        try:
            self._parser.write(chunk)
        except MalformedForm:
            raise
        except Exception as exc:
            raise MalformedForm(f"malformed multipart body: {exc}") from exc
        events, self._c.events = self._c.events, []
        return events

    def finish(self) -> None:
        """The body is over: a form that never reached its closing boundary was cut short."""
        self._parser.finalize()
        if not self._c.ended:
            raise MalformedForm("the body ends before the form's closing boundary")
