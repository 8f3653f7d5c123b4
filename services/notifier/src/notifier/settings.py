"""``NOTIFIER_*``: the API and worker's ports, deliveries, targets, live stream and e-mail."""

import re
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.settings import ServiceSettings

# Standard Webhooks' customary schedule after the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, 10 h; a delivery that fails throughout gives up about 27 hours after its event
DEFAULT_SCHEDULE = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


class NotifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_")

    port: int = 8001
    ops_port: int = 9000

    # delivery
    retry_schedule_s: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_SCHEDULE),
        description="seconds before each retry; comma-separated in the environment",
    )
    retry_jitter: float = Field(default=0.2, ge=0, le=1)
    attempt_timeout_s: float = 10.0
    lease_margin_s: float = 20.0
    max_in_flight: int = 64
    max_in_flight_per_endpoint: int = 4
    sweep_interval_s: float = 5.0
    disable_after_failures: int = 20
    disable_after_s: float = 86400.0
    secret_grace_s: float = 86400.0
    max_response_bytes: int = 4096

    # which targets a webhook may reach (docs/webhooks.md; loopback only in development)
    allow_http: bool | None = None
    allow_loopback: bool | None = None
    allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_ports: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [443, 80, 8443],
        description="ports a public webhook target may use; any port in development",
    )

    # live stream
    replay_window_s: float = 3600.0
    replay_max_events: int = 1000
    heartbeat_s: float = 15.0
    stream_queue_size: int = 1000

    # pages of other origins allowed to read the stream (development's page on upload's port);
    # none in production, where the Ingress serves it on the API's host
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="exact origins (scheme://host:port) whose pages may read /v1/events/stream;"
        " comma-separated in the environment; none by default (no CORS headers)",
    )

    # e-mail (off unless smtp_host is set)
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    # STARTTLS is required unless the connection is TLS from the start (smtp_tls, port 465)
    # or plain SMTP is allowed (development and tests: then STARTTLS only when offered)
    smtp_tls: bool = False
    smtp_allow_plain: bool = False
    smtp_ca_file: str | None = Field(
        default=None, description="CA bundle the SMTP server's certificate is checked against"
    )
    smtp_from: str = "notifier@schedule-platform.local"
    smtp_timeout_s: float = 10.0
    public_api_url: str = "http://127.0.0.1:8000"
    # a new recipient gets one mail, a link to confirm; nothing else until it is opened
    public_notifier_url: str = Field(
        default="http://127.0.0.1:8001", description="the notifier's API as users reach it"
    )
    email_confirm_ttl_s: float = 172800.0
    email_confirm_resend_s: float = 3600.0

    @field_validator(
        "retry_schedule_s", "allowed_networks", "allowed_ports", "cors_origins", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an exact origin such as http://127.0.0.1:8000"
                    " (scheme, host and optional port; no path, no wildcard)"
                )
        return value

    @property
    def max_attempts(self) -> int:
        return len(self.retry_schedule_s) + 1
