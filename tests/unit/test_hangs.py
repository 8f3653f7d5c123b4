"""The teardown watch prints the tasks' stacks only when its block runs long."""

import asyncio

import pytest

from tests.support.hangs import stacks_if_longer_than


async def _waiting_on_an_event_never_set() -> None:
    await asyncio.Event().wait()


async def test_a_long_block_has_every_task_printed(capsys: pytest.CaptureFixture[str]) -> None:
    stuck = asyncio.create_task(_waiting_on_an_event_never_set(), name="stuck-one")
    async with stacks_if_longer_than(0.05, "the block"):
        await asyncio.sleep(0.2)
    stuck.cancel()
    printed = capsys.readouterr().err
    assert "the block: still running after 0.05 s" in printed
    assert "stuck-one" in printed and "_waiting_on_an_event_never_set" in printed


async def test_a_short_block_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    async with stacks_if_longer_than(0.2, "the block"):
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    assert capsys.readouterr().err == ""
