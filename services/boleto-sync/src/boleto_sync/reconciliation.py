"""Reconciliation with the bank, periodic and on an admin's request (one replica at a time):

- a boleto whose issue ran out of attempts may still have been issued (its answer lost): the
  bank's list of charges issued since the oldest such boleto is read, every page, and a charge
  with its seuNumero that no boleto holds becomes its charge (and its PDF is synced). It is
  adopted, never issued again.
- a callback the bank could not deliver is in its callback history: each one not delivered
  since the last run asks for a check of its charge, as a callback would have.
- the bank's summary of the last ``SUMMARY_DAYS`` days' charges is kept for admins.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from boleto_sync.bank_reports import callback_history, listed_charges, summary
from boleto_sync.charge_events import transition_entries
from boleto_sync.check_repository import BankCheckRepository
from boleto_sync.hints import request_checks
from boleto_sync.inter.client import PROCESSING
from boleto_sync.inter.errors import InterError
from boleto_sync.issuing import issued_entries, issued_since
from boleto_sync.reconciliation_repository import ReconciliationRepository
from boleto_sync.service import sync_job
from shared.clock import now
from shared.ratelimit.gcra import TooLongAWait
from shared.telemetry import tracer

if TYPE_CHECKING:
    from boleto_sync.bootstrap import WorkerDeps

log = structlog.get_logger()
POLL_S = 2.0  # how soon a requested run starts
LEASE = timedelta(minutes=30)  # a replica that dies mid-run holds it no longer than this
LOOKBACK = timedelta(days=30)  # lost issues older than this are left to an operator
FIRST_HISTORY = timedelta(days=1)  # the callback history read by the very first run
HISTORY_OVERLAP = timedelta(minutes=10)  # attempts recorded late are read by the next run
SUMMARY_DAYS = 30


@dataclass
class Reconciler:
    runs: ReconciliationRepository
    checks: BankCheckRepository
    deps: "WorkerDeps"
    every: timedelta

    async def run_if_due(self) -> None:
        state = await self.runs.claim(self.every, LEASE)
        if state is None:
            return
        with tracer.start_as_current_span("reconcile with the bank"):
            await self._run(state)

    async def _run(self, state: dict[str, Any]) -> None:
        report: dict[str, Any] = {"started_at": now(), "errors": []}
        until = await self._attempt(report, self._history(report, state.get("callbacks_until")))
        await self._attempt(report, self._adopt(report))
        await self._attempt(report, self._summary())
        report["finished_at"] = now()
        await self.runs.finish(report, until if isinstance(until, datetime) else None)
        log.info("boleto.reconciled", **{k: v for k, v in report.items() if k != "errors"})

    async def _attempt(self, report: dict[str, Any], step: Any) -> Any:
        try:
            return await step
        except (InterError, TooLongAWait) as exc:
            report["errors"].append(str(exc))
            log.warning("boleto.reconciliation_failed", error=str(exc))
            return None

    async def _history(self, report: dict[str, Any], since: datetime | None) -> datetime:
        end = now()
        start = (since or end - FIRST_HISTORY) - HISTORY_OVERLAP
        missed: list[dict[str, Any]] = []
        read = 0
        async for attempt in callback_history(self.deps.inter, start, end):
            read += 1
            if not attempt.get("sucesso"):
                missed.extend(
                    item for item in attempt.get("payload") or [] if isinstance(item, dict)
                )
        report["callbacks_read"] = read
        report["checks_requested"] = await request_checks(
            self.deps.repo, self.checks, missed, "callback_history"
        )
        return end

    async def _adopt(self, report: dict[str, Any]) -> None:
        lost = await self.deps.repo.lost_issues(now() - LOOKBACK)
        report["lost_issues"], report["charges_listed"], report["adopted"] = len(lost), 0, 0
        if not lost:
            return
        waiting: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for boleto in lost:
            waiting[boleto["charge"]["seuNumero"]].append(boleto)
        async for charge in listed_charges(self.deps.inter, issued_since(lost[0]["created_at"])):
            report["charges_listed"] += 1
            candidates = waiting.get(str(charge.get("seuNumero")))
            codigo = str(charge.get("codigoSolicitacao") or "")
            if not candidates or not codigo or await self.deps.repo.by_codigo(codigo):
                continue
            if await self._adopt_one(candidates.pop(0), codigo, charge):
                report["adopted"] += 1

    async def _adopt_one(self, boleto: dict[str, Any], codigo: str, charge: dict[str, Any]) -> bool:
        repo = self.deps.repo
        job = await repo.creation_job(boleto["_id"])
        if job is None:
            job = sync_job(boleto["tenant"], boleto["_id"])
            await repo.add_job(job)
        situacao = str(charge.get("situacao") or PROCESSING)
        entries = issued_entries(boleto, codigo, situacao, job["_id"])
        entries += transition_entries(boleto, codigo, {**charge, "situacao": situacao})
        if not await repo.adopt(boleto["_id"], codigo, situacao, job["_id"], entries):
            return False
        await self.deps.relay.flush_or_defer(boleto["_id"], entries)
        log.info(
            "boleto.adopted", tenant_id=boleto["tenant"], boleto_id=boleto["_id"], codigo=codigo
        )
        return True

    async def _summary(self) -> None:
        today = date.today()
        filters = {
            "dataInicial": (today - timedelta(days=SUMMARY_DAYS)).isoformat(),
            "dataFinal": today.isoformat(),
            "filtrarDataPor": "EMISSAO",
        }
        entries = await summary(self.deps.inter, filters)
        await self.runs.save_summary({"as_of": now(), "filters": filters, "situacoes": entries})
