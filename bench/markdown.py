"""Markdown for the benchmark reports: tables, and each benchmark's section of the output file."""

from collections.abc import Iterable, Sequence
from pathlib import Path

# where the quality bars the reports measure against are stated (next to benchmarks.md)
BARS = "architecture.md, quality bars"
SKELETON = """# Benchmarks

Quality bars of [architecture.md](architecture.md#quality-bars), measured as ratios against a
reference run on the same machine in the same run. Each benchmark owns one section below and
rewrites only that section (between its marker comments); keep hand-written notes outside the
markers.

## How to run

    make bench                       # bootstrap RabbitMQ, then every benchmark
    uv run python bench/conversion.py --rounds 3 --out docs/benchmarks.md

A run takes a few minutes; other load on the machine skews it (each section says how busy
the machine was with other processes).
"""


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A markdown table; a ``|`` inside a cell is escaped, a row of the wrong width refused."""
    lines = [_row(headers), "|" + "---|" * len(headers)]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row of {len(row)} cells under {len(headers)} headers: {row}")
        lines.append(_row(row))
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def write_section(path: Path, name: str, section: str) -> None:
    """Replace the text between ``name``'s markers in ``path``; append the markers if missing."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else SKELETON
    if begin not in text or end not in text:
        text = f"{text.rstrip()}\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{begin}\n{section}\n{end}{tail}")
