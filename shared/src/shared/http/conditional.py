"""Conditional reads (RFC 9110, section 13): ``ETag`` on every cached representation and
``If-None-Match`` answered with ``304 Not Modified`` when the client's copy is current."""

from typing import Any

from fastapi import Response

from shared.caching import Entry

# the OpenAPI entry of a conditional read's 304
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "unchanged since the ETag the client sent in If-None-Match"}
}

# a client may keep the representation but must revalidate it before each use
CACHE_CONTROL = "private, no-cache"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (weak comparison, as the RFC asks for GET)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))


def conditional(entry: Entry, if_none_match: str | None) -> Response:
    """The entry as a 200 with its body, or a bodiless 304 when the client holds it already."""
    headers = {"ETag": entry.etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(if_none_match, entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)
