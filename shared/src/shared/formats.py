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
