"""The operator views of conversions: the jobs summed up, and what replaying a dead
conversion request undoes first."""

from collections.abc import Awaitable, Callable

import structlog
from aio_pika.abc import AbstractIncomingMessage

from shared.admin.summary import JobSummary, summarize
from shared.events import ConversionRequested
from shared.messaging.envelope import MalformedEvent, decode
from shared.messaging.notices import Recorded
from upload.admin_repository import JobAdminRepository

log = structlog.get_logger()


class ConversionsAdmin:
    def __init__(
        self, repository: JobAdminRepository, announce: Callable[[Recorded], Awaitable[None]]
    ) -> None:
        """``announce`` tells the API replicas' caches of a job set back to queued."""
        self.repository = repository
        self.announce = announce

    async def summary(self) -> JobSummary:
        return await summarize(self.repository.summary)

    async def before_replay(self, message: AbstractIncomingMessage) -> None:
        """A conversion request put back on its queue: its job, failed when the request ran
        out of attempts, is queued again, so the converter's fresh attempt can complete it.
        A job that failed for any other reason stays failed (the converter then finds its
        outcome recorded and converts nothing)."""
        try:
            received = decode(dict(message.headers or {}), message.content_type, message.body)
        except MalformedEvent:
            return
        if isinstance(received.event, ConversionRequested):
            job_id = received.event.job_id
            if recorded := await self.repository.requeue_gave_up(job_id):
                await self.announce(recorded)
                log.info("conversion.requeued", job_id=job_id, event_id=received.id)
