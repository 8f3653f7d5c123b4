"""All the simulator's state in one object: limits, faults, charges, tokens, webhook."""

from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inter_simulator.auth import TokenIssuer
from inter_simulator.faults import FAULT_KINDS, FaultConfig, FaultInjector
from inter_simulator.limits import GROUPS, RateLimiter, limit_config, preset
from inter_simulator.problems import InterError, violations
from inter_simulator.settings import Profile, SimulatorSettings
from inter_simulator.store import ChargeStore
from inter_simulator.webhooks import DeliveryPolicy, Webhooks


class Behaviour(BaseModel):
    processing_delay_seconds: float = Field(ge=0)
    token_ttl_seconds: float = Field(gt=0)
    allow_http_webhooks: bool


class ConfigPatch(BaseModel):
    """``POST /_sim/config``: only the fields given change; ``profile`` first resets limits."""

    model_config = ConfigDict(extra="forbid")

    profile: Profile | None = None
    window_seconds: float | None = Field(default=None, gt=0)
    limits: dict[str, int | None] | None = None
    global_limit: int | None = Field(default=None, ge=0)
    retry_after: bool | None = None
    processing_delay_seconds: float | None = Field(default=None, ge=0)
    token_ttl_seconds: float | None = Field(default=None, gt=0)
    allow_http_webhooks: bool | None = None
    faults: dict[str, Any] | None = None

    @field_validator("limits")
    @classmethod
    def _known_groups(cls, limits: dict[str, int | None] | None) -> dict[str, int | None] | None:
        if limits and (unknown := set(limits) - set(GROUPS)):
            raise ValueError(f"grupos desconhecidos {sorted(unknown)}; os grupos são {GROUPS}")
        return limits


class Simulator:
    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        policy = DeliveryPolicy(
            settings.webhook_retries,
            settings.webhook_retry_delay_seconds,
            settings.webhook_timeout_seconds,
        )
        self.webhooks = Webhooks(policy, lambda: self.behaviour.allow_http_webhooks)
        self.reset()

    def reset(self, keep_config: bool = False) -> None:
        """Forget charges, tokens, webhook and counters; the start configuration unless kept."""
        settings = self.settings
        limits, faults = limit_config(settings), FaultConfig.from_settings(settings)
        if keep_config:
            limits, faults = self.limiter.config, self.faults.config
        else:
            self.behaviour = self._start_behaviour()
        self.limiter: RateLimiter = RateLimiter(limits)
        self.faults: FaultInjector = FaultInjector(faults)
        self.store = ChargeStore(
            lambda: self.behaviour.processing_delay_seconds,
            settings.duplicate_window_seconds,
            lambda: self.faults.failed_issue(),
        )
        self.tokens = TokenIssuer(settings.clients, lambda: self.behaviour.token_ttl_seconds)
        self.webhooks.reset()

    def configure(self, patch: ConfigPatch) -> None:
        given = patch.model_dump(exclude_unset=True)
        if "faults" in given:
            self._configure_faults(given.pop("faults") or {})
        limits = preset(patch.profile) if patch.profile else self.limiter.config
        limits.retry_after = self.limiter.config.retry_after
        limits.update_limits(given.pop("limits", None) or {})
        for name in ("window_seconds", "global_limit", "retry_after"):
            if name in given and (given[name] is not None or name == "global_limit"):
                setattr(limits, name, given[name])
        self.limiter.config = limits
        changes = {k: v for k, v in given.items() if k in Behaviour.model_fields and v is not None}
        self.behaviour = self.behaviour.model_copy(update=changes)

    def config_view(self) -> dict[str, Any]:
        return {
            **asdict(self.limiter.config),
            **self.behaviour.model_dump(),
            "faults": self.faults.config.model_dump(),
        }

    def stats(self) -> dict[str, Any]:
        limits = self.limiter.stats()
        for group, entry in limits["groups"].items():
            entry["faults"] = {kind: self.faults.counts[group][kind] for kind in FAULT_KINDS}
        by_situacao = self.store.by_situacao()
        return {
            "profile": self.limiter.config.profile,
            "window_seconds": self.limiter.config.window_seconds,
            "retry_after": self.limiter.config.retry_after,
            **limits,
            "charges": {"total": sum(by_situacao.values()), "by_situacao": by_situacao},
            "tokens": {"issued": self.tokens.issued, "active": len(self.tokens.tokens)},
            "webhook": self.webhooks.stats(),
        }

    def _configure_faults(self, changes: dict[str, Any]) -> None:
        try:
            config = FaultConfig.model_validate(self.faults.config.model_dump() | changes)
        except ValidationError as exc:
            detail = "Configuração de falhas inválida"
            raise InterError(400, detail, violations(exc.errors())) from None
        self.faults.config = config
        if "seed" in changes:
            self.faults.random.seed(config.seed)

    def _start_behaviour(self) -> Behaviour:
        return Behaviour(
            processing_delay_seconds=self.settings.processing_delay_seconds,
            token_ttl_seconds=self.settings.token_ttl_seconds,
            allow_http_webhooks=self.settings.allow_http_webhooks,
        )
