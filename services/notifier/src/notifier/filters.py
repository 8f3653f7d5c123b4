"""Event filters of a subscription: exact names (``conversion.completed``) or wildcards.

``*`` stands for one dotted segment, and a trailing ``*`` for one or more: ``conversion.*``
matches ``conversion.completed`` and ``conversion.failed``; ``boleto.*`` also matches
``boleto.sync.failed``; ``*`` alone matches everything.
"""

import re
from collections.abc import Iterable

from notifier.events import EVENT_NAMES

PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*)(\.(\*|[a-z][a-z0-9_]*))*$")


class InvalidFilter(ValueError):
    pass


def matches(pattern: str, event_name: str) -> bool:
    wanted, actual = pattern.split("."), event_name.split(".")
    for index, part in enumerate(wanted):
        if part == "*" and index == len(wanted) - 1:
            return len(actual) > index
        if index >= len(actual) or (part != "*" and part != actual[index]):
            return False
    return len(actual) == len(wanted)


def matches_any(patterns: Iterable[str], event_name: str) -> bool:
    return any(matches(pattern, event_name) for pattern in patterns)


def check(pattern: str) -> str:
    """The pattern, normalised; InvalidFilter with a clear reason otherwise."""
    normalised = pattern.strip().lower()
    if normalised.endswith(".v1"):  # a routing key names the same events
        normalised = normalised[:-3]
    if not PATTERN.match(normalised):
        raise InvalidFilter(
            f"{pattern!r} is not an event filter: use dotted names such as "
            "conversion.completed, with * for one segment (conversion.*)"
        )
    if not any(matches(normalised, name) for name in EVENT_NAMES):
        raise InvalidFilter(f"{pattern!r} matches no event; known events: {', '.join(EVENT_NAMES)}")
    return normalised
