"""The command-line converter: same core, no servers, output equal to MPXJ's own."""

import json
import subprocess
import sys
from pathlib import Path

from tests.support.mspdi import normalise
from tests.support.reference import reference_outputs


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "converter.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_converts_several_files_into_a_folder_like_mpxj(
    mpp_files: list[Path], tmp_path: Path
) -> None:
    sources = mpp_files[:4]
    done = _cli(*map(str, sources), "-o", str(tmp_path / "out"), "--manifest")
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["source"] for r in reports] == [str(s) for s in sources]
    references = reference_outputs(sources, tmp_path / "ref")
    for source in sources:
        ours = (tmp_path / "out" / f"{source.stem}.xml").read_bytes()
        assert normalise(ours) == normalise(references[source] or b""), source.name


def test_failures_name_their_code_and_set_the_exit_status(
    fixtures_dir: Path, tmp_path: Path
) -> None:
    done = _cli(
        str(fixtures_dir / "password" / "legacy__bothpassword9.mpp"), "-o", str(tmp_path / "x.xml")
    )
    assert done.returncode == 1
    assert "password_protected" in done.stderr


def test_other_targets(mpp_files: list[Path], tmp_path: Path) -> None:
    done = _cli(str(mpp_files[0]), "-t", "xer", "-o", str(tmp_path / "plan.xer"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plan.xer").read_bytes().startswith(b"ERMHDR")
