"""Conversion targets, declared once: name, file extension, media type and MPXJ writer."""

from typing import Literal, NamedTuple, get_args

TargetFormat = Literal["mspdi", "mpx", "json", "pmxml", "xer", "planner", "sdef"]


class Target(NamedTuple):
    extension: str
    media_type: str
    mpxj_format: str  # the name of MPXJ's FileFormat constant that writes it


TARGETS: dict[TargetFormat, Target] = {
    "mspdi": Target("xml", "application/vnd.ms-project+xml", "MSPDI"),
    "mpx": Target("mpx", "application/x-project", "MPX"),
    "json": Target("json", "application/json", "JSON"),
    "pmxml": Target("xml", "application/xml", "PMXML"),
    "xer": Target("xer", "text/plain", "XER"),
    "planner": Target("planner", "application/xml", "PLANNER"),
    "sdef": Target("sdef", "text/plain", "SDEF"),
}
TARGET_NAMES: tuple[TargetFormat, ...] = get_args(TargetFormat)
assert set(TARGETS) == set(TARGET_NAMES), "TARGETS and TargetFormat must name the same formats"


def extension(target: TargetFormat) -> str:
    return TARGETS[target].extension


def media_type(target: TargetFormat) -> str:
    return TARGETS[target].media_type


# what the first bytes of a schedule file say it is; MPXJ's own detection decides how it is read
_SOURCE_MAGIC = [
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "mpp"),  # OLE2: Microsoft Project's MPP files
    (b"MPX", "mpx"),
    (b"ERMHDR", "xer"),
    (b"PK\x03\x04", "zip"),
    (b"SQLite format 3\x00", "sqlite"),
]
SOURCE_FORMATS = (*(name for _, name in _SOURCE_MAGIC), "xml", "unknown")


def source_format(head: bytes) -> str:
    """The kind of file its first bytes show, one of ``SOURCE_FORMATS``: few enough to label
    metrics with, unlike the formats MPXJ names."""
    for magic, name in _SOURCE_MAGIC:
        if head.startswith(magic):
            return name
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "xml"
    return "unknown"
