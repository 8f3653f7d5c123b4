"""docs/asyncapi.yaml is generated from the event registry and kept up to date."""

from pathlib import Path
from typing import Any

import asyncapi
import pytest
import yaml

from shared.events import ConversionStarted, Event
from shared.messaging.envelope import encode


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return yaml.safe_load(asyncapi.DOCUMENT.read_text(encoding="utf-8"))


def test_the_committed_document_is_up_to_date() -> None:
    assert asyncapi.is_current(asyncapi.DOCUMENT), (
        "docs/asyncapi.yaml is stale: run python scripts/asyncapi.py"
    )


def test_check_fails_on_a_stale_document(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stale = tmp_path / "asyncapi.yaml"
    stale.write_text("asyncapi: 3.0.0\n", encoding="utf-8")
    monkeypatch.setattr(asyncapi, "DOCUMENT", stale)
    assert asyncapi.main(["--check"]) == 1
    assert asyncapi.main([]) == 0
    assert asyncapi.main(["--check"]) == 0


@pytest.mark.parametrize("key", sorted(Event.registry))
def test_every_event_has_a_channel_message_and_receive_operation(
    document: dict[str, Any], key: str
) -> None:
    model = Event.registry[key]
    channel = document["channels"][key]
    message = document["components"]["messages"][model.__name__]
    operation = document["operations"][f"receive{model.__name__}"]

    assert channel["address"] == key
    assert channel["bindings"]["amqp"]["exchange"] == {
        "name": "events",
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }
    assert message["name"] == key
    assert message["contentType"] == "application/json"
    assert message["payload"] == {"$ref": f"#/components/schemas/{model.__name__}"}
    assert operation["action"] == "receive"
    assert operation["channel"] == {"$ref": f"#/channels/{key}"}


@pytest.mark.parametrize("key", sorted(Event.registry))
def test_payload_lists_the_model_fields(document: dict[str, Any], key: str) -> None:
    model = Event.registry[key]
    schema = document["components"]["schemas"][model.__name__]
    assert set(schema["properties"]) == set(model.model_fields)


def test_headers_are_the_cloudevents_binary_mode_attributes(document: dict[str, Any]) -> None:
    headers = document["components"]["schemas"][asyncapi.HEADERS]
    assert set(headers["properties"]) == {
        "ce-id",
        "ce-source",
        "ce-type",
        "ce-specversion",
        "ce-time",
        "ce-subject",
        "ce-tenantid",
        "traceparent",
    }
    assert {"ce-id", "ce-type", "ce-specversion", "ce-tenantid"} <= set(headers["required"])


def test_the_documented_headers_match_what_encode_writes(document: dict[str, Any]) -> None:
    headers = document["components"]["schemas"][asyncapi.HEADERS]
    written = encode(ConversionStarted(tenant_id="t", job_id="j"), "/services/test").headers
    assert set(headers["required"]) <= set(written) <= set(headers["properties"])


def test_every_local_reference_resolves(document: dict[str, Any]) -> None:
    refs = list(local_refs(document))
    assert refs
    for ref in refs:
        resolve(document, ref)


def local_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in local_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in local_refs(item)]
    return []


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node
