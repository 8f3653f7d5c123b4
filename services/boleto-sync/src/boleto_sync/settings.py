"""``BOLETO_*``: where the api and the worker listen, the bank, its limits, the sync's pace."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class BoletoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOLETO_", extra="ignore")

    port: int = 8002
    ops_port: int = 9003
    prefetch: int = 5  # charges issued, and PDFs synced, at once by one worker
    inter_base_url: str = "https://cdpj.partners.bancointer.com.br"
    inter_client_id: str = ""
    inter_client_secret: str = Field(default="", repr=False)
    inter_scope: str = "boleto-cobranca.read boleto-cobranca.write"
    inter_cert_file: str | None = None
    inter_key_file: str | None = None
    inter_ca_file: str | None = None
    inter_account: str | None = None
    inter_timeout_s: float = 15.0
    # the bank's published production limits, per minute and endpoint group
    limit_issue: int = 120
    limit_get: int = 120
    limit_list: int = 120
    limit_pdf: int = 120
    limit_cancel: int = 120
    limit_token: int = 5
    limit_webhook: int = 5
    limit_summary: int = 120  # the bank's limit on its summary of charges by situacao
    limit_callbacks: int = 5  # the bank's limit on its callback history (as webhook)
    limit_window_s: float = 60.0
    limit_utilisation: float = Field(default=0.97, gt=0, le=1)
    # a paid conversion's charge: days after its due date the bank still takes payment before
    # it expires the charge (numDiasAgenda; 30 gives a late payer a month, the bank allows 60)
    payment_agenda_days: int = Field(default=30, ge=0, le=60)
    processing_poll_s: float = 2.0
    processing_timeout_s: float = 300.0
    webhook_url: str | None = None  # where the bank sends callbacks; registered at worker start
    webhook_token: str | None = Field(default=None, repr=False)  # required in production
    # how often the worker reconciles with the bank (lost issues, missed callbacks, summary)
    reconcile_interval_s: float = Field(default=900.0, gt=0)
