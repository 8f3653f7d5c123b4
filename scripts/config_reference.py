"""The configuration reference: every environment variable each service reads, from the code.

    python scripts/config_reference.py                             # print the Markdown
    python scripts/config_reference.py --check docs/deployment.md  # exit 1 if it is stale
    python scripts/config_reference.py --write docs/deployment.md  # rewrite that section

The settings classes are found in the source (every pydantic-settings class under shared/src
and services/*/src), a service is given each class its code, or the shared code every service
runs, constructs, and the names are the ones pydantic-settings reads: prefix + field name in
upper case, or the field's alias. Besides the classes, a few variables are read directly
(``EXTRA_GROUPS``): the tenants' default limits, OpenTelemetry's endpoint, the CA bundle.

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
DEV_ONLY = ("inter-simulator",)
UNSET = ""
START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
# connection strings that carry a user and password in production
CREDENTIAL_URLS = frozenset({"rabbitmq_url", "mongodb_url"})
SECRET_WORDS = frozenset({"key", "keys", "password", "secret", "token"})


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
    text = None
    for owner in cls.__mro__:
        text = DESCRIPTIONS.get(f"{owner.__name__}.{name}")
        if text:
            break
    text = text or field.description or _comment_of(cls, name)
    return _plain(text or "", cls)


def _comment_of(cls: type[BaseModel], name: str) -> str:
    """The comment right above the field's line, or at its end, in the first class of the
    MRO that declares it."""
    for owner in cls.__mro__:
        if name not in inspect.get_annotations(owner):
            continue
        lines, _ = inspect.getsourcelines(owner)
        for node in ast.parse(textwrap.dedent("".join(lines))).body[0].body:  # type: ignore[attr-defined]
            if isinstance(node, ast.AnnAssign) and _name_of(node.target) == name:
                text = _comment_above(lines, node.lineno - 1) or _comment_after(lines, node)
                if text:
                    return text
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
DESCRIPTIONS: dict[str, str] = {}


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
                "Only http/protobuf is accepted; any other value stops the start",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", UNSET, "As above, for traces only"),
            (
                "OTEL_SERVICE_NAME",
                UNSET,
                "The service name on spans; unset, the process's own (e.g. upload, "
                "upload-worker). Other standard OTEL_* variables are read by the SDK",
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
                "CA bundle the S3 endpoint's certificate is checked against (S3_SECURE=true); "
                "unset, certifi's",
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
    """One table per service: variable, default, secret, what it does."""
    out: list[str] = []
    for service, settings in settings_by_service(root).items():
        out += [f"### {service}", "", "| Variable | Default | Secret | What it does |"]
        out.append("|---|---|---|---|")
        for s in settings:
            default = (
                "*required*" if s.default is None else f"`{s.default}`" if s.default else "unset"
            )
            out.append(f"| `{s.env}` | {default} | {'yes' if s.secret else ''} | {s.description} |")
        out.append("")
    return "\n".join(out)


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
