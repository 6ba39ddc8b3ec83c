"""The one settings object, read from GENQ_* environment variables (and .env).

The defaults are the embedded first run (SQLite, local storage, var/models);
production sets URLs for Postgres, Redis and S3.
"""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GENQ_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///var/genq.db"
    # None means "no broker configured": `genq up` starts an embedded redis-server
    # and passes its URL on; `genq web` / `genq worker` refuse to start without one.
    broker_url: str | None = None
    storage_url: str = "file://var/objects"
    s3_endpoint_url: str | None = None
    # Where browsers reach the same S3 server, when that differs from where genq
    # does (compose: genq talks to http://minio:9000, a browser to localhost:9000).
    s3_public_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    presigned_url_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)

    models_dir: Path = Path("var/models")
    # Hub ids or absolute paths offered besides the directories under models_dir.
    hub_models: list[str] = []
    default_model: str | None = None

    secret_key: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 8000

    # Caps on what one generate job may ask for.
    max_width: int = Field(default=1024, ge=64)
    max_height: int = Field(default=1024, ge=64)
    max_prompt_chars: int = Field(default=2000, ge=1)
    max_request_bytes: int = Field(default=1 << 20, ge=1024)

    # Worker.
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16
    pipeline_cache_size: int = Field(default=2, ge=1)
    progress_interval_seconds: float = Field(default=1.0, ge=0)
    task_time_limit_seconds: int = Field(default=3600, ge=10)

    @property
    def broker_visibility_timeout(self) -> int:
        # Redis redelivers an unacked message after this long; it must outlast
        # the longest job or a running job would be delivered a second time.
        return self.task_time_limit_seconds + 600


@lru_cache
def get_settings() -> Settings:
    return Settings()
