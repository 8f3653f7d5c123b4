"""The one way the project starts a JVM with MPXJ: converter children, the CLI, tests, benchmarks.

It imports nothing but JPype and MPXJ, so a reference measurement that starts a fresh
interpreter per file pays for no code of ours.
"""

from collections.abc import Sequence
from pathlib import Path

import jpype

# MPXJ logs through log4j, which otherwise searches the class path and complains on stderr
LOG4J_QUIET = (
    "-Dlog4j2.loggerContextFactory=org.apache.logging.log4j.simple.SimpleLoggerContextFactory"
)


def start_jvm(heap_mb: int = 512, tmp_dir: Path | None = None, extra: Sequence[str] = ()) -> None:
    """Start this process's one JVM (it cannot be restarted) with MPXJ on the class path;
    ``extra`` options go after the project's own."""
    import mpxj  # noqa: F401  (puts MPXJ's jars on the class path)

    options = [f"-Xmx{heap_mb}m", "-XX:+ExitOnOutOfMemoryError", LOG4J_QUIET, *extra]
    if tmp_dir is not None:
        options.append(f"-Djava.io.tmpdir={tmp_dir}")
    jpype.startJVM(*options, convertStrings=True)
