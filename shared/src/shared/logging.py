"""structlog configuration: JSON in containers, console on a terminal.

Every line logged inside a span (FastAPI's server span of a request, the consumer span of a
message) carries that span's ``trace_id`` and ``span_id``, in the hex form of the
``X-Trace-Id`` header and of any tracing backend; ``tenant_id`` and ``job_id`` come from the
context that the entry points bind (``bind_ids``, ``bound_ids``). Library records (uvicorn,
PyMongo, aio-pika) go through the same processors, so a process writes one JSON object per
line and nothing it logs leaves unredacted.
"""

import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import structlog
from opentelemetry import trace
from structlog.types import EventDict, Processor, WrappedLogger

from shared.events import Event
from shared.settings import InfraSettings

MASK = "***"
# keys whose values are secrets, compared lower-cased with "-" read as "_"; a key ending in
# "_" + one of these (webhook_secret, access_token, smtp_password...) is one as well
SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "api_key",
        "apikey",
        "x_api_key",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "token",
        "access_token",
        "refresh_token",
        "credentials",
    }
)
_SECRET_SUFFIXES = tuple(f"_{key}" for key in ("secret", "password", "token", "api_key"))
_URL_CREDENTIALS = re.compile(r"([a-z][a-z0-9+.-]*://[^:/?#@\s]*):[^@/?#\s]*@", re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"\b(bearer|basic)\s+[\w.~+/=-]{8,}", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"\b((?:api_?key|token|secret|password|client_secret|access_token)=)[^&\s\"',;]+",
    re.IGNORECASE,
)
_TRIGGERS = ("://", "=", "earer", "EARER", "asic ", "ASIC ")
_DEPTH = 4  # nested mappings and lists are walked this deep


def configure_logging(service: str, settings: InfraSettings) -> None:
    fmt = settings.log_format
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Processor = (
        structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    )
    level = logging.getLevelName(settings.log_level.upper())
    structlog.configure(
        processors=[*_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        # not cached: a cached logger keeps the configuration of its first line for good, so
        # a process configured again (an app created twice, a test capturing lines) would
        # write some lines the old way; a few lines per request cost no measurable CPU either way
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    _route_standard_logging(renderer)


def _processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        structlog.processors.format_exc_info,
        redact_secrets,  # last before rendering: tracebacks are text by now
    ]


def _route_standard_logging(renderer: Processor) -> None:
    """Records of the standard library's loggers rendered as ours. Libraries stay at WARNING
    whatever LOG_LEVEL says: their debug output is not ours to read, and some of it (a driver
    logging its connection string) is what the redaction exists for. uvicorn's own handlers,
    installed before the app is created, would write plain text: they are dropped so its
    records reach the root's."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *_processors()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


def add_trace_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The current span's ids: the request's server span, a message's consumer span, or a span
    opened inside either. Outside any span (start-up, background loops) nothing is added."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A safeguard, not a licence: code should not log secrets in the first place. Masks the
    values of secret-named keys, and in any text the credentials of URLs
    (``amqp://user:***@``), ``Bearer``/``Basic`` credentials and secret query parameters.
    Text is searched only when it holds one of a few marker substrings, so a line of ids and
    numbers costs a handful of ``in`` tests."""
    for key, value in event_dict.items():
        if not key.startswith("_"):  # structlog's own entries (the stdlib record)
            event_dict[key] = _redacted(key, value, 0)
    return event_dict


def is_secret_key(key: str) -> bool:
    name = key.lower().replace("-", "_")
    return name in SECRET_KEYS or name.endswith(_SECRET_SUFFIXES)


def _redacted(key: str, value: Any, depth: int) -> Any:
    if value is None:
        return None
    if is_secret_key(key):
        return MASK
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bool | int | float):
        return value
    if depth >= _DEPTH:
        return value
    if isinstance(value, Mapping):
        return {k: _redacted(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted("", v, depth + 1) for v in value]
    return scrub(str(value))  # URLs, exceptions...: rendered as text anyway


def scrub(text: str) -> str:
    """``text`` without credentials in URLs, authorization values or secret parameters."""
    if not any(trigger in text for trigger in _TRIGGERS):
        return text
    text = _URL_CREDENTIALS.sub(rf"\1:{MASK}@", text)
    text = _AUTH_SCHEME.sub(rf"\1 {MASK}", text)
    return _SECRET_PARAM.sub(rf"\1{MASK}", text)


def bind_ids(**ids: str | None) -> None:
    """Bind the tenant and job (and the like) a request or message concerns for the rest of
    its handling: each request, message and delivery runs in a task of its own, so nothing
    leaks into the next. None binds nothing."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})


@contextmanager
def bound_ids(**ids: str | None) -> Iterator[None]:
    """``tenant_id``/``job_id`` (and the like) on every line logged inside the block only."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in ids.items() if v is not None}):
        yield


def event_ids(event: Event) -> dict[str, str | None]:
    """The ids a consumed event concerns, as log fields: its job, and its subject under the
    subject's own name (``boleto_id``, ``webhook_id``)."""
    ids = {"job_id": getattr(event, "job_id", None)}
    if event.subject_field:
        ids[event.subject_field] = event.subject()
    return ids
