"""Settings every service reads; each service adds its own with its own env prefix."""

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class InfraSettings(BaseSettings):
    """Where the shared infrastructure lives (unprefixed, shared by every service)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "production"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    mongodb_url: str = "mongodb://127.0.0.1:27017"
    mongodb_db: str = "schedule_platform"
    mongodb_max_pool_size: int = Field(default=8, ge=1, le=500)
    mongodb_server_selection_timeout_ms: int = Field(default=300, ge=100)
    mongodb_heartbeat_ms: int = Field(default=2000, ge=500)
    mongodb_max_idle_ms: int = Field(default=60_000, ge=1000)
    # every write waits for the server's journal (j: true): an acknowledged write survives a
    # crash of the database process (unjournaled, the last ~100 ms of them may not)
    mongodb_journal: bool = True
    events_exchange: str = "events"
    data_dir: Path = Path("./data")
    storage_backend: Literal["filesystem", "s3"] = "filesystem"
    s3_endpoint: str = "127.0.0.1:9000"
    s3_access_key: str = "minioadmin"
    s3_secret_key: str = Field(default="minioadmin", repr=False)
    s3_bucket: str = "schedule-platform"
    s3_secure: bool = False
    s3_region: str | None = None
    log_format: Literal["json", "console", "auto"] = "auto"
    log_level: str = "INFO"
    dev_api_key: str | None = Field(default=None, repr=False)
    dev_admin_key: str | None = Field(default=None, repr=False)
    api_key_cache_seconds: float = 5.0
    # the key that wraps secrets at rest (base64 of 32 random bytes, from a Secret; required in
    # production) and, comma-separated, the keys it replaced, still read (shared/crypto.py)
    secrets_key: str | None = Field(default=None, repr=False)
    secrets_old_keys: str = Field(default="", repr=False)
    retention_hours: float = 24.0
    max_delivery_attempts: int = 5
    retry_base_delay_ms: int = 1000
    # on SIGTERM, how long the work in flight may take before it is abandoned (a worker's
    # messages go back to the queue, an API's open requests are cut); the manifests'
    # terminationGracePeriodSeconds stay above it (docs/kubernetes.md, "Shutdown")
    shutdown_grace_s: int = Field(default=25, ge=1)
    # how often a worker samples its queues' depths and its outboxes' backlogs for /metrics
    metrics_sample_s: float = Field(default=15.0, gt=0)

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "objects"

    @model_validator(mode="after")
    def _no_dev_keys_in_production(self) -> "InfraSettings":
        # a key written into an environment variable is a shared, never-rotated secret: in
        # production the first admin key comes from `python -m shared.auth create --admin`
        if self.environment == "production" and (self.dev_api_key or self.dev_admin_key):
            raise ValueError(
                "DEV_API_KEY and DEV_ADMIN_KEY are refused when ENVIRONMENT=production; "
                "create keys with `python -m shared.auth create --tenant <tenant> [--admin]`"
            )
        return self


class WorkerSettings(BaseSettings):
    """Where a worker serves its ops endpoints: ``<PREFIX>_HOST`` and ``<PREFIX>_OPS_PORT``.

    Each service subclasses it with ``env_prefix`` set to its own prefix and its own ports.
    """

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    host: str = "127.0.0.1"
    ops_port: int
    prefetch: int = 64


class ServiceSettings(WorkerSettings):
    """A service with an HTTP API besides its worker: ``<PREFIX>_PORT`` too, and
    ``<PREFIX>_API_PROCESSES``, how many processes serve it (each with its own caches)."""

    port: int
    api_processes: int = Field(default=1, ge=1, le=64)
