"""What MPXJ itself writes for each file, computed in a separate JVM process.

python -m tests.support.reference [--password P] OUT_DIR FILE...   # OUT_DIR/<n>.xml or .error
"""

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any


def reference_outputs(
    files: list[Path], out_dir: Path, password: str | None = None
) -> dict[Path, bytes | None]:
    """MPXJ's MSPDI for each file (None where MPXJ itself fails).

    With ``password``, the files are read as MPP files opened with that read password.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    options = ["--password", password] if password is not None else []
    subprocess.run(
        [sys.executable, "-m", "tests.support.reference", *options, str(out_dir), *map(str, files)],
        check=True,
        timeout=600,
    )
    outputs: dict[Path, bytes | None] = {}
    for index, path in enumerate(files):
        result = out_dir / f"{index}.xml"
        outputs[path] = result.read_bytes() if result.exists() else None
    return outputs


def _reader(password: str | None) -> Any:
    from org.mpxj.mpp import MPPReader
    from org.mpxj.reader import UniversalProjectReader

    if password is None:
        return UniversalProjectReader()
    reader = MPPReader()
    reader.setReadPassword(password)
    return reader


def _main(out_dir: Path, files: list[str], password: str | None) -> None:
    from converter.jvm import start_jvm

    start_jvm(heap_mb=1024)
    from java.io import ByteArrayOutputStream
    from org.mpxj.writer import FileFormat, UniversalProjectWriter

    for index, name in enumerate(files):
        try:
            project = _reader(password).read(name)
            out = ByteArrayOutputStream()
            UniversalProjectWriter(FileFormat.MSPDI).write(project, out)
            (out_dir / f"{index}.xml").write_bytes(bytes(out.toByteArray()))
        except Exception as exc:
            (out_dir / f"{index}.error").write_text(str(exc))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.support.reference")
    parser.add_argument("--password", help="read password; the files are read as MPP")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    _main(args.out_dir, args.files, args.password)
