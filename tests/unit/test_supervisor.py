"""``make run``'s restart decisions (scripts/supervisor.py), on a clock the tests move."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from bootstrap import free_port
from supervisor import Backoff, BrokerWatch, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sleeper(script: str = "exec sleep 60") -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sh", "-c", script], process_group=0)


class Starts(list[subprocess.Popen[bytes]]):
    """A restart function that starts a sleeper and keeps what it started."""

    def __call__(self) -> subprocess.Popen[bytes]:
        self.append(sleeper())
        return self[-1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_the_backoff_doubles_from_half_a_second_up_to_thirty() -> None:
    assert [Backoff().delay(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_the_broker_is_started_once_it_refused_connections_for_the_grace_period() -> None:
    watch = BrokerWatch(grace=5)
    assert not watch.observe(0, answers=True)
    assert not watch.observe(2, answers=False)
    assert not watch.observe(6.9, answers=False)
    assert watch.observe(7, answers=False)


def test_no_second_start_begins_while_one_is_under_way() -> None:
    watch = BrokerWatch(grace=5)
    watch.observe(0, answers=False)
    assert watch.observe(5, answers=False)
    assert not any(watch.observe(t, answers=False) for t in range(6, 200))


def test_starts_that_do_not_hold_back_off_and_a_minute_up_resets_the_backoff() -> None:
    watch = BrokerWatch(grace=5)
    watch.observe(0, answers=False)
    watch.observe(5, answers=False)
    assert watch.finished(20) == 0.5  # the broker did not come up
    assert not watch.observe(20.4, answers=False)
    assert watch.observe(20.5, answers=False)
    assert watch.finished(30) == 1.0
    watch.observe(31, answers=True)  # the second start held...
    watch.observe(32, answers=False)  # ...only a moment
    assert watch.observe(37, answers=False)
    assert watch.finished(40) == 2.0
    watch.observe(41, answers=True)
    watch.observe(101, answers=True)  # up for a minute
    watch.observe(102, answers=False)
    assert watch.observe(107, answers=False)
    assert watch.finished(110) == 0.5


def test_a_process_that_dies_is_restarted_after_the_backoff_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock, state = Clock(), tmp_path / "supervisor.json"
    supervisor = Supervisor(state, clock=clock)
    first = sleeper()
    starts = Starts()
    supervisor.add("worker", first, starts)
    try:
        first.kill()
        first.wait()
        supervisor.tick()
        assert "[run] worker exited (signal 9); restart 1 in 0.5 s" in capsys.readouterr().err
        clock.now += 0.4
        supervisor.tick()
        assert not starts
        clock.now += 0.1
        supervisor.tick()
        assert len(starts) == 1
        record = json.loads(state.read_text())["processes"]["worker"]
        assert record["pid"] == starts[0].pid
        assert record["restarts"] == 1
        assert record["last_exit"] == "signal 9"
        assert record["state"] == "running"
        starts[0].terminate()
        starts[0].wait()
        supervisor.tick()  # died again at once: the backoff doubles
        assert "restart 2 in 1.0 s" in capsys.readouterr().err
    finally:
        for process in [first, *starts]:
            process.kill()
            process.wait()


def test_what_a_dead_process_left_in_its_group_is_killed(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "supervisor.json", clock=Clock())
    leader = subprocess.Popen(
        ["sh", "-c", "sleep 60 & echo $!; exec sleep 60"], stdout=subprocess.PIPE, process_group=0
    )
    assert leader.stdout is not None
    orphan = int(leader.stdout.readline())
    supervisor.add("api", leader, sleeper)
    leader.kill()
    leader.wait()
    supervisor.tick()
    deadline = time.monotonic() + 5
    while alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(orphan)


def test_a_process_outside_a_group_of_its_own_is_refused(tmp_path: Path) -> None:
    process = subprocess.Popen(["sleep", "60"])
    try:
        with pytest.raises(ValueError, match="process group"):
            Supervisor(tmp_path / "supervisor.json").add("x", process, sleeper)
    finally:
        process.kill()
        process.wait()


def test_the_broker_watch_starts_one_broker_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock, state = Clock(), tmp_path / "supervisor.json"
    supervisor = Supervisor(state, clock=clock)
    starts = Starts()
    supervisor.watch_broker(free_port(), starts, grace=5)
    try:
        for _ in range(10):  # 20 s of a port refusing, a start that never ends
            supervisor.tick()
            clock.now += 2
        assert len(starts) == 1
        assert "[run] rabbitmq refused connections on port" in capsys.readouterr().err
        record = json.loads(state.read_text())["processes"]["rabbitmq"]
        assert (record["state"], record["restarts"]) == ("starting", 1)
        starts[0].send_signal(signal.SIGTERM)
        starts[0].wait()
        supervisor.tick()
        assert "rabbitmq did not start" in capsys.readouterr().err
        clock.now += 2
        supervisor.tick()
        assert len(starts) == 2
    finally:
        supervisor.stop()
        for process in starts:
            process.kill()
            process.wait()
