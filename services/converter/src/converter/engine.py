"""MPXJ inside one JVM: read any format MPXJ detects by content, write the target, count both.

Runs in a converter child process (the JVM cannot be restarted or forked), never in the
service's own process.
"""

from pathlib import Path
from typing import Any

import jpype

from converter.archive import DEFAULT_LIMITS, ZIP_MAGIC, ArchiveLimits, check_archive
from converter.errors import ConversionError
from converter.written import count_written
from shared.formats import TARGETS, TargetFormat

_CONTAINERS = (
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    b"MPX",
    b"ERMHDR",
    b"PK\x03\x04",
    b"<",
    b"SQLite",
)
_BASELINE_SAMPLE = 100


def convert(
    source: Path,
    output: Path,
    target: TargetFormat,
    password: str | None = None,
    timephased: bool = False,
    archive_limits: ArchiveLimits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """Convert ``source`` into ``output``; returns the manifest or raises ConversionError."""
    _refuse_unsafe(source, archive_limits)
    project, reader_name = _read(source, password)
    _write(project, output, target, timephased)
    read = _count_read(project)
    written = count_written(target, output)
    warnings = [
        f"{key}: read {read[key]}, wrote {written[key]}"
        for key in written
        if key in read and written[key] < read[key]
    ]
    return {
        "source_format": _source_format(project, reader_name),
        "read": read,
        "written": written,
        "warnings": warnings,
    }


def _refuse_unsafe(source: Path, archive_limits: ArchiveLimits) -> None:
    """What MPXJ must not see: XML that could expand entities, zips that unpack too far."""
    with source.open("rb") as fh:
        head = fh.read(65536)
    if head.startswith(ZIP_MAGIC) and source.is_file():  # a FIFO cannot be read twice
        check_archive(source, archive_limits)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") and b"<!DOCTYPE" in head.upper():
        raise ConversionError(
            "corrupt_file", "XML with a DOCTYPE is refused (entities are not expanded)"
        )


def _read(source: Path, password: str | None) -> tuple[Any, str]:
    from java.io import File
    from org.mpxj import MPXJException
    from org.mpxj.reader import UniversalProjectReader

    try:
        proxy = UniversalProjectReader().getProjectReaderProxy(File(str(source)))
    except Exception as exc:
        raise _unreadable(exc) from None
    if proxy is None:
        with source.open("rb") as fh:
            head = fh.read(16).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(_CONTAINERS):
            raise ConversionError(
                "corrupt_file", "the file looks like a schedule but cannot be read"
            )
        raise ConversionError("unsupported_format", "not a schedule format MPXJ can read")
    try:
        reader = proxy.getProjectReader()
        if password and hasattr(reader, "setReadPassword"):
            reader.setReadPassword(password)
        project = proxy.read()
    except MPXJException as exc:
        if "password" in str(exc.getMessage() or "").lower():
            raise ConversionError(
                "password_protected",
                "the file is password protected; give its read password in the 'password' field",
            ) from None
        raise _unreadable(exc) from None
    except jpype.JException as exc:
        raise _unreadable(exc) from None
    finally:
        proxy.close()
    if project is None:
        raise ConversionError("corrupt_file", "the file looks like a schedule but holds no project")
    return project, str(reader.getClass().getSimpleName())


def _write(project: Any, output: Path, target: TargetFormat, timephased: bool) -> None:
    from java.io import File
    from org.mpxj.mspdi import MSPDIWriter
    from org.mpxj.writer import FileFormat, UniversalProjectWriter

    try:
        if target == "mspdi" and timephased:
            writer = MSPDIWriter()
            writer.setWriteTimephasedData(True)
            writer.write(project, File(str(output)))
        else:
            UniversalProjectWriter(getattr(FileFormat, TARGETS[target].mpxj_format)).write(
                project, File(str(output))
            )
    except jpype.JException as exc:
        raise ConversionError(
            "internal", f"the converter could not write {target}", _message(exc)
        ) from None


def _count_read(project: Any) -> dict[str, int]:
    tasks = project.getTasks()
    return {
        "tasks": int(tasks.size()),
        "resources": int(project.getResources().size()),
        "assignments": int(project.getResourceAssignments().size()),
        "calendars": int(project.getCalendars().size()),
        "custom_fields": int(project.getCustomFields().size()),
        "baselines": _baselines(tasks),
    }


def _baselines(tasks: Any) -> int:
    """Baselines in use (0-10), judged on the first tasks to keep the cost per file small."""
    used = set()
    for task in tasks.subList(0, min(tasks.size(), _BASELINE_SAMPLE)):
        if task.getBaselineStart() is not None:
            used.add(0)
        for number in range(1, 11):
            if number not in used and task.getBaselineStart(number) is not None:
                used.add(number)
    return len(used)


def _source_format(project: Any, reader_name: str) -> str:
    file_type = project.getProjectProperties().getFileType()
    return str(file_type).lower() if file_type else reader_name.removesuffix("Reader").lower()


def _unreadable(exc: BaseException) -> ConversionError:
    return ConversionError(
        "corrupt_file", "the file looks like a schedule but could not be read", _message(exc)
    )


def _message(exc: BaseException) -> str:
    """The exception's class and text, for the log only: MPXJ's messages may name paths."""
    text = exc.getMessage() if isinstance(exc, jpype.JException) else str(exc)
    return f"{type(exc).__name__}: {text or ''}"[:300]


def warm_up(work_dir: Path) -> None:
    """Load the reader and writer classes once, so the first real job is not the slow one."""
    from java.io import File
    from org.mpxj import ProjectFile
    from org.mpxj.mspdi import MSPDIWriter

    project = ProjectFile()
    project.addTask().setName("warm-up")
    sample = work_dir / "warm-up.xml"
    MSPDIWriter().write(project, File(str(sample)))
    for target in TARGETS:
        convert(sample, work_dir / f"warm-up.{target}", target)
