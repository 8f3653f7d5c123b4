"""The one percentile every benchmark report uses, so p50s and p95s compare across sections."""

from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (``q`` from 0 to 100) by linear interpolation between ranks.

    The sorted values are read at rank ``(n - 1) * q / 100``, interpolating between the two
    values around it: numpy's default method, ``statistics.quantiles(method="inclusive")``.
    The 50th percentile is the median, the 0th the minimum and the 100th the maximum.
    No values raise ValueError: a report must not print a percentile of nothing.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
