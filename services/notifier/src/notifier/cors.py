"""CORS for the live stream alone, for pages served from another origin (development's page on
upload's port). In production the Ingress routes ``/v1/events`` to the notifier on the API's
host: the page is same-origin and ``cors_origins`` stays empty, so no CORS header is sent.

The page reads the stream with ``fetch()``: ``EventSource`` cannot send ``Authorization``.
Only the listed origins are answered, each with itself (never ``*``); no credentials, since
the key travels in ``Authorization``, not in a cookie.
"""

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

STREAM_PATH = "/v1/events/stream"


class StreamCORS:
    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET"],
            allow_headers=["Authorization", "Last-Event-ID"],
            expose_headers=["Retry-After"],  # a refused stream (429) says when to come back
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == STREAM_PATH:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
