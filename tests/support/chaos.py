"""What a fault scenario measures: traffic during the fault, and what became of every job.

A scenario uploads a batch of real schedules, keeps uploading at a fixed rate while the fault
is on (open model: a send is never delayed by a slow answer), probes every serving process's
``/readyz``, and records every answer. Afterwards every accepted job must end completed, with
exactly one webhook delivery of its ``conversion.completed``.
"""

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.notifier import Receiver

UPLOAD_TIMEOUT_S = 60


@dataclass
class Answer:
    at: float  # seconds since the scenario began
    status: int  # 0: no answer (connection refused or timed out)
    code: str | None
    seconds: float


@dataclass
class Traffic:
    """Answers to uploads and polls, and readiness, recorded while a scenario runs."""

    api: httpx.AsyncClient
    files: list[Path]
    ready_urls: dict[str, str]
    upload_rate: float = 4.0
    started: float = field(default_factory=time.monotonic)
    uploads: list[Answer] = field(default_factory=list)
    polls: list[Answer] = field(default_factory=list)
    readiness: dict[str, list[Answer]] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    _tasks: list["asyncio.Task[None]"] = field(default_factory=list)
    _sends: set["asyncio.Task[None]"] = field(default_factory=set)
    _probing: threading.Event = field(default_factory=threading.Event)
    _probes: list[threading.Thread] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.started

    async def upload(
        self,
        path: Path,
        content: bytes | None = None,
        via: httpx.AsyncClient | None = None,
        timeout: float = UPLOAD_TIMEOUT_S,
    ) -> Answer:
        began = self.now()
        body = path.read_bytes() if content is None else content
        try:
            response = await (via or self.api).post(
                "/v1/conversions",
                files={"file": (path.name, body, "application/octet-stream")},
                timeout=timeout,
            )
        except httpx.HTTPError:
            answer = Answer(began, 0, None, self.now() - began)
        else:
            answer = Answer(began, response.status_code, _code(response), self.now() - began)
            if response.status_code == 202:
                self.accepted.append(response.json()["id"])
        self.uploads.append(answer)
        return answer

    async def __aenter__(self) -> "Traffic":
        self._tasks = [asyncio.create_task(self._poll())]
        if self.upload_rate:
            self._tasks.append(asyncio.create_task(self._upload_paced()))
        self._probing.set()
        self._probes = [
            threading.Thread(target=self._probe, args=(n, u), name=f"probe-{n}", daemon=True)
            for n, u in self.ready_urls.items()
        ]
        for thread in self._probes:
            thread.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()
        self._probing.clear()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*self._sends, return_exceptions=True)
        for thread in self._probes:
            await asyncio.to_thread(thread.join)

    async def _upload_paced(self) -> None:
        files = itertools.cycle(self.files)
        interval, due = 1 / self.upload_rate, time.monotonic()
        while True:
            due += interval
            task = asyncio.create_task(self._discard(self.upload(next(files))))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    @staticmethod
    async def _discard(answer: Any) -> None:
        await answer

    async def _poll(self) -> None:
        while True:
            if self.accepted:
                job_id = self.accepted[len(self.polls) % len(self.accepted)]
                began = self.now()
                try:
                    response = await self.api.get(f"/v1/conversions/{job_id}", timeout=10)
                    status, code = response.status_code, _code(response)
                except httpx.HTTPError:
                    status, code = 0, None
                self.polls.append(Answer(began, status, code, self.now() - began))
            await asyncio.sleep(0.1)

    def _probe(self, name: str, url: str) -> None:
        """A thread of its own per process, as the kubelet probes from outside: in the
        scenario's event loop, beside up to 1,000 uploads of its own, a probe's answer could
        wait on the client rather than on the process it judges."""
        answers = self.readiness.setdefault(name, [])
        with httpx.Client(timeout=2) as probe:
            while self._probing.is_set():
                began = self.now()
                try:
                    status = probe.get(url).status_code
                except httpx.HTTPError:
                    status = 0
                answers.append(Answer(began, status, None, self.now() - began))
                time.sleep(0.25)


def _code(response: httpx.Response) -> str | None:
    if response.status_code < 400:
        return None
    try:
        return str(response.json().get("code"))
    except ValueError:
        return None


@dataclass
class Outcome:
    """One scenario's figures, as docs/resilience.md reports them."""

    scenario: str
    accepted: int
    completed: int
    failed: int
    lost: int
    duplicates: int  # jobs delivered by two different webhook messages
    retransmitted: int  # POSTs repeating a message already received (a crash's retry)
    answers_500: int
    answers_503: int
    slowest_503_s: float
    p95_503_s: float
    refused: int  # uploads that got no answer at all
    slowest_upload_s: float
    not_ready: int  # /readyz answers 503 from serving processes
    unanswered_probes: int  # /readyz probes with no answer within 2 s
    longest_unready_streak: int  # probes in a row not answered 200 (Kubernetes: 3 = out)
    recovery_s: float | None  # from the fault's end to the first accepted upload
    drained_s: float  # from the fault's end until every accepted job was final
    delivered_s: float  # from the fault's end until every accepted job's webhook arrived
    # the jobs not final when the time was up, with the last status read (for the failure)
    unfinished: dict[str, str] = field(default_factory=dict)
    # the longest unready streak per process, where it is not 0
    unready_streaks: dict[str, int] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in vars(self).items()}


def _streak(probes: list[Answer]) -> int:
    longest = current = 0
    for answer in probes:
        current = current + 1 if answer.status != 200 else 0
        longest = max(longest, current)
    return longest


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else 0.0


def deliveries_per_job(hook: Receiver) -> dict[str, list[str]]:
    """Per job, the ``webhook-id`` of every completion POST that arrived. A retry of one
    delivery repeats its id (receivers deduplicate on it); a second delivery would not."""
    ids: dict[str, list[str]] = {}
    for request in hook.delivered():
        event = json.loads(request.body)
        if event.get("type", "").startswith("conversion.completed"):
            ids.setdefault(event["data"]["job_id"], []).append(request.headers["webhook-id"])
    return ids


async def final_states(
    api: httpx.AsyncClient, job_ids: list[str], timeout: float
) -> dict[str, str]:
    """Each job's status once final (or its last status when the time is up)."""
    states: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    pending = list(job_ids)
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            try:
                response = await api.get(f"/v1/conversions/{job_id}", timeout=10)
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                states[job_id] = response.json()["status"]
                if states[job_id] in ("completed", "failed"):
                    pending.remove(job_id)
        if pending:
            await asyncio.sleep(0.5)
    return states


def recovery(traffic: Traffic, healed_at: float) -> float | None:
    after = [a.at for a in traffic.uploads if a.at >= healed_at and a.status == 202]
    return round(min(after) - healed_at, 2) if after else None


async def measure(
    name: str,
    traffic: Traffic,
    hook: Receiver,
    healed_at: float,
    *,
    drain_timeout: float = 240,
    delivery_timeout: float = 90,
) -> Outcome:
    """What became of every job the traffic had accepted, and how the answers went. A
    delivery held by a killed notifier waits out its lease (30 s by default) first."""
    states = await final_states(traffic.api, traffic.accepted, drain_timeout)
    drained = traffic.now() - healed_at
    deadline = time.monotonic() + delivery_timeout
    while time.monotonic() < deadline:
        delivered = deliveries_per_job(hook)
        if all(job_id in delivered for job_id in traffic.accepted):
            break
        await asyncio.sleep(0.2)
    delivered_at = traffic.now() - healed_at
    await asyncio.sleep(2)  # a second delivery of a job would arrive by now
    deliveries = deliveries_per_job(hook)
    answers = traffic.uploads + traffic.polls
    unavailable = [a for a in answers if a.status == 503]
    probes_by = traffic.readiness
    return Outcome(
        scenario=name,
        accepted=len(traffic.accepted),
        completed=sum(1 for s in states.values() if s == "completed"),
        failed=sum(1 for s in states.values() if s == "failed"),
        lost=sum(1 for j in traffic.accepted if j not in deliveries),
        duplicates=sum(1 for j in traffic.accepted if len(set(deliveries.get(j, []))) > 1),
        retransmitted=sum(len(ids) - len(set(ids)) for ids in deliveries.values()),
        answers_500=sum(1 for a in answers if a.status >= 500 and a.status != 503),
        answers_503=len(unavailable),
        slowest_503_s=max((a.seconds for a in unavailable), default=0.0),
        p95_503_s=_p95([a.seconds for a in unavailable]),
        refused=sum(1 for a in traffic.uploads if a.status == 0),
        slowest_upload_s=max((a.seconds for a in traffic.uploads), default=0.0),
        not_ready=sum(a.status == 503 for probes in probes_by.values() for a in probes),
        unanswered_probes=sum(a.status == 0 for probes in probes_by.values() for a in probes),
        longest_unready_streak=max((_streak(p) for p in probes_by.values()), default=0),
        unready_streaks={n: s for n, p in probes_by.items() if (s := _streak(p))},
        recovery_s=recovery(traffic, healed_at),
        drained_s=drained,
        delivered_s=delivered_at,
        unfinished={
            j: states.get(j, "never read")
            for j in traffic.accepted
            if states.get(j) not in ("completed", "failed")
        },
    )
