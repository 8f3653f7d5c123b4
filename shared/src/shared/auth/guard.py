"""What unknown keys may cost: a token bucket of database look-ups per client address.

Every look-up of a key not in the cache takes a token before it reads; a key found gives its
token back, so only failed look-ups drain the bucket. Once an address has spent its burst,
its uncached keys are refused without a read until the bucket refills, while keys already in
the cache keep working. Per process and in memory: a replica's database reads for random keys
are bounded by ``burst + per_s * seconds`` per address, whatever the request rate.
"""

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

    def take(self, address: str) -> None:
        """A token for one look-up, or ``TooManyFailedLookups``."""
        bucket = self._bucket(address)
        if bucket.tokens < 1:
            raise TooManyFailedLookups((1 - bucket.tokens) / self.per_s)
        bucket.tokens -= 1

    def give_back(self, address: str) -> None:
        """The look-up found its key: it cost the address nothing."""
        bucket = self._bucket(address)
        bucket.tokens = min(self.burst, bucket.tokens + 1)

    def _bucket(self, address: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = _Bucket(self.burst, now)
            if len(self._buckets) > self.addresses:  # the least recently seen goes first
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(address)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_s)
        bucket.at = now
        return bucket
