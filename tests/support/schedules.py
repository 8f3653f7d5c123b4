"""Schedules made by the tests themselves (for budgets that real files must exceed)."""

from pathlib import Path


def huge_mspdi(path: Path, tasks: int = 200_000) -> Path:
    """A valid MSPDI file big enough to take MPXJ many seconds and a lot of heap."""
    with path.open("w") as fh:
        fh.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Project xmlns="http://schemas.microsoft.com/project"><Name>huge</Name><Tasks>'
        )
        for i in range(1, tasks + 1):
            fh.write(
                f"<Task><UID>{i}</UID><ID>{i}</ID><Name>Task {i}</Name>"
                "<OutlineLevel>1</OutlineLevel></Task>"
            )
        fh.write("</Tasks></Project>")
    return path
