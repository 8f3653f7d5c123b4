"""What MPXJ itself writes for each file, computed in a separate JVM process.

python -m tests.support.reference OUT_DIR FILE...   # writes OUT_DIR/<n>.xml or <n>.error
"""

import subprocess
import sys
from pathlib import Path


def reference_outputs(files: list[Path], out_dir: Path) -> dict[Path, bytes | None]:
    """MPXJ's MSPDI for each file (None where MPXJ itself fails)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "tests.support.reference", str(out_dir), *map(str, files)],
        check=True,
        timeout=600,
    )
    outputs: dict[Path, bytes | None] = {}
    for index, path in enumerate(files):
        result = out_dir / f"{index}.xml"
        outputs[path] = result.read_bytes() if result.exists() else None
    return outputs


def _main(out_dir: Path, files: list[str]) -> None:
    import jpype
    import mpxj  # noqa: F401

    jpype.startJVM(
        "-Xmx1g",
        "-Dlog4j2.loggerContextFactory=org.apache.logging.log4j.simple.SimpleLoggerContextFactory",
    )
    from java.io import ByteArrayOutputStream
    from org.mpxj.reader import UniversalProjectReader
    from org.mpxj.writer import FileFormat, UniversalProjectWriter

    for index, name in enumerate(files):
        try:
            project = UniversalProjectReader().read(name)
            out = ByteArrayOutputStream()
            UniversalProjectWriter(FileFormat.MSPDI).write(project, out)
            (out_dir / f"{index}.xml").write_bytes(bytes(out.toByteArray()))
        except Exception as exc:
            (out_dir / f"{index}.error").write_text(str(exc))


if __name__ == "__main__":
    _main(Path(sys.argv[1]), sys.argv[2:])
