"""The upload service's own settings (``UPLOAD_*``); the infrastructure's are shared."""

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
