"""The callback checks' store on the real MongoDB-wire server: one check per boleto however
many callbacks ask, one more if a callback comes while it runs, a failed check waits for its
retry time, and a check whose holder died is taken again once its lease ends."""

from datetime import timedelta

from boleto_sync.check_repository import BankCheckRepository
from shared.bootstrap import Infra
from shared.clock import now

LEASE = timedelta(minutes=2)


async def test_a_burst_of_requests_is_one_check(infra: Infra) -> None:
    checks = BankCheckRepository(infra.db)
    for _ in range(5):
        await checks.request("bol_a", "callback")
    assert await checks.claim(LEASE) == "bol_a"
    assert await checks.claim(LEASE) is None  # held, and nothing else is due
    await checks.done("bol_a", now())
    assert await checks.pending() == 0
    assert await checks.claim(LEASE) is None


async def test_a_request_while_the_check_runs_makes_one_more(infra: Infra) -> None:
    checks = BankCheckRepository(infra.db)
    await checks.request("bol_b", "callback")
    assert await checks.claim(LEASE) == "bol_b"
    asked_at = now()
    await checks.request("bol_b", "callback")  # after the bank was asked
    await checks.request("bol_b", "callback")
    assert await checks.claim(LEASE) is None  # not while the first one holds it
    await checks.done("bol_b", asked_at)
    assert await checks.claim(LEASE) == "bol_b"
    await checks.done("bol_b", now())
    assert await checks.pending() == 0


async def test_a_request_before_the_bank_was_asked_is_covered_by_that_answer(
    infra: Infra,
) -> None:
    checks = BankCheckRepository(infra.db)
    await checks.request("bol_c", "callback")
    assert await checks.claim(LEASE) == "bol_c"
    await checks.request("bol_c", "callback")
    await checks.done("bol_c", now())  # the bank was asked after that request
    assert await checks.pending() == 0


async def test_a_failed_check_waits_for_its_retry_and_a_dead_holders_is_taken_again(
    infra: Infra,
) -> None:
    checks = BankCheckRepository(infra.db)
    await checks.request("bol_d", "callback")
    assert await checks.claim(LEASE) == "bol_d"
    await checks.retry_at("bol_d", now() + timedelta(minutes=1))
    assert await checks.claim(LEASE) is None  # not due yet
    await checks.request("bol_e", "callback")
    assert await checks.claim(timedelta(milliseconds=-1)) == "bol_e"  # its holder is gone
    assert await checks.claim(LEASE) == "bol_e"
    assert await checks.claim(LEASE) is None
