"""Convert local files with the same core as the service, no servers needed.

schedule-convert plan.mpp                      # writes plan.xml (MSPDI) beside it
schedule-convert a.mpp b.xer -t mpx -o out/    # several files into a folder
python -m converter.cli plan.mpp --manifest    # prints the fidelity manifest as JSON
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from converter import engine, jvm
from converter.errors import ConversionError
from shared.formats import TARGETS, extension


def _output_for(source: Path, out: Path | None, target: str, many: bool) -> Path:
    name = f"{source.stem}.{extension(target)}"  # type: ignore[arg-type]
    if out is None:
        return source.with_name(name)
    return out / name if (many or out.is_dir()) else out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="schedule-convert",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("-t", "--target", default="mspdi", choices=sorted(TARGETS))
    parser.add_argument(
        "-o", "--output", type=Path, help="output file, or folder for several inputs"
    )
    parser.add_argument("--password", help="read password of a protected MPP file")
    parser.add_argument("--timephased", action="store_true", help="write MSPDI timephased data")
    parser.add_argument(
        "--manifest", action="store_true", help="print each fidelity manifest as JSON"
    )
    parser.add_argument("--heap-mb", type=int, default=1024)
    args = parser.parse_args(argv)
    many = len(args.files) > 1
    if many and args.output:
        args.output.mkdir(parents=True, exist_ok=True)
    jvm.start_jvm(args.heap_mb, Path(tempfile.gettempdir()))
    failures = 0
    for source in args.files:
        output = _output_for(source, args.output, args.target, many)
        try:
            manifest = engine.convert(source, output, args.target, args.password, args.timephased)
        except (ConversionError, OSError) as exc:
            code = exc.code if isinstance(exc, ConversionError) else "unreadable"
            print(f"{source}: failed ({code}): {exc}", file=sys.stderr)
            failures += 1
            continue
        print(
            json.dumps({"source": str(source), "output": str(output), "manifest": manifest})
            if args.manifest
            else f"{source} -> {output}"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
