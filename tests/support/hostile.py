"""Hostile inputs, generated from a seed so that every run of the suite sends the same bytes.

Each generator returns cases: a name to report, what is sent, and what a safe answer is.
``scripts/hostile_inputs.py`` writes the same cases to a folder for a look by hand or for
another tool; ``tests/e2e/test_hostile_inputs.py`` sends them to a running system.
"""

import io
import json
import random
import struct
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.events import Event

SEED = 20261130
MB = 1 << 20
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MSPDI_NS = b'<Project xmlns="http://schemas.microsoft.com/project">'


@dataclass(frozen=True)
class FileCase:
    """A file uploaded as a well-formed form: the API refuses it or its job ends with a code."""

    name: str
    content: bytes
    filename: str = "plan.bin"


@dataclass(frozen=True)
class BodyCase:
    """A raw request body with its own Content-Type: the API must answer with a 4xx code."""

    name: str
    content_type: str
    body: bytes


def random_files(rng: random.Random, count: int) -> list[FileCase]:
    """Noise, some behind a schedule's magic bytes so it reaches the converter."""
    prefixes = [b"", OLE2, b"MPX,", b"ERMHDR\t", b"PK\x03\x04", b"<?xml version='1.0'?>", b"<"]
    cases = []
    for number in range(count):
        prefix = prefixes[number % len(prefixes)]
        noise = rng.randbytes(rng.choice([1, 100, 4096, 70_000]))
        cases.append(FileCase(f"random-{number}", prefix + noise))
    return cases


def truncations(rng: random.Random, sources: list[Path], count: int) -> list[FileCase]:
    """Real schedules cut at random offsets (the first bytes always kept, so none is empty)."""
    cases = []
    for number in range(count):
        source = sources[number % len(sources)]
        data = source.read_bytes()
        cut = rng.randrange(1, len(data))
        cases.append(FileCase(f"truncated-{source.name}-{cut}", data[:cut], source.name))
    return cases


def mspdi_variants(sample: bytes, canary: Path, listener_port: int) -> list[FileCase]:
    """The MSPDI sample with entity expansion, external entities, other encodings and
    DOCTYPEs or comments large enough to hide the root element from a sniff of the head."""
    body = sample.split(b"?>", 1)[1]  # the document without its XML declaration
    titled = body.replace(b"<Title>sample</Title>", b"<Title>&e;</Title>", 1)
    laughs = b'<!ENTITY e0 "lol">' + b"".join(
        f'<!ENTITY e{n} "{f"&e{n - 1};" * 10}">'.encode() for n in range(1, 10)
    )
    url = f"http://127.0.0.1:{listener_port}"
    declaration = b'<?xml version="1.0"?>\n'

    def with_doctype(name: str, subset: bytes, doc: bytes = titled) -> FileCase:
        return FileCase(name, declaration + b"<!DOCTYPE Project [" + subset + b"]>" + doc, "p.xml")

    return [
        with_doctype("billion-laughs", laughs + b'<!ENTITY e "&e9;">'),
        with_doctype("xxe-etc-passwd", b'<!ENTITY e SYSTEM "file:///etc/passwd">'),
        with_doctype("xxe-canary-file", f'<!ENTITY e SYSTEM "file://{canary}">'.encode()),
        with_doctype("xxe-http", f'<!ENTITY e SYSTEM "{url}/entity">'.encode()),
        with_doctype(
            "xxe-parameter-entity",
            f'<!ENTITY % p SYSTEM "{url}/dtd"> %p; <!ENTITY e "x">'.encode(),
        ),
        FileCase(
            "external-dtd",
            declaration + f'<!DOCTYPE Project SYSTEM "{url}/project.dtd">'.encode() + body,
            "p.xml",
        ),
        with_doctype("doctype-huge-comment", b"<!--" + b"c" * (2 * MB) + b"-->", body),
        FileCase("comment-before-root", declaration + b"<!--" + b"x" * MB + b"-->" + body, "p.xml"),
        FileCase(
            "utf16-le-bom",
            ('<?xml version="1.0" encoding="UTF-16"?>' + body.decode()).encode("utf-16"),
            "p.xml",
        ),
        FileCase(
            "utf16-be-no-declaration",
            body.decode().encode("utf-16-be"),
            "p.xml",
        ),
        FileCase("deep-nesting", declaration + MSPDI_NS + b"<a>" * 200_000, "p.xml"),
    ]


def archive_cases(rng: random.Random, sample: bytes, escape: Path) -> list[FileCase]:
    """Zip and gzip bombs, an archive of thousands of entries, one nested in another and
    one whose entry climbs out of the folder it is unpacked into (``escape`` must not appear)."""
    climbing = "../" * 12 + str(escape).lstrip("/")
    return [
        FileCase("zip-bomb-1gb", zeros_zip(1024 * MB), "plan.zip"),
        FileCase("zip-many-entries", many_entries_zip(5000), "plan.zip"),
        FileCase("zip-nested", _zip({"inner.zip": zeros_zip(64 * MB)}), "plan.zip"),
        FileCase("zip-slip", _zip({climbing: sample, "plan.xml": sample}), "plan.zip"),
        FileCase("zip-absolute-entry", _zip({str(escape) + ".abs": sample}), "plan.zip"),
        FileCase("zip-random-body", b"PK\x03\x04" + rng.randbytes(2048), "plan.zip"),
        FileCase("gzip-bomb", gzip_zeros(256 * MB), "plan.xml.gz"),
    ]


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def many_entries_zip(count: int) -> bytes:
    return _zip({f"e{number}.xml": b"<x/>" for number in range(count)})


def gzip_zeros(size: int) -> bytes:
    packed, crc = _deflated_zeros(size)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + packed + struct.pack("<II", crc, size & 0xFFFFFFFF)


def zeros_zip(size: int) -> bytes:
    """One deflated entry of ``size`` zeros, a megabyte of which packs to 1 KB."""
    packed, crc = _deflated_zeros(size)
    name = b"plan.xml"
    fields = (20, 0, 8, 0, 0, crc, len(packed), size, len(name))
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", *fields, 0)
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, 0)
    head = local + name + packed
    directory = len(central) + len(name)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, directory, len(head), 0)
    return head + central + name + end


def _deflated_zeros(size: int) -> tuple[bytes, int]:
    """``size`` zeros (whole megabytes) deflated without compressing them all: a megabyte
    flushed on a byte boundary packs to the same bytes each time, so it is copied."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = bytes(MB)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // MB):
        crc = zlib.crc32(block, crc)
    return first + again * (size // MB - 1) + packer.flush(), crc


def hostile_filenames() -> list[str]:
    return [
        "../../etc/passwd",
        "/etc/passwd",
        "..\\..\\windows\\win.ini",
        "plan\x00.mpp",
        "a/../../../b.mpp",
        "\u202eppm.exe",
        "x" * 3000 + ".mpp",
        "",
    ]


def multipart_bodies(file_content: bytes) -> list[BodyCase]:
    """Bodies that break the form's rules or multipart's own."""
    ok_type = "multipart/form-data; boundary=b"
    file_part = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="p.mpp"\r\n\r\n'
        + file_content
        + b"\r\n"
    )

    def field(name: str, value: bytes = b"x") -> bytes:
        return (
            f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value
            + b"\r\n"
        )

    end = b"--b--\r\n"
    return [
        BodyCase("no-boundary", "multipart/form-data", file_part + end),
        BodyCase("not-multipart", "text/plain", b"hello"),
        BodyCase("json", "application/json", b'{"file": "x"}'),
        BodyCase("empty-body", ok_type, b""),
        BodyCase("only-closing-boundary", ok_type, end),
        BodyCase("garbage", ok_type, b"\x00\xff" * 500),
        BodyCase("no-closing-boundary", ok_type, file_part[:-2]),
        BodyCase(
            "part-without-name",
            ok_type,
            b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n" + end,
        ),
        BodyCase("part-without-disposition", ok_type, b"--b\r\nX-A: b\r\n\r\nx\r\n" + end),
        BodyCase("header-without-colon", ok_type, b"--b\r\nContent-Disposition\r\n\r\nx\r\n" + end),
        BodyCase(
            "part-header-64k", ok_type, b"--b\r\nX-Big: " + b"h" * 65536 + b"\r\n\r\nx\r\n" + end
        ),
        BodyCase(
            "many-part-headers", ok_type, b"--b\r\n" + b"X-H: v\r\n" * 500 + b"\r\nx\r\n" + end
        ),
        BodyCase("unknown-field", ok_type, field("payer_id") + file_part + end),
        BodyCase("duplicate-target", ok_type, field("target", b"mpx") * 2 + file_part + end),
        BodyCase("duplicate-file", ok_type, file_part * 2 + end),
        BodyCase("field-100k", ok_type, field("password", b"p" * 100_000) + file_part + end),
        BodyCase("fields-flood", ok_type, field("target") * 50_000 + file_part + end),
        BodyCase("no-file", ok_type, field("target", b"mpx") + end),
        BodyCase(
            "boundary-300-chars",
            "multipart/form-data; boundary=" + "q" * 300,
            b"--" + b"q" * 300 + b"--\r\n",
        ),
        BodyCase("bad-target", ok_type, field("target", b"docx") + file_part + end),
        BodyCase("bad-timephased", ok_type, field("timephased", b"perhaps") + file_part + end),
    ]


def malformed_messages() -> list[tuple[str, dict[str, Any], bytes]]:
    """Messages no consumer can take: each must be dead-lettered as malformed, at once."""
    known = "conversion.failed.v1"
    assert known in Event.registry
    good = {
        "ce-specversion": "1.0",
        "ce-id": str(uuid.uuid4()),
        "ce-source": "/hostile",
        "ce-type": known,
    }
    failed = json.dumps(
        {"tenant_id": "acme", "job_id": "cv_0", "code": "internal", "message": "m"}
    ).encode()
    without = {key: {k: v for k, v in good.items() if k != f"ce-{key}"} for key in ("id", "type")}
    return [
        ("no-headers", {}, b"not json at all"),
        ("no-id", without["id"], b"{}"),
        ("no-type", without["type"], b"{}"),
        ("spec-0.3", {**good, "ce-specversion": "0.3"}, b"{}"),
        ("unknown-type", {**good, "ce-type": "hostile.event.v1"}, b"{}"),
        ("body-not-json", good, b"\xff\xfe{{{"),
        ("data-missing-fields", good, b"{}"),
        ("data-wrong-types", good, json.dumps({"tenant_id": ["a"], "job_id": 7}).encode()),
        ("data-a-list", good, b"[1, 2, 3]"),
        ("tenant-mismatch", {**good, "ce-tenantid": "globex"}, failed),
        ("huge", good, b'{"tenant_id": "' + b"x" * (4 * MB) + b'"}'),
    ]
