"""The API replica's boleto cache (``shared.caching``).

A boleto changes with an event when it is issued and when a PDF sync starts, ends or fails;
each of those is written with ``updated_at`` after the event's time. Two changes carry no
event: a failed issue and a status the worker fetched from the bank after a callback (one
that leaves a stored PDF outdated starts a re-sync, whose event does reach every replica).
Replicas show either within ``MAX_AGE_S``.
"""

from boleto_sync.schemas import render_boleto
from shared.caching import DocumentCache, Load, Settled, recorded_since_event
from shared.events import BoletoSynced, BoletoSyncFailed, BoletoSyncRequested, ChargeIssued, Event

MAX_AGE_S = 10.0
SETTLED: dict[type[Event], Settled] = {
    event: recorded_since_event
    for event in (ChargeIssued, BoletoSyncRequested, BoletoSynced, BoletoSyncFailed)
}


def boleto_cache(load: Load) -> DocumentCache:
    return DocumentCache("boletos", load, render_boleto, SETTLED, max_age_s=MAX_AGE_S)
