"""Bounds every HTTP service puts on what a request makes it read or answer."""

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from shared.http.limits import MAX_HEADER_BYTES, MAX_HEADERS, HeaderLimits
from shared.http.problems import MAX_ERRORS, install_problem_handlers


class Items(BaseModel):
    items: list[int]


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(HeaderLimits)

    @app.post("/items")
    async def items(body: Items) -> int:
        return len(body.items)

    return app


async def _post(headers: dict[str, str], json: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        return await client.post("/items", headers=headers, json=json)


@pytest.mark.parametrize(
    "headers",
    [
        {f"x-h{n}": "v" for n in range(MAX_HEADERS + 1)},
        {"x-padding": "p" * (MAX_HEADER_BYTES + 1)},
    ],
    ids=["too-many", "too-large"],
)
async def test_headers_over_the_bounds_are_refused_before_the_route(
    headers: dict[str, str],
) -> None:
    response = await _post(headers, {"items": [1]})
    assert response.status_code == 431
    assert response.json()["code"] == "headers_too_large"


async def test_headers_within_the_bounds_pass() -> None:
    response = await _post({"x-padding": "p" * 8000}, {"items": [1, 2]})
    assert response.status_code == 200 and response.json() == 2


async def test_a_body_with_thousands_of_bad_items_gets_a_bounded_answer() -> None:
    response = await _post({}, {"items": ["x"] * 10_000})
    problem = response.json()
    assert response.status_code == 422 and problem["code"] == "validation_error"
    assert len(problem["errors"]) == MAX_ERRORS
    assert problem["more_errors"] == 10_000 - MAX_ERRORS
    assert len(response.content) < 5_000
