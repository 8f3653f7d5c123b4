"""The circuit of a dependency: opens after failures in a row, probes once, closes on success."""

import errno

import pytest
import urllib3
from pymongo.errors import AutoReconnect, DuplicateKeyError, ServerSelectionTimeoutError

from shared.circuit import Circuit, Outages, State, Unavailable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_closed_circuit_lets_every_call_through_and_forgets_isolated_failures() -> None:
    circuit = Circuit("db", threshold=3, clock=Clock())
    circuit.failed()
    circuit.failed()
    circuit.succeeded()
    circuit.failed()
    circuit.failed()
    circuit.check()
    assert circuit.state is State.CLOSED


def test_failures_in_a_row_open_it_and_calls_fail_at_once_until_the_pause_ends() -> None:
    clock = Clock()
    circuit = Circuit("db", threshold=3, pause_s=2.0, clock=clock)
    for _ in range(3):
        circuit.failed()
    assert circuit.state is State.OPEN
    clock.now += 1.5
    with pytest.raises(Unavailable) as refused:
        circuit.check()
    assert refused.value.dependency == "db"
    assert refused.value.retry_after_s == pytest.approx(0.5)


def test_after_the_pause_one_probe_goes_through_and_its_success_closes_it() -> None:
    clock = Clock()
    circuit = Circuit("db", threshold=1, pause_s=1.0, clock=clock)
    circuit.failed()
    clock.now += 1.0
    circuit.check()  # the probe
    assert circuit.state is State.HALF_OPEN
    with pytest.raises(Unavailable):
        circuit.check()  # only one probe at a time
    circuit.succeeded()
    assert circuit.state is State.CLOSED
    circuit.check()


def test_a_failed_probe_opens_it_again_for_twice_as_long_up_to_the_ceiling() -> None:
    clock = Clock()
    circuit = Circuit("db", threshold=1, pause_s=1.0, max_pause_s=3.0, clock=clock)
    circuit.failed()
    pauses = []
    for _ in range(3):
        clock.now += circuit.pause_s
        circuit.check()
        circuit.failed()
        pauses.append(circuit.pause_s)
    assert pauses == [2.0, 3.0, 3.0]
    clock.now += 2.9
    with pytest.raises(Unavailable):
        circuit.check()
    clock.now += 0.1
    circuit.check()
    circuit.succeeded()
    assert circuit.pause_s == 1.0  # a recovery starts the next outage from the first pause


def test_a_probe_that_never_reports_does_not_hold_the_circuit_half_open_for_ever() -> None:
    clock = Clock()
    circuit = Circuit("db", threshold=1, pause_s=1.0, clock=clock)
    circuit.failed()
    clock.now += 1.0
    circuit.check()  # a request that then used no database
    clock.now += 5.1
    circuit.check()  # a new probe is let through


def test_the_report_says_how_long_ago_it_last_worked_and_failed() -> None:
    clock = Clock()
    circuit = Circuit("db", clock=clock)
    assert circuit.report()["last_success_s_ago"] is None
    circuit.succeeded()
    clock.now += 3
    circuit.failed()
    clock.now += 1
    assert circuit.report() == {
        "state": "closed",
        "failures_in_a_row": 1,
        "last_success_s_ago": 4.0,
        "last_failure_s_ago": 1.0,
    }


@pytest.mark.parametrize(
    "error, dependency",
    [
        (ServerSelectionTimeoutError("no servers"), "mongodb"),
        (AutoReconnect("connection reset"), "mongodb"),
        (urllib3.exceptions.NewConnectionError(None, "refused"), "storage"),  # type: ignore[arg-type]
        (OSError(errno.ENOSPC, "No space left on device"), "storage"),
        (Unavailable("storage", 2.0), "storage"),
        (DuplicateKeyError("E11000"), None),
        (FileNotFoundError(errno.ENOENT, "gone"), None),
        (ValueError("a bug"), None),
    ],
)
def test_outages_are_told_from_other_errors(error: Exception, dependency: str | None) -> None:
    circuit = Outages().classify(error)
    assert (circuit.name if circuit else None) == dependency


def test_an_outage_counts_against_its_circuit_and_says_when_to_retry() -> None:
    clock = Clock()
    outages = Outages(clock=clock)
    for _ in range(3):
        answer = outages.failed(AutoReconnect("reset"))
    assert answer is not None and answer.dependency == "mongodb"
    assert outages.mongodb.state is State.OPEN
    assert answer.retry_after_s >= 1.0
    assert outages.failed(ValueError("a bug")) is None
    assert outages.storage.state is State.CLOSED
