"""The upload service's own settings (``UPLOAD_*``); the infrastructure's are shared."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class UploadSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="UPLOAD_")

    port: int = 8000
    ops_port: int = 9001
    max_upload_bytes: int = 100 * 1024 * 1024
    max_field_bytes: int = 4096
    list_max_limit: int = 200
    retention_sweep_seconds: float = 60.0
    # uploads one API process spools at once (503 beyond): unset, derived from the spool volume
    # (upload.quotas.max_uploads_of: 80 % of 2 GiB over 100 MiB uploads and one process is 16)
    max_concurrent_uploads: int | None = Field(default=None, ge=1)
    spool_volume_bytes: int = Field(default=2 * 1024**3, gt=0)
    # a key's upload slot outlives a crashed process this long (renewed while its upload runs)
    key_lease_s: float = Field(default=60.0, gt=0)
    # how long a job's sealed read password opens: the converter refuses it after that
    password_ttl_s: float = Field(default=3600.0, gt=0)
    # the Inter simulator's base URL: the web page's "simulate payment" button pays a job's
    # charge there (POST .../payment/simulate). Development only: refused in production
    sandbox_bank_url: str | None = None
    # where the web page opens the event stream; unset, /v1/events/stream on its own origin
    # (the Ingress routes it to the notifier). make run names the notifier's port, which lets
    # the page's origin in (NOTIFIER_CORS_ORIGINS)
    web_events_url: str | None = None
