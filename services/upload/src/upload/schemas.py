"""The public shapes of ``/v1/conversions`` (docs/architecture.md, "HTTP APIs")."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from shared.events import Manifest
from shared.formats import TargetFormat

Status = Literal["queued", "converting", "completed", "failed"]


class Source(BaseModel):
    filename: str
    size: int
    sha256: str
    format: str


class Result(BaseModel):
    size: int
    sha256: str
    media_type: str
    manifest: Manifest


class JobError(BaseModel):
    code: str
    message: str


class Links(BaseModel):
    self: str
    result: str


class Job(BaseModel):
    id: str
    status: Status
    created_at: datetime
    updated_at: datetime
    target: TargetFormat
    timephased: bool
    source: Source
    result: Result | None = None
    error: JobError | None = None
    reused: bool = False
    links: Links

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Job":
        path = f"/v1/conversions/{doc['_id']}"
        return cls(
            id=doc["_id"],
            status=doc["status"],
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
            target=doc["options"]["target"],
            timephased=doc["options"]["timephased"],
            source=Source(**doc["source"]),
            result=Result(**doc["result"]) if doc.get("result") else None,
            error=JobError(**doc["error"]) if doc.get("error") else None,
            reused=bool(doc.get("reused_from")),
            links=Links(self=path, result=f"{path}/result"),
        )


class JobList(BaseModel):
    items: list[Job]
    next_cursor: str | None


def render_job(doc: dict[str, Any]) -> bytes:
    """The job's public JSON, as ``GET /v1/conversions/{id}`` answers it."""
    return Job.from_document(doc).model_dump_json().encode()
