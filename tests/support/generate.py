"""Schedules no test has seen before: random projects written by MPXJ in several formats.

python -m tests.support.generate OUT_DIR SEED COUNT
"""

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

FORMATS = {"MSPDI": "xml", "MPX": "mpx", "XER": "xer", "PMXML": "pmxml", "PLANNER": "planner"}


def generate(out_dir: Path, seed: int, count: int) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "tests.support.generate", str(out_dir), str(seed), str(count)],
        check=True,
        timeout=300,
    )
    return sorted(p for p in out_dir.iterdir() if p.is_file())


def _project(rng: random.Random, number: int):  # type: ignore[no-untyped-def]
    from java.time import LocalDateTime
    from org.mpxj import Duration, ProjectFile, Relation, RelationType, TimeUnit

    project = ProjectFile()
    project.getProjectProperties().setName(f"generated-{number}")
    calendar = project.addDefaultBaseCalendar()
    project.setDefaultCalendar(calendar)
    start = LocalDateTime.of(2026, rng.randint(1, 12), rng.randint(1, 28), 8, 0)
    project.getProjectProperties().setStartDate(start)
    resources = []
    for r in range(rng.randint(1, 6)):
        resource = project.addResource()
        resource.setName(f"Resource {r} {rng.choice(['Ana', 'Bo', 'Cy', 'Dé'])}")
        resources.append(resource)
    tasks: list[Any] = []
    for t in range(rng.randint(3, 40)):
        parent = rng.choice(tasks) if tasks and rng.random() < 0.3 else None
        task = parent.addTask() if parent is not None else project.addTask()
        task.setName(f"Task {t} {'é' * rng.randint(0, 2)}")
        task.setStart(start.plusDays(rng.randint(0, 60)))
        task.setDuration(Duration.getInstance(rng.randint(1, 20), TimeUnit.DAYS))
        task.setPercentageComplete(rng.choice([0, 25, 50, 100]))
        if tasks and rng.random() < 0.5:
            predecessor = rng.choice(tasks)
            if predecessor is not parent:
                task.addPredecessor(
                    Relation.Builder()
                    .predecessorTask(predecessor)
                    .type(rng.choice([RelationType.FINISH_START, RelationType.START_START]))
                )
        if resources and rng.random() < 0.6:
            task.addResourceAssignment(rng.choice(resources))
        tasks.append(task)
    return project


def _main(out_dir: Path, seed: int, count: int) -> None:
    from converter.jvm import start_jvm

    start_jvm()
    from java.io import File
    from org.mpxj.writer import FileFormat, UniversalProjectWriter

    rng = random.Random(seed)
    for number in range(count):
        fmt = list(FORMATS)[number % len(FORMATS)]
        project = _project(rng, number)
        UniversalProjectWriter(getattr(FileFormat, fmt)).write(
            project, File(str(out_dir / f"gen-{seed}-{number}.{FORMATS[fmt]}"))
        )


if __name__ == "__main__":
    _main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
