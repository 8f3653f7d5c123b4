import gc
import weakref

import pytest

from upload.multipart import FormStream, MalformedForm, Part, TooManyParts

BODY = (
    b"--xyz\r\n"
    b'Content-Disposition: form-data; name="target"\r\n\r\n'
    b"mpx\r\n"
    b"--xyz\r\n"
    b'Content-Disposition: form-data; name="file"; filename="plan.mpp"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n" + bytes(range(256)) * 40 + b"\r\n"
    b"--xyz--\r\n"
)


def _parse(chunk_size: int) -> tuple[dict[str, bytes], list[Part]]:
    form = FormStream("multipart/form-data; boundary=xyz", max_parts=2)
    values: dict[str, bytearray] = {}
    parts: list[Part] = []
    current = None
    for start in range(0, len(BODY), chunk_size):
        for kind, payload in form.feed(BODY[start : start + chunk_size]):
            if kind == "part":
                current = payload
                parts.append(payload)  # type: ignore[arg-type]
                values[current.name] = bytearray()  # type: ignore[union-attr]
            elif kind == "data":
                values[current.name].extend(payload)  # type: ignore[union-attr, arg-type]
    form.finish()
    return {k: bytes(v) for k, v in values.items()}, parts


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 4096, len(BODY)])
def test_parts_survive_any_chunking(chunk_size: int) -> None:
    values, parts = _parse(chunk_size)
    assert parts == [Part("target", None), Part("file", "plan.mpp")]
    assert values == {"target": b"mpx", "file": bytes(range(256)) * 40}


@pytest.mark.parametrize(
    "content_type", ["application/json", "multipart/form-data", "text/plain; boundary=x"]
)
def test_non_multipart_content_types_are_refused(content_type: str) -> None:
    with pytest.raises(MalformedForm):
        FormStream(content_type, max_parts=4)


def test_part_without_a_name_is_malformed() -> None:
    form = FormStream("multipart/form-data; boundary=b", max_parts=4)
    with pytest.raises(MalformedForm):
        form.feed(b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n")


def test_parsing_stops_at_the_first_part_over_the_cap() -> None:
    form = FormStream("multipart/form-data; boundary=b", max_parts=2)
    field = b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\nx\r\n'
    with pytest.raises(TooManyParts):
        form.feed(field * 1000)


@pytest.mark.parametrize("cut", [0, 10, len(BODY) // 2, len(BODY) - 4])
def test_a_body_cut_before_its_closing_boundary_is_malformed(cut: int) -> None:
    form = FormStream("multipart/form-data; boundary=xyz", max_parts=4)
    form.feed(BODY[:cut])
    with pytest.raises(MalformedForm, match="closing boundary"):
        form.finish()


def test_a_boundary_the_parser_cannot_use_is_malformed() -> None:
    with pytest.raises(MalformedForm):
        FormStream("multipart/form-data; boundary=" + "q" * 300, max_parts=4)


def test_a_parsed_form_is_freed_without_the_garbage_collector() -> None:
    """An upload's parser goes as soon as the upload does: a cycle would hold it (and what it
    references) until Python's next full collection, which a busy API makes rare."""
    gc.disable()
    try:
        form = FormStream("multipart/form-data; boundary=xyz", max_parts=2)
        form.feed(BODY)
        form.finish()
        gone = weakref.ref(form)
        del form
        assert gone() is None
    finally:
        gc.enable()
