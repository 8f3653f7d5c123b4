"""The layering rules of docs/architecture.md, checked on the source itself.

- no service imports another service, and ``shared`` imports no service;
- every MongoDB call stands in a repository module (a module whose path names ``repository``).
"""

import ast
import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.routing import APIRoute

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared" / "src" / "shared"
# the driver's connection module: it opens the client and pings the server, queries nothing
CONNECTION = SHARED / "mongo.py"
SERVICES = {p.name: p for p in (ROOT / "services").glob("*/src/*") if p.is_dir()}

# PyMongo collection and cursor operations that reach the database; names that other types
# also have (``str.find``, ``list.count``...) count only in modules that handle PyMongo objects
MONGO_CALLS = {
    "aggregate",
    "bulk_write",
    "count_documents",
    "create_index",
    "create_indexes",
    "delete_many",
    "delete_one",
    "estimated_document_count",
    "find_one",
    "find_one_and_delete",
    "find_one_and_replace",
    "find_one_and_update",
    "insert_many",
    "insert_one",
    "replace_one",
    "update_many",
    "update_one",
}
AMBIGUOUS_CALLS = {"find", "distinct", "drop", "watch", "command"}


def _modules(package: Path) -> list[Path]:
    return sorted(package.rglob("*.py"))


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _mongo_calls(path: Path) -> list[str]:
    text = path.read_text()
    names = MONGO_CALLS | (AMBIGUOUS_CALLS if "pymongo" in text or "Collection" in text else set())
    calls = [
        (node.lineno, node.func.attr)
        for node in ast.walk(ast.parse(text, str(path)))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in names
    ]
    return [f"{path.name}:{line} .{name}()" for line, name in sorted(calls)]


def test_the_layout_is_what_the_rules_speak_of() -> None:
    assert {"upload", "converter", "boleto_sync", "notifier", "inter_simulator"} <= set(SERVICES)
    assert (SHARED / "service.py").is_file()


def _imports_of(package: Path, forbidden: set[str]) -> dict[str, list[str]]:
    """Each module of ``package`` that imports one of ``forbidden``, with what it imports."""
    found = {path: sorted(_imported(path) & forbidden) for path in _modules(package)}
    return {str(path.relative_to(ROOT)): names for path, names in found.items() if names}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_no_service_imports_another(service: str) -> None:
    assert _imports_of(SERVICES[service], set(SERVICES) - {service}) == {}


def test_shared_imports_no_service() -> None:
    assert _imports_of(SHARED, set(SERVICES)) == {}


def test_every_mongodb_call_stands_in_a_repository_module() -> None:
    outside = [
        f"{path.relative_to(ROOT)}: {call}"
        for package in [SHARED, *SERVICES.values()]
        for path in _modules(package)
        if "repository" not in path.relative_to(package).as_posix() and path != CONNECTION
        for call in _mongo_calls(path)
    ]
    assert not outside


def test_the_checker_sees_a_mongodb_call(tmp_path: Path) -> None:
    """The rule above would pass vacuously if the scan found nothing anywhere."""
    module = tmp_path / "service.py"
    module.write_text(
        "from pymongo.asynchronous.collection import AsyncCollection\n"
        "async def f(c: AsyncCollection, name: str) -> None:\n"
        "    await c.update_one({}, {})\n"
        "    c.find({})\n"
    )
    assert _mongo_calls(module) == ["service.py:3 .update_one()", "service.py:4 .find()"]
    plain = tmp_path / "text.py"
    plain.write_text("def f(name: str) -> int:\n    return name.find('x')\n")
    assert _mongo_calls(plain) == []
    assert _mongo_calls(SHARED / "messaging" / "repository.py")


def _module_names() -> list[str]:
    names = []
    for package in [SHARED, *SERVICES.values()]:
        for path in _modules(package):
            parts = path.relative_to(package.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("module", _module_names())
def test_every_module_imports(module: str) -> None:
    """Names used only for type checking must not be evaluated at import, and so on."""
    importlib.import_module(module)


APPS = ["upload.app", "boleto_sync.app", "notifier.app", "inter_simulator.app"]


def _sync_callables(dependant: Any) -> Iterator[str]:
    call = dependant.call
    if call is not None and not (
        inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
    ):
        yield getattr(call, "__qualname__", repr(call))
    for sub in dependant.dependencies:
        yield from _sync_callables(sub)


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(router.routes)  # an included router, as FastAPI keeps it


@pytest.mark.parametrize("module", APPS)
def test_no_endpoint_or_dependency_runs_in_the_thread_pool(module: str) -> None:
    """FastAPI runs a plain ``def`` endpoint or dependency in a worker thread: a thread hop per
    request that cost the read path more CPU than the request itself (docs/benchmarks.md)."""
    saved = structlog.get_config()
    try:
        app = importlib.import_module(module).create_app()  # configures logging globally
    finally:
        structlog.configure(**saved)
        structlog.contextvars.clear_contextvars()
    routes = list(_api_routes(app.routes))
    found = {
        f"{route.path}: {name}" for route in routes for name in _sync_callables(route.dependant)
    }
    assert routes, "no API route found: the walk over FastAPI's routers no longer sees them"
    assert not found, f"plain functions on the request path: {sorted(found)}"
