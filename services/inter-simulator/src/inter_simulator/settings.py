from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["production", "original"]


class GroupFaults(BaseModel):
    """Faults for one endpoint group; unset fields fall back to the simulator-wide values."""

    latency_ms: float | None = Field(default=None, ge=0)
    jitter_ms: float | None = Field(default=None, ge=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    timeout_rate: float | None = Field(default=None, ge=0, le=1)
    malformed_rate: float | None = Field(default=None, ge=0, le=1)


class Faults(BaseModel):
    """The simulator-wide faults: ``INTER_SIM_*`` at start, ``POST /_sim/config`` later."""

    latency_ms: float = Field(default=0.0, ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    timeout_seconds: float = Field(default=30.0, ge=0)
    malformed_rate: float = Field(default=0.0, ge=0, le=1)
    issue_failure_rate: float = Field(default=0.0, ge=0, le=1)
    seed: int | None = None


class SimulatorSettings(Faults, BaseSettings):
    """Start-up configuration; most of it can be changed later through ``POST /_sim/config``."""

    model_config = SettingsConfigDict(
        env_prefix="INTER_SIM_", env_nested_delimiter="__", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = 8090
    clients: dict[str, str] = Field(default={"sim-client": "sim-secret"}, repr=False)
    token_ttl_seconds: float = 3600.0
    conta_corrente: str | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = None

    profile: Profile = "production"
    window_seconds: float | None = Field(default=None, gt=0)
    limits: dict[str, int | None] = {}
    global_limit: int | None = None
    retry_after: bool = True

    processing_delay_seconds: float = Field(default=2.0, ge=0)
    duplicate_window_seconds: float = Field(default=1800.0, ge=0)
    allow_http_webhooks: bool = False
    webhook_retries: int = Field(default=2, ge=0)
    webhook_retry_delay_seconds: float = Field(default=1.0, ge=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)

    group_faults: dict[str, GroupFaults] = {}  # the start value of ``Faults.groups``

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None and self.tls_key_file is not None
