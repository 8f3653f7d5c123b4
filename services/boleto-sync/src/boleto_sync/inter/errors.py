"""What can go wrong talking to the bank, as types a caller can decide on."""

from typing import Any


class InterError(Exception):
    """Any failure of a call to the bank."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class InterUnavailable(InterError):
    """5xx, timeouts and connection errors: worth retrying."""


class InterThrottled(InterUnavailable):
    """429 after the retry budget."""


class InterMalformed(InterUnavailable):
    """A response that is not what the API documents (retrying may get a good one)."""


class InterRejected(InterError):
    """4xx: the request is wrong (validation, duplicate, unknown id); retrying cannot help."""

    @property
    def violations(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict) and isinstance(self.body.get("violacoes"), list):
            return list(self.body["violacoes"])
        return []


class InterNotFound(InterRejected):
    pass


class InterDuplicate(InterRejected):
    pass
