"""What unknown keys may cost: a token bucket of database look-ups per client address.

Every look-up of a key not in the cache takes a token before it reads; a key found gives its
token back, so only failed look-ups drain the bucket. Once an address has spent its burst,
its uncached keys are refused without a read until the bucket refills, while keys already in
the cache keep working. Per process and in memory: a replica's database reads for random keys
are bounded by ``burst + per_s * seconds`` per address, whatever the request rate.

A look-up that finds no token while others of its address are still reading waits for them
rather than being refused: each may give its token back. So a client that starts using more
new keys at once than the burst (one that has just created them) is not taken for a guesser,
and the bound above holds: reads in flight hold tokens.
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FAILED_LOOKUPS_PER_S = 1.0
FAILED_LOOKUPS_BURST = 10
ADDRESSES = 10_000


class TooManyFailedLookups(Exception):
    """The address spent its failed look-ups; ``retry_after_s`` until the next one."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"too many unknown API keys; retry after {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


@dataclass
class _Bucket:
    tokens: float
    at: float
    lent: int = 0  # tokens held by look-ups still reading
    settled: asyncio.Event | None = None  # set when one of them is done


class FailedLookups:
    def __init__(
        self,
        per_s: float = FAILED_LOOKUPS_PER_S,
        burst: int = FAILED_LOOKUPS_BURST,
        addresses: int = ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_s = per_s
        self.burst = burst
        self.addresses = addresses
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    async def take(self, address: str) -> None:
        """A token for one look-up, or ``TooManyFailedLookups`` once the address has none left
        and no look-up of its own still reading; each ``take`` is followed by one ``settle``."""
        while True:
            bucket = self._bucket(address)
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                bucket.lent += 1
                return
            if bucket.lent == 0:
                raise TooManyFailedLookups((1 - bucket.tokens) / self.per_s)
            if bucket.settled is None:
                bucket.settled = asyncio.Event()
            await bucket.settled.wait()

    def settle(self, address: str, *, spent: bool) -> None:
        """The look-up is done: ``spent`` when its key was not found (the token stays used);
        a key found, or a read that failed, cost the address nothing."""
        bucket = self._buckets.get(address)
        if bucket is None:  # left the table meanwhile: its fresh bucket owes nothing
            return
        bucket = self._bucket(address)
        bucket.lent = max(0, bucket.lent - 1)
        if not spent:
            bucket.tokens = min(self.burst, bucket.tokens + 1)
        if bucket.settled is not None:
            bucket.settled.set()
            bucket.settled = None

    def _bucket(self, address: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = _Bucket(self.burst, now)
            if len(self._buckets) > self.addresses:  # the least recently seen goes first
                _, gone = self._buckets.popitem(last=False)
                if gone.settled is not None:  # its waiters start again on a fresh bucket
                    gone.settled.set()
        self._buckets.move_to_end(address)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_s)
        bucket.at = now
        return bucket
