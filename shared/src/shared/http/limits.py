"""Bounds on a request's headers, for every HTTP service.

uvicorn's httptools parser, which the APIs run, reads headers of any size and number. An
ingress in front bounds them in production (nginx: four buffers of 8 KiB); this answers for
the API itself: more than ``MAX_HEADERS`` headers or ``MAX_HEADER_BYTES`` of them in all get
``431 headers_too_large`` before any route, dependency or body read runs.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.http.problems import problem_response

MAX_HEADERS = 100
MAX_HEADER_BYTES = 32 << 10  # names and values together


class HeaderLimits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            size = sum(len(name) + len(value) for name, value in headers)
            if len(headers) > MAX_HEADERS or size > MAX_HEADER_BYTES:
                refused = problem_response(
                    431,
                    "headers_too_large",
                    f"a request may carry at most {MAX_HEADERS} headers and "
                    f"{MAX_HEADER_BYTES} bytes of them",
                    {"Connection": "close"},
                )
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)
