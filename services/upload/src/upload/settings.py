from pydantic_settings import BaseSettings, SettingsConfigDict


class UploadSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPLOAD_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    ops_port: int = 9001
    max_upload_bytes: int = 100 * 1024 * 1024
    max_field_bytes: int = 4096
    list_max_limit: int = 200
    retention_sweep_seconds: float = 60.0
    prefetch: int = 64
