"""Counts what a result file holds, for the written side of the fidelity manifest."""

import json
import xml.parsers.expat
from pathlib import Path

_MSPDI = {
    ("Tasks", "Task"): "tasks",
    ("Resources", "Resource"): "resources",
    ("Assignments", "Assignment"): "assignments",
    ("Calendars", "Calendar"): "calendars",
}
_MPX = {"70": "tasks", "50": "resources", "75": "assignments", "20": "calendars"}
_PMXML = {
    "Activity": "tasks",
    "Resource": "resources",
    "ResourceAssignment": "assignments",
    "Calendar": "calendars",
}
_PLANNER = {
    "task": "tasks",
    "resource": "resources",
    "allocation": "assignments",
    "calendar": "calendars",
}
_XER = {"TASK": "tasks", "RSRC": "resources", "TASKRSRC": "assignments", "CALENDAR": "calendars"}


def count_written(target: str, path: Path) -> dict[str, int]:
    if target == "mspdi":
        return _count_mspdi(path)
    if target == "mpx":
        return _count_records(path, ",", _MPX)
    if target == "xer":
        return _count_xer(path)
    if target == "json":
        return _count_json(path)
    if target == "pmxml":
        return _count_elements(path, _PMXML)
    if target == "planner":
        return _count_elements(path, _PLANNER)
    return {}


def _count_mspdi(path: Path) -> dict[str, int]:
    counts = dict.fromkeys(_MSPDI.values(), 0)
    stack: list[str] = []

    def start(name: str, _: object) -> None:
        local = name.rsplit("}", 1)[-1]
        if len(stack) == 2 and (key := _MSPDI.get((stack[1], local))):
            counts[key] += 1
        stack.append(local)

    parser = xml.parsers.expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda _: stack.pop()
    with path.open("rb") as fh:
        parser.ParseFile(fh)
    return counts


def _count_elements(path: Path, names: dict[str, str]) -> dict[str, int]:
    """Elements counted by local name wherever they are (Planner nests subtasks in tasks)."""
    counts = dict.fromkeys(names.values(), 0)

    def start(name: str, _: object) -> None:
        if key := names.get(name.rsplit("}", 1)[-1]):
            counts[key] += 1

    parser = xml.parsers.expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = start
    with path.open("rb") as fh:
        parser.ParseFile(fh)
    return counts


def _count_records(path: Path, sep: str, kinds: dict[str, str]) -> dict[str, int]:
    counts = dict.fromkeys(kinds.values(), 0)
    with path.open("rb") as fh:
        for line in fh:
            key = kinds.get(line.split(sep.encode(), 1)[0].decode("latin-1").strip())
            if key:
                counts[key] += 1
    return counts


def _count_xer(path: Path) -> dict[str, int]:
    counts = dict.fromkeys(_XER.values(), 0)
    table = None
    with path.open("rb") as fh:
        for line in fh:
            if line.startswith(b"%T"):
                table = _XER.get(line[2:].decode("latin-1").strip())
            elif line.startswith(b"%R") and table:
                counts[table] += 1
    return counts


def _count_json(path: Path) -> dict[str, int]:
    with path.open("rb") as fh:
        doc = json.load(fh)
    return {
        key: len(doc.get(key) or [])
        for key in ("tasks", "resources", "assignments", "calendars")
        if isinstance(doc.get(key), list)
    }
