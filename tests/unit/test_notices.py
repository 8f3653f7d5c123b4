from datetime import UTC, datetime

import bson
import pytest

from shared.messaging.notices import Change, parse_recorded


def test_a_change_applies_only_where_its_condition_holds() -> None:
    change = Change({"status": ["queued", "converting"]}, {"status": "completed"})
    assert change.applied_to({"status": "queued", "n": 1}) == {"status": "completed", "n": 1}
    assert change.applied_to({"status": "failed"}) is None
    assert change.applied_to({}) is None


def test_dotted_fields_set_nested_values_and_leave_the_original_alone() -> None:
    doc = {"status": "converting", "source": {"format": None, "size": 3}}
    updated = Change({}, {"source.format": "MPP", "result.key": "k"}).applied_to(doc)
    assert updated == {
        "status": "converting",
        "source": {"format": "MPP", "size": 3},
        "result": {"key": "k"},
    }
    assert doc == {"status": "converting", "source": {"format": None, "size": 3}}


def test_a_notice_arrives_with_the_types_a_database_read_gives() -> None:
    at = datetime(2026, 11, 30, 6, 0, 0, 123000, tzinfo=UTC)
    body = bson.encode({"cv_1": {"if": {"status": ["queued"]}, "set": {"updated_at": at}}})
    change = parse_recorded(body)["cv_1"]
    assert change.condition == {"status": ["queued"]}
    assert change.fields["updated_at"] == at and change.fields["updated_at"].tzinfo is not None


@pytest.mark.parametrize(
    "body", [b"", b"\x05\x00\x00\x00", bson.encode({"cv_1": "x"}), bson.encode({"cv_1": {}})]
)
def test_malformed_notices_raise_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_recorded(body)
