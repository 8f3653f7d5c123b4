"""The conversion benchmark's reference kept warm between the pipeline's rounds: a real JVM
(``bench/raw_mpxj.py --serve``) asked for one timed pass at a time."""

from pathlib import Path

from bench.reference import Interleaved


def test_a_reference_kept_warm_gives_each_pass_asked_for_and_one_run_of_them(
    mpp_files: list[Path], tmp_path: Path
) -> None:
    unreadable = tmp_path / "not-a-schedule.mpp"
    unreadable.write_bytes(b"plain text, no schedule")
    files = [*mpp_files[:2], unreadable]
    raw = Interleaved(files)
    try:
        assert raw.failed == [str(unreadable)]  # known after the warm-up pass alone
        assert raw.passes == 0
        rates = [raw.one_pass(), raw.one_pass()]
        run = raw.result()
    finally:
        raw.close()

    assert raw.passes == 2 and len(run.pass_seconds) == 2
    assert [len(files) / seconds for seconds in run.pass_seconds] == rates
    assert run.files == len(files) and run.threads == 1
    assert set(run.per_file_ms) == {str(path) for path in files}
    assert all(ms > 0 for ms in run.per_file_ms.values())
    assert run.cpu_seconds > 0 and run.elapsed == sum(run.pass_seconds)
    assert run.failed == [str(unreadable)]
