"""The configuration reference: every environment variable each service reads, from the code.

    python scripts/config_reference.py                             # print the Markdown
    python scripts/config_reference.py --check docs/deployment.md  # exit 1 if it is stale
    python scripts/config_reference.py --write docs/deployment.md  # rewrite that section

The settings classes are found in the source (every pydantic-settings class under shared/src
and services/*/src), a service is given each class its code, or the shared code every service
runs, constructs, and the names are the ones pydantic-settings reads: prefix + field name in
upper case, or the field's alias. Besides the classes, a few variables are read directly
(``EXTRA_GROUPS``): the tenants' default limits, OpenTelemetry's, the CA bundle of S3, the
metrics folder and the proxies trusted by the APIs' uvicorn.

A default of ``""`` (``UNSET``) means the variable is unset unless given: leave it out of the
environment rather than setting it empty (an empty value is not the same as no value for a
number or a boolean). The inter-simulator is development only and is left out.
"""

import argparse
import ast
import importlib
import inspect
import re
import sys
import textwrap
import tokenize
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from io import StringIO
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, AliasPath, BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("upload", "converter", "boleto-sync", "notifier")
UNSET = ""
START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
# connection strings that carry a user and password in production
CREDENTIAL_URLS = frozenset({"rabbitmq_url", "mongodb_url"})
SECRET_WORDS = frozenset({"key", "keys", "password", "secret", "token"})
# InfraSettings refuses them when ENVIRONMENT=production (its _no_dev_keys_in_production)
REFUSED_IN_PRODUCTION = frozenset({"DEV_API_KEY", "DEV_ADMIN_KEY"})


@dataclass(frozen=True)
class Setting:
    env: str  # the environment variable, e.g. "UPLOAD_MAX_UPLOAD_BYTES"
    default: str | None  # the default as an environment value would spell it; None: required
    secret: bool  # belongs in a Secret
    description: str  # what it does, in plain words
    owner: str  # the settings class, e.g. "upload.settings.UploadSettings"


def source_roots(root: Path = ROOT) -> dict[Path, str | None]:
    """Each ``src`` folder and the service whose processes run its code (None: every one)."""
    roots: dict[Path, str | None] = {root / "shared" / "src": None}
    for service in SERVICES:
        roots[root / "services" / service / "src"] = service
    return roots


# ---------------------------------------------------------------------------- the classes


def find_settings_classes(roots: Iterable[Path]) -> list[type[BaseSettings]]:
    """Every pydantic-settings class defined under ``roots`` (each on ``sys.path``)."""
    found: dict[str, type[BaseSettings]] = {}
    for root in roots:
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        for path in sorted(root.rglob("*.py")):
            if not _defines_a_settings_like_class(path):
                continue
            module = importlib.import_module(_module_name(root, path))
            for value in vars(module).values():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseSettings)
                    and value is not BaseSettings
                    and value.__module__ == module.__name__
                ):
                    found[qualified(value)] = value
    return [found[name] for name in sorted(found)]


def _defines_a_settings_like_class(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.ClassDef)
        and any(_name_of(base).endswith("Settings") for base in node.bases)
        for node in ast.walk(tree)
    )


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _name_of(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def leaves(classes: list[type[BaseSettings]]) -> list[type[BaseSettings]]:
    """The classes no other found class extends: the ones a process constructs."""
    return [c for c in classes if not any(o is not c and issubclass(o, c) for o in classes)]


def callers(names: Iterable[str], roots: dict[Path, str | None]) -> dict[str, set[str]]:
    """For each name, the services whose processes call it (``Name(...)``); a call in the
    shared code counts for every service."""
    wanted = set(names)
    found: dict[str, set[str]] = {name: set() for name in wanted}
    for root, service in roots.items():
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Call) and (name := _name_of(node.func)) in wanted:
                    found[name].update(SERVICES if service is None else {service})
    return found


# ---------------------------------------------------------------------------- the variables


def settings_of(cls: type[BaseSettings]) -> list[Setting]:
    """The variables ``cls`` reads, as pydantic-settings names them."""
    prefix = cls.model_config.get("env_prefix", "") or ""
    return [
        Setting(
            env=_env_name(prefix, name, field),
            default=_default(field),
            secret=_is_secret(name, field),
            description=_describe(cls, name, field),
            owner=qualified(cls),
        )
        for name, field in cls.model_fields.items()
    ]


def _env_name(prefix: str, name: str, field: FieldInfo) -> str:
    alias: Any = field.validation_alias or field.alias
    if isinstance(alias, AliasChoices):
        alias = alias.choices[0]
    if isinstance(alias, AliasPath):
        alias = alias.path[0]
    if isinstance(alias, str):
        return alias.upper()  # pydantic-settings reads an alias as is, without the prefix
    return f"{prefix}{name}".upper()


def _default(field: FieldInfo) -> str | None:
    if field.is_required():
        return None
    if field.default_factory is not None:
        if field.default_factory.__name__ == "<lambda>" and _varies(field.default_factory):
            return UNSET
        return env_value(field.default_factory())  # type: ignore[call-arg]
    return env_value(field.default)


def _varies(factory: Callable[..., Any]) -> bool:
    """A factory that reads the machine (``os.cpu_count()``): its value is no documented default."""
    return "os." in inspect.getsource(factory)


def env_value(value: Any) -> str:
    """``value`` as it would be written in the environment."""
    if value is None:
        return UNSET
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return ",".join(env_value(v) for v in value)
    return str(value)


def _is_secret(name: str, field: FieldInfo) -> bool:
    return (
        not field.repr
        or name in CREDENTIAL_URLS
        or (name.rsplit("_", 1)[-1] in SECRET_WORDS and field.annotation in (str, str | None))
    )


def _describe(cls: type[BaseModel], name: str, field: FieldInfo) -> str:
    """The field's description; else, from the class itself up its bases, the curated text
    (``DESCRIPTIONS``) or the comment at the field's declaration."""
    return _plain(field.description or _curated_or_comment(cls, name), cls)


def _curated_or_comment(cls: type[BaseModel], name: str) -> str:
    for owner in cls.__mro__:
        if text := DESCRIPTIONS.get(f"{owner.__name__}.{name}"):
            return text
        if name in inspect.get_annotations(owner) and (text := _comment_in(owner, name)):
            return text
    return ""


def _comment_in(owner: type, name: str) -> str:
    """The comment right above the field's declaration in ``owner``, or at its end."""
    lines, _ = inspect.getsourcelines(owner)
    for node in ast.parse(textwrap.dedent("".join(lines))).body[0].body:  # type: ignore[attr-defined]
        if isinstance(node, ast.AnnAssign) and _name_of(node.target) == name:
            return _comment_above(lines, node.lineno - 1) or _comment_after(lines, node)
    return ""


def _comment_above(lines: list[str], index: int) -> str:
    above: list[str] = []
    while index > 0 and lines[index - 1].strip().startswith("#"):
        index -= 1
        above.insert(0, lines[index].strip().lstrip("#").strip())
    return " ".join(above)


def _comment_after(lines: list[str], node: ast.AnnAssign) -> str:
    statement = "".join(lines[node.lineno - 1 : (node.end_lineno or node.lineno)])
    tokens = tokenize.generate_tokens(StringIO(statement).readline)
    comments = [t.string.lstrip("#").strip() for t in tokens if t.type == tokenize.COMMENT]
    return " ".join(comments)


def _plain(text: str, cls: type[BaseModel]) -> str:
    """One line; the fields it names spelled as their variables; no Markdown table breaks."""
    prefix = (cls.model_config.get("env_prefix", "") or "") if issubclass(cls, BaseSettings) else ""
    for other in (name for name in cls.model_fields if "_" in name):  # not plain words
        text = re.sub(rf"(?<![\w`]){re.escape(other)}(?![\w`])", f"{prefix}{other}".upper(), text)
    text = " ".join(text.split()).replace("|", "\\|")
    return text[:1].upper() + text[1:]


# Descriptions for fields whose code carries none (no description, no comment), read from
# where the code uses them; keyed by the declaring class's name and the field.
DESCRIPTIONS: dict[str, str] = {
    # every service's process
    "WorkerSettings.host": (
        "Address the process's HTTP endpoints (API, ops) bind to (in a pod: 0.0.0.0)"
    ),
    "WorkerSettings.ops_port": "Port of the worker's /healthz, /readyz and /metrics",
    "WorkerSettings.prefetch": "Messages one worker process takes from its queue at once",
    "ServiceSettings.port": "Port of the HTTP API (its /healthz, /readyz and /metrics too)",
    "ServiceSettings.api_processes": (
        "Processes serving the API on one port, each with its own caches"
    ),
    "InfraSettings.environment": (
        "One of production, development, test. Production refuses DEV_API_KEY and DEV_ADMIN_KEY "
        "and needs SECRETS_KEY; development also lets webhooks reach http, loopback and any port"
    ),
    "InfraSettings.rabbitmq_url": "The broker (AMQP URL with the service's user and password)",
    "InfraSettings.mongodb_url": "The database (MongoDB connection string with its credentials)",
    "InfraSettings.mongodb_db": "Database name",
    "InfraSettings.mongodb_max_pool_size": "Connections to MongoDB one process keeps at most",
    "InfraSettings.mongodb_server_selection_timeout_ms": (
        "How long an operation waits for a reachable MongoDB server before it fails (a process"
        " starting up waits up to 30 s for the first answer)"
    ),
    "InfraSettings.mongodb_heartbeat_ms": "How often the driver checks the servers' state",
    "InfraSettings.mongodb_max_idle_ms": "An idle connection to MongoDB is closed after this",
    "InfraSettings.events_exchange": "The RabbitMQ topic exchange every event is published to",
    "InfraSettings.data_dir": (
        "Local folder; with STORAGE_BACKEND=filesystem the objects live in its objects/ folder"
    ),
    "InfraSettings.storage_backend": (
        "Where objects are kept: filesystem (one machine) or s3 (MinIO or any S3 service)"
    ),
    "InfraSettings.s3_endpoint": (
        "S3 endpoint as host:port, or a URL whose scheme then decides TLS"
    ),
    "InfraSettings.s3_access_key": "S3 access key id",
    "InfraSettings.s3_secret_key": "S3 secret key",
    "InfraSettings.s3_bucket": "The bucket every object is kept in (must be unique to you)",
    "InfraSettings.s3_secure": "TLS to the S3 endpoint (when it is given as host:port)",
    "InfraSettings.s3_region": "S3 region; unset, the client asks the endpoint",
    "InfraSettings.log_format": "One of json, console, auto (console on a terminal, else JSON)",
    "InfraSettings.log_level": "Lowest level logged (DEBUG, INFO, WARNING, ERROR)",
    "InfraSettings.dev_api_key": (
        "Development only: a tenant key (tenant dev) created at start; refused in production"
    ),
    "InfraSettings.dev_admin_key": (
        "Development only: an admin key created at start; refused in production"
    ),
    "InfraSettings.api_key_cache_seconds": (
        "How long a process trusts a looked-up API key before reading it again; a revoked "
        "key may keep working up to twice this long"
    ),
    "InfraSettings.secrets_old_keys": (
        "Comma-separated keys SECRETS_KEY replaced, still used to open what they sealed"
    ),
    "InfraSettings.retention_hours": (
        "A conversion job, its files and its records are removed this long after creation"
    ),
    "InfraSettings.max_delivery_attempts": (
        "Attempts at handling a message before it goes to its queue's dead-letter queue"
    ),
    "InfraSettings.retry_base_delay_ms": (
        "Delay before a failed message's second attempt, doubled at each further one"
    ),
    # upload
    "UploadSettings.max_upload_bytes": "Largest file accepted (413 too_large beyond)",
    "UploadSettings.max_field_bytes": "Largest text field of the upload form (413 beyond)",
    "UploadSettings.list_max_limit": "Most jobs one page of GET /v1/conversions lists",
    "UploadSettings.retention_sweep_seconds": (
        "How often the worker removes the jobs past RETENTION_HOURS"
    ),
    "UploadSettings.spool_volume_bytes": (
        "Size of the volume uploads are spooled on; sets UPLOAD_MAX_CONCURRENT_UPLOADS when "
        "that is unset"
    ),
    # converter
    "ConverterSettings.workers": (
        "JVM worker processes converting side by side; unset, the number of CPUs"
    ),
    "ConverterSettings.prefetch": "Messages taken at once; 0: twice CONVERTER_WORKERS",
    "ConverterSettings.jvm_nice": (
        "Niceness (0-19) of the JVM workers: they yield the CPU to the APIs, the database and "
        "the broker on a shared machine"
    ),
    "ConverterSettings.archive_max_entries": (
        "Entries a zip source may hold, counted before MPXJ unpacks it (docs/security.md)"
    ),
    "ConverterSettings.jvm_heap_mb": "Maximum heap of each JVM worker, in MB",
    "ConverterSettings.jvm_options": (
        "Options of each JVM worker; the default (C1 compiler only, serial collector) halved "
        "the CPU per file at the same files/s here (bench/raw_mpxj.py)"
    ),
    "ConverterSettings.job_timeout_s": (
        "A conversion taking longer fails as timeout and its JVM is replaced"
    ),
    "ConverterSettings.max_source_bytes": "A larger source fails as too_large unread",
    "ConverterSettings.archive_max_bytes": "Bytes a zip source may unpack to (docs/security.md)",
    "ConverterSettings.work_dir": "Folder of the JVMs' temporary files (writable)",
    # boleto-sync
    "BoletoSettings.inter_base_url": "Banco Inter's API",
    "BoletoSettings.inter_client_id": "Banco Inter application's client id",
    "BoletoSettings.inter_client_secret": "Banco Inter application's client secret",
    "BoletoSettings.inter_scope": "OAuth scopes asked for with each token",
    "BoletoSettings.inter_cert_file": (
        "Path of the mTLS client certificate Banco Inter issued (mounted from a Secret)"
    ),
    "BoletoSettings.inter_key_file": "Path of that certificate's private key",
    "BoletoSettings.inter_ca_file": (
        "CA bundle the bank's certificate is checked against when a client certificate is "
        "set; unset, the system's"
    ),
    "BoletoSettings.inter_account": (
        "Checking account number, sent as the x-conta-corrente header when set"
    ),
    "BoletoSettings.inter_timeout_s": "Timeout of each call to the bank",
    "BoletoSettings.limit_issue": (
        "The bank's limit on issuing charges, per BOLETO_LIMIT_WINDOW_S (its published "
        "production figure); the calls of every process together stay under each limit"
    ),
    "BoletoSettings.limit_get": "The bank's limit on reading a charge",
    "BoletoSettings.limit_list": "The bank's limit on listing charges",
    "BoletoSettings.limit_pdf": "The bank's limit on fetching a charge's PDF",
    "BoletoSettings.limit_cancel": "The bank's limit on cancelling a charge",
    "BoletoSettings.limit_token": "The bank's limit on OAuth token requests",
    "BoletoSettings.limit_webhook": "The bank's limit on webhook registration calls",
    "BoletoSettings.limit_window_s": "The window the BOLETO_LIMIT_* counts are per",
    "BoletoSettings.limit_utilisation": (
        "Fraction of each bank limit the platform uses (a margin under the bank's count)"
    ),
    "BoletoSettings.processing_poll_s": (
        "How often a PDF sync asks again about a charge the bank is still processing"
    ),
    "BoletoSettings.processing_timeout_s": (
        "A PDF sync whose charge is still processing after this fails"
    ),
    "BoletoSettings.webhook_token": (
        "Token the bank's callbacks must carry (?token=, added to BOLETO_WEBHOOK_URL when "
        "registering), at least 16 characters; required in production (the API and the "
        "worker refuse to start without it), unset elsewhere: callbacks are not checked"
    ),
    # notifier
    "NotifierSettings.allow_http": (
        "Webhook targets may use http (docs/webhooks.md); unset, only in development"
    ),
    "NotifierSettings.allow_loopback": (
        "Webhook targets may be loopback addresses, on any port; unset, only in development"
    ),
    "NotifierSettings.allowed_networks": (
        "Comma-separated CIDRs webhook targets may reach besides public addresses, on any port"
    ),
    "NotifierSettings.retry_jitter": "Each retry's delay is spread by up to this fraction",
    "NotifierSettings.attempt_timeout_s": "Timeout of one delivery attempt",
    "NotifierSettings.lease_margin_s": (
        "A delivery is leased for NOTIFIER_ATTEMPT_TIMEOUT_S plus this; a crashed worker's "
        "deliveries are taken over after it"
    ),
    "NotifierSettings.max_in_flight": "Deliveries one worker attempts at once",
    "NotifierSettings.max_in_flight_per_endpoint": "Attempts at once to one receiver",
    "NotifierSettings.sweep_interval_s": "How often the worker looks for deliveries that are due",
    "NotifierSettings.disable_after_failures": (
        "A receiver failing this many attempts in a row, over at least "
        "NOTIFIER_DISABLE_AFTER_S, is disabled"
    ),
    "NotifierSettings.disable_after_s": "See NOTIFIER_DISABLE_AFTER_FAILURES",
    "NotifierSettings.secret_grace_s": (
        "After a secret rotation, deliveries are signed with both secrets this long"
    ),
    "NotifierSettings.max_response_bytes": "Bytes of a receiver's answer read at most",
    "NotifierSettings.replay_window_s": (
        "How long events are kept for live-stream clients resuming with Last-Event-ID"
    ),
    "NotifierSettings.replay_max_events": "Events replayed at most on one resume",
    "NotifierSettings.heartbeat_s": "A keep-alive comment on an idle live stream this often",
    "NotifierSettings.stream_queue_size": (
        "Events waiting for one live-stream client; a client this far behind is disconnected"
    ),
    "NotifierSettings.smtp_host": "SMTP server; e-mail is off unless it is set",
    "NotifierSettings.smtp_port": "SMTP port",
    "NotifierSettings.smtp_username": "SMTP login, when the server asks for one",
    "NotifierSettings.smtp_password": "SMTP password",
    "NotifierSettings.smtp_allow_plain": (
        "Plain SMTP allowed (STARTTLS only when offered): development and tests only"
    ),
    "NotifierSettings.smtp_from": "The From address of the mails",
    "NotifierSettings.smtp_timeout_s": "Timeout of the SMTP connection and each command",
    "NotifierSettings.public_api_url": "The upload API as users reach it (the mails' links)",
    "NotifierSettings.email_confirm_ttl_s": "A recipient's confirmation link expires after this",
    "NotifierSettings.email_confirm_resend_s": (
        "An address gets at most one confirmation mail per this"
    ),
}


# ---------------------------------------------------------------------------- variables read
# directly, not through a settings class: each group is read by the processes that call its
# trigger (found like a class's construction)


@dataclass(frozen=True)
class ExtraGroup:
    trigger: str  # a function or class whose call means the process reads these
    owner: str
    settings: Callable[[str], list[Setting]]


def _tenant_defaults(owner: str) -> list[Setting]:
    from shared.tenants import ENV_PREFIX, TenantLimits

    return [
        Setting(
            env=f"{ENV_PREFIX}{name}".upper(),
            default=_default(field),
            secret=False,
            description=_plain(
                f"every tenant's default: {field.description}; an admin's override wins", BaseModel
            ),
            owner=owner,
        )
        for name, field in TenantLimits.model_fields.items()
    ]


def _fixed(*rows: tuple[str, str, str]) -> Callable[[str], list[Setting]]:
    def settings(owner: str) -> list[Setting]:
        return [Setting(env, default, False, text, owner) for env, default, text in rows]

    return settings


EXTRA_GROUPS = (
    ExtraGroup("TenantSettings", "shared.tenants.TenantLimits", _tenant_defaults),
    ExtraGroup(
        "configure_telemetry",
        "shared.telemetry",
        _fixed(
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                UNSET,
                "The OTLP/HTTP collector (port 4318) spans are exported to; unset, spans stay "
                "in the process (trace ids still travel and show in the logs)",
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                UNSET,
                "The collector's traces URL, when it differs from the endpoint above",
            ),
            (
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                UNSET,
                "With an endpoint set, only http/protobuf is accepted; another value stops "
                "the start",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", UNSET, "As above, for traces only"),
            (
                "OTEL_SERVICE_NAME",
                UNSET,
                "The service name on spans; unset, the process's own (upload, upload-worker, "
                "converter, ...). The SDK reads the other standard OTEL_* variables",
            ),
        ),
    ),
    ExtraGroup(
        "S3Store",
        "shared.storage.s3",
        _fixed(
            (
                "SSL_CERT_FILE",
                UNSET,
                "CA bundle the S3 endpoint's certificate is checked against, over TLS; unset, "
                "certifi's",
            ),
        ),
    ),
    ExtraGroup(
        "run_roles",
        "shared.metrics",
        _fixed(
            (
                "PROMETHEUS_MULTIPROC_DIR",
                UNSET,
                "Folder where an API served by several processes keeps its metrics (emptied at "
                "start); unset, a fresh temporary folder",
            ),
        ),
    ),
    ExtraGroup(
        "run_roles",
        "uvicorn",
        _fixed(
            (
                "FORWARDED_ALLOW_IPS",
                "127.0.0.1,::1",
                "Comma-separated addresses (or *) whose X-Forwarded-For and X-Forwarded-Proto "
                "the API trusts for the client's address and scheme: the ingress controller's",
            ),
        ),
    ),
)


# ---------------------------------------------------------------------------- the reference


def settings_by_service(root: Path = ROOT) -> dict[str, list[Setting]]:
    """Keys "upload", "converter", "boleto-sync", "notifier": every setting that service's
    processes read (its own class(es), InfraSettings and the shared settings it constructs:
    tenants, telemetry, ...), sorted by env name."""
    roots = source_roots(root)
    classes = leaves(find_settings_classes(roots))
    by_name = {c.__name__: c for c in classes}
    readers = callers([*by_name, *(g.trigger for g in EXTRA_GROUPS)], roots)
    result: dict[str, dict[str, Setting]] = {service: {} for service in SERVICES}
    for name, cls in by_name.items():
        for service in readers[name]:
            result[service].update((s.env, s) for s in settings_of(cls))
    for group in EXTRA_GROUPS:
        for service in readers[group.trigger]:
            result[service].update((s.env, s) for s in group.settings(group.owner))
    return {
        service: sorted(found.values(), key=lambda s: s.env) for service, found in result.items()
    }


def markdown(root: Path = ROOT) -> str:
    """The settings every service reads in one table, then each service's others in its own:
    variable, default, secret, what it does."""
    by_service = settings_by_service(root)
    common = set.intersection(*(set(settings) for settings in by_service.values()))
    out = [
        "A default of *unset* means the variable is absent unless you set it; do not set it "
        "empty. *Secret*: keep it in a Kubernetes Secret, not a ConfigMap.",
        "",
        "### Secrets each service reads",
        "",
        "| Service | Variables |",
        "|---|---|",
        *(
            f"| {service} | {', '.join(f'`{s.env}`' for s in settings if _production_secret(s))} |"
            for service, settings in by_service.items()
        ),
        "",
        "### Every service",
        "",
        *_table(sorted(common, key=lambda s: s.env)),
    ]
    for service, settings in by_service.items():
        out += ["", f"### {service}", "", *_table([s for s in settings if s not in common])]
    return "\n".join(out) + "\n"


def _production_secret(setting: Setting) -> bool:
    return setting.secret and setting.env not in REFUSED_IN_PRODUCTION


def _table(settings: list[Setting]) -> list[str]:
    rows = ["| Variable | Default | Secret | What it does |", "|---|---|---|---|"]
    for s in settings:
        default = "*required*" if s.default is None else f"`{s.default}`" if s.default else "unset"
        rows.append(f"| `{s.env}` | {default} | {'yes' if s.secret else ''} | {s.description} |")
    return rows


def section(document: str) -> str:
    """The generated part of ``document``: what lies between the markers."""
    start, end = document.index(START) + len(START), document.index(END)
    return document[start:end].strip("\n")


def rewrite(document: str, reference: str) -> str:
    start, end = document.index(START) + len(START), document.index(END)
    return f"{document[:start]}\n{reference}\n{document[end:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", type=Path, metavar="DOC", help="exit 1 if DOC's section differs")
    group.add_argument("--write", type=Path, metavar="DOC", help="rewrite DOC's section")
    args = parser.parse_args(argv)
    reference = markdown().strip("\n")
    if args.check:
        if section(args.check.read_text(encoding="utf-8")) != reference:
            print(
                f"{args.check}: the configuration reference is stale; run "
                f"python scripts/config_reference.py --write {args.check}",
                file=sys.stderr,
            )
            return 1
        return 0
    if args.write:
        args.write.write_text(
            rewrite(args.write.read_text(encoding="utf-8"), reference), encoding="utf-8"
        )
        return 0
    print(reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
