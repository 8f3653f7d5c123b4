"""Push parsing of multipart/form-data, so a file part streams to storage chunk by chunk."""

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header


class MalformedForm(ValueError):
    pass


class TooManyParts(MalformedForm):
    """More parts than the form may hold: parsing stops at the first one over."""


@dataclass
class Part:
    name: str
    filename: str | None


@dataclass
class _Collector:
    events: list[tuple[str, object]] = field(default_factory=list)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    headers: dict[str, bytes] = field(default_factory=dict)


class FormStream:
    """Feed raw body chunks; get back ("part", Part), ("data", bytes), ("end", None) events."""

    def __init__(self, content_type: str, max_parts: int) -> None:
        ctype, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if ctype != b"multipart/form-data" or not boundary:
            raise MalformedForm("expected multipart/form-data with a boundary")
        self._c = _Collector()
        self._parts_left = max_parts
        self._ended = False
        try:
            self._parser = self._parser_of(boundary)
        except Exception as exc:  # a boundary the parser turns down (over 256 bytes)
            raise MalformedForm(f"unusable boundary: {exc}") from exc

    def _parser_of(self, boundary: bytes) -> MultipartParser:
        return MultipartParser(
            boundary,
            callbacks={  # type: ignore[arg-type]
                "on_part_begin": self._part_begin,
                "on_header_field": lambda d, s, e: self._c.header_field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._c.header_value.extend(d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": lambda d, s, e: self._c.events.append(("data", bytes(d[s:e]))),
                "on_part_end": lambda: self._c.events.append(("end", None)),
                "on_end": self._end,
            },
        )

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
        if not self._ended:
            raise MalformedForm("the body ends before the form's closing boundary")

    def _end(self) -> None:
        self._ended = True

    def _part_begin(self) -> None:
        if self._parts_left == 0:
            raise TooManyParts("the form has more parts than it may hold")
        self._parts_left -= 1
        self._c.headers = {}

    def _header_end(self) -> None:
        self._c.headers[bytes(self._c.header_field).lower().decode("latin-1")] = bytes(
            self._c.header_value
        )
        self._c.header_field.clear()
        self._c.header_value.clear()

    def _headers_finished(self) -> None:
        disposition, params = parse_options_header(self._c.headers.get("content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise MalformedForm("a part has no form-data name")
        filename = params.get(b"filename")
        self._c.events.append(
            (
                "part",
                Part(
                    params[b"name"].decode("utf-8", "replace"),
                    filename.decode("utf-8", "replace") if filename is not None else None,
                ),
            )
        )
