"""The bank's error body: ``{title, status, detail, timestamp, violacoes: [...]}``."""

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, get_args

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import core_schema
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
# pydantic's error types in Portuguese; any type missing here gets the generic reason, so
# no library text in English reaches a client
_REASONS = {
    "missing": "campo obrigatório",
    "json_invalid": "JSON inválido",
    "json_type": "deve ser JSON",
    "extra_forbidden": "campo não permitido",
    "model_type": "deve ser um objeto",
    "model_attributes_type": "deve ser um objeto",
    "dict_type": "deve ser um objeto",
    "list_type": "deve ser uma lista",
    "string_type": "deve ser um texto",
    "int_type": "deve ser um número inteiro",
    "int_parsing": "deve ser um número inteiro",
    "int_from_float": "deve ser um número inteiro",
    "float_type": "deve ser um número",
    "float_parsing": "deve ser um número",
    "finite_number": "deve ser um número finito",
    "decimal_type": "deve ser um número",
    "decimal_parsing": "deve ser um número",
    "decimal_max_digits": "deve ter no máximo {max_digits} dígitos",
    "decimal_whole_digits": "deve ter no máximo {whole_digits} dígitos antes da vírgula",
    "decimal_max_places": "deve ter no máximo {decimal_places} casas decimais",
    "bool_type": "deve ser true ou false",
    "bool_parsing": "deve ser true ou false",
    "greater_than": "deve ser maior que {gt}",
    "greater_than_equal": "deve ser maior ou igual a {ge}",
    "less_than": "deve ser menor que {lt}",
    "less_than_equal": "deve ser menor ou igual a {le}",
    "string_too_short": "deve ter no mínimo {min_length} caracteres",
    "string_too_long": "deve ter no máximo {max_length} caracteres",
    "string_pattern_mismatch": "formato inválido",
    "too_short": "deve ter no mínimo {min_length} itens",
    "too_long": "deve ter no máximo {max_length} itens",
    "literal_error": "deve ser um de {expected}",
    "enum": "deve ser um de {expected}",
    "date_type": "data inválida, use AAAA-MM-DD",
    "date_parsing": "data inválida, use AAAA-MM-DD",
    "date_from_datetime_parsing": "data inválida, use AAAA-MM-DD",
    "date_from_datetime_inexact": "data inválida, use AAAA-MM-DD",
    "datetime_type": "data e hora inválidas, use AAAA-MM-DDTHH:MM:SS",
    "datetime_parsing": "data e hora inválidas, use AAAA-MM-DDTHH:MM:SS",
    "datetime_from_date_parsing": "data e hora inválidas, use AAAA-MM-DDTHH:MM:SS",
}
_GENERIC_REASON = "valor inválido"
_PYDANTIC_TYPES = frozenset(get_args(core_schema.ErrorType))
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
        value = None if error["type"] == "missing" else error.get("input")
        found.append(violation(_reason(error), ".".join(path) or "corpo", value))
    return found


def _reason(error: Any) -> str:
    context = error.get("ctx", {})
    if error["type"] == "value_error":  # our own validators raise in Portuguese
        return str(context.get("error") or _GENERIC_REASON)
    template = _REASONS.get(error["type"])
    if template is None:  # our PydanticCustomErrors carry Portuguese; pydantic's own do not
        custom = error["type"] not in _PYDANTIC_TYPES
        return str(error["msg"]) if custom else _GENERIC_REASON
    words = {name: str(value).replace("' or '", "' ou '") for name, value in context.items()}
    return template.format(**words)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(InterError)
    async def _inter(_: Request, exc: InterError) -> JSONResponse:
        return problem(exc.status, exc.detail, exc.violacoes, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(400, "Requisição com campos inválidos", violations(exc.errors()))

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        # Starlette's details ("Not Found", "Method Not Allowed") are English phrases
        detail = TITLES.get(exc.status_code, "Erro")
        return problem(exc.status_code, detail, headers=dict(exc.headers or {}))


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)[:200]
    return str(value)
