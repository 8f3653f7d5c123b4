"""The bank's error body: ``{title, status, detail, timestamp, violacoes: [...]}``."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from inter_simulator.schemas import BRASILIA

TITLES = {
    400: "Requisição inválida",
    401: "Não autorizado",
    403: "Acesso negado",
    404: "Recurso não encontrado",
    405: "Método não permitido",
    409: "Conflito",
    429: "Limite de requisições excedido",
    500: "Erro interno",
    502: "Bad Gateway",
    503: "Serviço indisponível",
    504: "Tempo de resposta esgotado",
}
_REASONS = {
    "missing": "campo obrigatório",
    "json_invalid": "JSON inválido",
    "greater_than": "deve ser maior que {gt}",
    "greater_than_equal": "deve ser maior ou igual a {ge}",
    "less_than_equal": "deve ser menor ou igual a {le}",
    "string_too_short": "deve ter no mínimo {min_length} caracteres",
    "string_too_long": "deve ter no máximo {max_length} caracteres",
    "decimal_max_places": "deve ter no máximo {decimal_places} casas decimais",
    "literal_error": "deve ser um de {expected}",
    "date_from_datetime_parsing": "data inválida, use AAAA-MM-DD",
    "date_parsing": "data inválida, use AAAA-MM-DD",
}
_SOURCES = ("body", "query", "path", "header")


class InterError(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        violacoes: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.violacoes = status, detail, violacoes
        self.headers = headers


def problem_body(
    status: int, detail: str, violacoes: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": TITLES.get(status, "Erro"),
        "status": status,
        "detail": detail,
        "timestamp": datetime.now(BRASILIA).isoformat(timespec="milliseconds"),
    }
    if violacoes is not None:
        body["violacoes"] = violacoes
    return body


def problem(
    status: int,
    detail: str,
    violacoes: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(problem_body(status, detail, violacoes), status, headers=headers)


def violation(razao: str, propriedade: str, valor: Any = None) -> dict[str, Any]:
    return {"razao": razao, "propriedade": propriedade, "valor": _text(valor)}


def violations(errors: Sequence[Any]) -> list[dict[str, Any]]:
    found = []
    for error in errors:
        path = [str(part) for part in error["loc"] if part not in _SOURCES]
        template = _REASONS.get(error["type"])
        reason = template.format(**error.get("ctx", {})) if template else error["msg"]
        value = None if error["type"] == "missing" else error.get("input")
        found.append(violation(reason, ".".join(path) or "corpo", value))
    return found


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(InterError)
    async def _inter(_: Request, exc: InterError) -> JSONResponse:
        return problem(exc.status, exc.detail, exc.violacoes, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(400, "Requisição com campos inválidos", violations(exc.errors()))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)[:200]
    return str(value)
