"""Keyset pagination, newest first, over ``(created_at, _id)``: stable while documents arrive.

A cursor is opaque to clients: the position of the last item of the page they were given.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class InvalidCursor(ValueError):
    """The cursor is not one this API returned."""


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode()

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        try:
            created, doc_id = base64.urlsafe_b64decode(text.encode()).decode().split("|", 1)
            return cls(datetime.fromisoformat(created), doc_id)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise InvalidCursor("the cursor is not one this API returned") from None

    def query(self) -> dict[str, Any]:
        """The filter for the documents after this position (older, or as old with a lower id)."""
        return {
            "$or": [
                {"created_at": {"$lt": self.created_at}},
                {"created_at": self.created_at, "_id": {"$lt": self.id}},
            ]
        }


NEWEST_FIRST = [("created_at", -1), ("_id", -1)]


@dataclass(frozen=True)
class Page:
    """One page of documents and the cursor of the next one (None on the last page)."""

    items: list[dict[str, Any]]
    next_cursor: str | None

    @classmethod
    def of(cls, docs: list[dict[str, Any]], limit: int) -> "Page":
        """From ``limit + 1`` documents fetched: the extra one only tells that more exist."""
        items = docs[:limit]
        if len(docs) <= limit or not items:
            return cls(items, None)
        last = items[-1]
        return cls(items, Cursor(last["created_at"], last["_id"]).encode())
