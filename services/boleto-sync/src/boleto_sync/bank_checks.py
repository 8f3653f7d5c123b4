"""The worker's side of the bank's callbacks, which are hints and nothing more: a due check
fetches the charge from the bank (one GET, within the shared limits) and sets the boleto's
status to what the bank says. A status the bank does not confirm changes nothing; a changed
status of a boleto whose PDF is stored starts one re-sync (none while one is in flight), and
a move into paid or cancelled is announced (charge.paid, charge.cancelled) by that update."""

from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from boleto_sync.charge_events import transition_entries
from boleto_sync.check_repository import BankCheckRepository
from boleto_sync.fair_share import on_behalf_of
from boleto_sync.inter.errors import InterError, InterNotFound
from boleto_sync.pdf_sync import charge_fields
from boleto_sync.service import start_sync
from shared.clock import now
from shared.ratelimit.gcra import TooLongAWait
from shared.telemetry import tracer

if TYPE_CHECKING:
    from boleto_sync.bootstrap import WorkerDeps

log = structlog.get_logger()
CHECK_EVERY_S = 0.5
LEASE = timedelta(minutes=2)  # longer than a GET with its retries; a dead holder's check reruns
RETRY_IN = timedelta(seconds=30)


async def run_due_checks(checks: BankCheckRepository, deps: "WorkerDeps") -> None:
    """Every due check, one after another, until none is left."""
    while (boleto_id := await checks.claim(LEASE)) is not None:
        # one trace per check: the token, the limiter's waits and the GET, and any re-sync
        with tracer.start_as_current_span("check charge"):
            await _check_one(checks, boleto_id, deps)


async def _check_one(checks: BankCheckRepository, boleto_id: str, deps: "WorkerDeps") -> None:
    asked_at = now()  # the bank's answer is at least this recent
    try:
        await check_charge(boleto_id, deps)
    except InterNotFound:
        log.warning("boleto.check_unknown_at_bank", boleto_id=boleto_id)
    except (InterError, TooLongAWait) as exc:
        log.warning("boleto.check_failed", boleto_id=boleto_id, error=str(exc))
        await checks.retry_at(boleto_id, now() + RETRY_IN)
        return
    await checks.done(boleto_id, asked_at)


async def check_charge(boleto_id: str, deps: "WorkerDeps") -> None:
    boleto = await deps.repo.by_id(boleto_id)
    if boleto is None or not (codigo := boleto["inter"].get("codigo_solicitacao")):
        return
    on_behalf_of(boleto["tenant"])  # its bank calls count against the tenant's fair share
    charge = await deps.inter.get(codigo)
    situacao = charge["cobranca"]["situacao"]
    if situacao == boleto["status"]:
        log.info("boleto.status_unchanged_at_bank", boleto_id=boleto_id, situacao=situacao)
        return
    changes = {
        **charge_fields(charge),
        "situacao_at": charge["cobranca"].get("dataSituacao") or now().isoformat(),
    }
    moved = transition_entries(boleto, codigo, charge["cobranca"])
    if not await deps.repo.update(boleto_id, changes, moved, only_if={"status": boleto["status"]}):
        return  # a sync stored the bank's newer answer meanwhile
    await deps.relay.flush_or_defer(boleto_id, moved)
    log.info(
        "boleto.status_from_bank",
        tenant_id=boleto["tenant"],
        boleto_id=boleto_id,
        situacao=situacao,
        was=boleto["status"],
    )
    if boleto["pdf"].get("current"):
        await start_sync(deps.repo, deps.relay, boleto)
