"""Conversion targets: file extension and media type of each."""

from shared.events import TargetFormat

TARGETS: dict[str, tuple[str, str]] = {
    "mspdi": ("xml", "application/vnd.ms-project+xml"),
    "mpx": ("mpx", "application/x-project"),
    "json": ("json", "application/json"),
    "pmxml": ("xml", "application/xml"),
    "xer": ("xer", "text/plain"),
    "planner": ("planner", "application/xml"),
    "sdef": ("sdef", "text/plain"),
}


def extension(target: TargetFormat) -> str:
    return TARGETS[target][0]


def media_type(target: TargetFormat) -> str:
    return TARGETS[target][1]
