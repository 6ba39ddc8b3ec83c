"""The one settings object, read from GENQ_* environment variables (and .env).

The defaults are the embedded first run (SQLite, local storage, var/models);
production sets URLs for Postgres, Redis and S3. A setting whose default is no
example of a value (None, an empty list) names one in `examples`, which the CLI
shows when the variable is missing or malformed (cli/preflight.py).
"""

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_LEASE_SECONDS = 60.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GENQ_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///var/genq.db"
    # None means "no broker configured": `genq up` starts an embedded redis-server
    # and passes its URL on; `genq web` / `genq worker` refuse to start without one.
    broker_url: str | None = Field(default=None, examples=["redis://localhost:6379/0"])
    storage_url: str = "file://var/objects"
    s3_endpoint_url: str | None = Field(default=None, examples=["http://minio:9000"])
    # Where browsers reach the same S3 server, when that differs from where genq
    # does (compose: genq talks to http://minio:9000, a browser to localhost:9000).
    s3_public_endpoint_url: str | None = Field(default=None, examples=["http://127.0.0.1:9000"])
    s3_region: str = "us-east-1"
    presigned_url_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)

    # Modules of job kinds besides the built-in ones (db/kinds/), each with a
    # KIND = JobKind(...): web and worker load them at start-up (docs/design.md).
    kind_modules: list[str] = Field(default=[], examples=[["mykinds.upscale"]])

    models_dir: Path = Path("var/models")
    # Hub ids or absolute paths offered besides the directories under models_dir.
    hub_models: list[str] = Field(default=[], examples=[["stable-diffusion-v1-5/stable-diffusion-v1-5"]])
    default_model: str | None = Field(default=None, examples=["tiny-sd"])

    secret_key: str | None = Field(default=None, examples=["a-long-random-string-kept-secret"])
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    # Mark the session cookie Secure even when the request looks like plain http
    # (TLS ends at a proxy); it is always Secure on a request that arrived over https.
    session_cookie_secure: bool = False
    # Embedded mode only (`genq up` sets it): a browser on this machine, talking to
    # a loopback address, is signed in as this owner without pasting a key.
    local_signin_owner: str | None = Field(default=None, examples=["local"])

    # Limits per API key (a key may override each); counted over its owner's jobs.
    requests_per_minute: int = Field(default=300, ge=1)
    # Requests without a valid key per client address (web/address_limits.py).
    unauthenticated_requests_per_minute: int = Field(default=60, ge=1)
    # Proxies (addresses or networks) whose X-Forwarded-For names the client.
    trusted_proxies: list[str] = Field(default_factory=list, examples=[["10.0.0.0/8"]])
    max_active_jobs: int = Field(default=100, ge=1)
    # Images an owner may request per UTC day; None: no budget.
    daily_image_budget: int | None = Field(default=None, ge=1, examples=[500])

    # Caps on what one generate job may ask for.
    max_width: int = Field(default=1024, ge=64)
    max_height: int = Field(default=1024, ge=64)
    max_prompt_chars: int = Field(default=2000, ge=1)
    # LoRA adapters one generate job may apply together (at most db.kinds.generate.ADAPTER_SLOTS).
    max_adapters_per_job: int = Field(default=4, ge=1, le=8)
    max_request_bytes: int = Field(default=1 << 20, ge=1024)
    # Pixels of an upscale job's result (its input's size times its scale).
    max_upscaled_pixels: int = Field(default=4096 * 4096, ge=64 * 64)
    # JSON bodies that may carry images (data URIs in a job's params, A1111's base64 images).
    max_image_request_bytes: int = Field(default=32 << 20, ge=1024)

    # Caps on what one finetune job may ask for.
    max_train_steps: int = Field(default=5000, ge=1)
    max_train_resolution: int = Field(default=1024, ge=64)
    max_lora_rank: int = Field(default=128, ge=1)
    max_train_batch_size: int = Field(default=16, ge=1)

    # Caps on a dataset upload (POST /api/v1/datasets): files, bytes per file, bytes
    # of the whole request, and pixels per image (checked from the header, before
    # decoding, so a decompression bomb is refused without being expanded).
    max_dataset_files: int = Field(default=100, ge=1)
    max_upload_file_bytes: int = Field(default=20 << 20, ge=1024)
    max_upload_bytes: int = Field(default=200 << 20, ge=1024)
    max_image_pixels: int = Field(default=64_000_000, ge=64 * 64)

    # Caps on what one textgen job may ask for.
    max_new_tokens: int = Field(default=1024, ge=1)

    # Cap on a speech job's text (OpenAI's speech endpoint takes 4096 characters).
    max_speech_chars: int = Field(default=4096, ge=1)
    # Scoring and evaluating images (db/kinds/evaluate.py). score_model: the clip
    # model that scores (None: the first clip model installed); score_images: every
    # generate job's images get a CLIP score, as if each asked with `score: true`.
    score_model: str | None = Field(default=None, examples=["tiny-clip"])
    score_images: bool = False
    # Images of one evaluate job, its reference set counted separately.
    max_eval_images: int = Field(default=1000, ge=2)
    # FID's Inception v3 (worker/inception.py) as a safetensors file: `fid` is then
    # computed on its features, as published FIDs are; None: on the clip model's
    # image features, reported as `fid_clip`.
    fid_inception_weights: Path | None = Field(default=None, examples=["models/fid_inception.safetensors"])

    # Event streams (SSE) and the compatible calls that wait for their job cost a
    # greenlet each, not a thread (cli/webserver.py). A stream ends after this long (the
    # browser reconnects with Last-Event-ID); a web process serves at most
    # max_event_streams at once and max_compat_waits waiting calls (503 beyond): safety
    # valves, each a connection of gunicorn's worker_connections. They read the database
    # when their job's Redis signal wakes them (web/event_hub.py), and without one at
    # least every signal_recheck_seconds in case a signal was lost, or every
    # event_poll_seconds while the web's subscription to the signals is down.
    event_stream_seconds: float = Field(default=300.0, gt=0)
    max_event_streams: int = Field(default=4000, ge=1)
    signal_recheck_seconds: float = Field(default=30.0, gt=0)
    event_poll_seconds: float = Field(default=0.5, gt=0)
    # The OpenAI- and A1111-compatible endpoints (web/compat) answer once their job
    # finishes: a request waits at most this long (then a timeout error names the
    # job, which keeps running).
    compat_wait_seconds: float = Field(default=300.0, gt=0)
    max_compat_waits: int = Field(default=1000, ge=1)
    # Database connections of one web process: a request that finds none free within
    # the timeout is answered 503 database_busy (with Retry-After) rather than
    # queueing without end; streams and waits hold none while they sleep.
    web_db_pool_size: int = Field(default=20, ge=1)
    web_db_pool_timeout_seconds: float = Field(default=5.0, gt=0)

    # Webhooks. Hosts named here may be called although they resolve to private or
    # loopback addresses, and over http (tests, trusted internal receivers).
    webhook_allowed_hosts: list[str] = Field(default=[], examples=[["hooks.internal"]])
    # A failed delivery is retried after base, 2 x base, 4 x base, ... seconds.
    webhook_max_retries: int = Field(default=5, ge=0)
    webhook_retry_base_seconds: float = Field(default=10.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)

    # Worker.
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16
    pipeline_cache_size: int = Field(default=2, ge=1)
    # torch.compile the UNet of each loaded pipeline (docs/performance.md): each new
    # shape (batch rows, size) pays a compile on its first call, once per process.
    compile_unet: bool = False
    # Image models each worker child loads and runs once when it starts, so its first
    # job pays no loading, CUDA start-up or compilation (JSON list of names).
    warm_models: list[str] = Field(default=[], examples=[["tiny-sd"]])
    # Cross-job batching (docs/performance.md): at most this many images in one
    # pipeline call, from compatible jobs (db/batches.py). auto: 8 on CUDA, 1 (off)
    # elsewhere. A worker waits up to batch_window_ms for companions, and only
    # while compatible jobs are already queued (db.claims.peek_batch).
    max_batch: Annotated[int, Field(ge=1)] | Literal["auto"] = "auto"
    batch_window_ms: float = Field(default=20.0, ge=0, le=1000)
    # Encode, store and record a job's results on a thread of their own while the
    # next job runs (worker/finisher.py); auto: on CUDA only.
    finish_in_background: bool | Literal["auto"] = "auto"
    progress_interval_seconds: float = Field(default=1.0, ge=0)
    # A generate job shows a preview of its images every this many denoising steps
    # (from the latents, not by the VAE: db/job_signals.py, worker/previews.py); 0: none.
    preview_every_steps: int = Field(default=5, ge=0)
    # An AutoencoderTiny (TAESD) that decodes every image model's previews: a directory
    # or hub id. None: a model's own `taesd` folder if it has one, else the linear map.
    preview_decoder: str | None = Field(default=None, examples=["models/taesd"])
    # Hard time limit of a job; the soft limit, which fails it `time_limit`, comes a
    # little earlier (db.queue.soft_time_limit). Per kind: {"generate": 600}; a
    # training within the caps may run for hours, so finetune has 8 h by default.
    task_time_limit_seconds: int = Field(default=3600, ge=2)
    kind_time_limit_seconds: dict[str, Annotated[int, Field(ge=2)]] = {"finetune": 8 * 3600}

    # Reliability (docs/reliability.md). A running job's worker renews its lease
    # every heartbeat; a job whose lease ran out goes back to the queue, or fails
    # `worker_lost` once it has been claimed max_attempts times. A failed attempt
    # that may succeed on a retry waits retry_backoff_seconds, doubled per attempt.
    lease_seconds: float = Field(default=DEFAULT_LEASE_SECONDS, gt=0)
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    retry_backoff_seconds: float = Field(default=10.0, ge=0)
    # Every worker process, this often: put back jobs whose lease ran out, and send
    # the wake-up of every queued job whose message is resend_after_seconds overdue.
    maintenance_interval_seconds: float = Field(default=10.0, gt=0)
    resend_after_seconds: float = Field(default=30.0, gt=0)
    # Told to stop (SIGTERM), a worker claims nothing more and lets its running job
    # (or batch) finish, a training until its next checkpoint, for at most this long;
    # past it the job is put back in the queue for another worker (worker/draining.py).
    worker_drain_grace_seconds: float = Field(default=300.0, ge=0)
    # Where each `genq worker` serves its Prometheus metrics (worker/metrics.py);
    # port 0: none. `genq up` binds it to 127.0.0.1.
    worker_metrics_host: str = "0.0.0.0"
    worker_metrics_port: int = Field(default=9464, ge=0, le=65535)

    # Retention (db/retention.py), counted from when a job finished or an upload was
    # made; None keeps for ever. An owner may override each (`genq keys retention`).
    # Results: the objects of a finished job's artifacts (an adapter's weights stay
    # while the adapter does). Checkpoints: what a finished job's folder holds
    # besides its artifacts (a training's checkpoint, a lost attempt's objects).
    # Uploads: input images and datasets no queued or running job names. Jobs: the
    # rows of finished jobs (with their events), and what storage holds for them.
    result_retention_days: float | None = Field(default=None, gt=0, examples=[30])
    checkpoint_retention_hours: float | None = Field(default=24.0, ge=0)
    upload_retention_days: float | None = Field(default=None, gt=0, examples=[7])
    job_retention_days: float | None = Field(default=None, gt=0, examples=[90])
    # The sweep, in the maintenance round of one worker at a time: at most this many
    # jobs, uploads or datasets per stage and round.
    retention_batch_size: int = Field(default=100, ge=1)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ValueError(f"{proxy!r} is not an IP address or network") from None
        return proxies

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> "Settings":
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError(
                "GENQ_HEARTBEAT_SECONDS must be shorter than GENQ_LEASE_SECONDS"
                f" (e.g. GENQ_HEARTBEAT_SECONDS=15 with GENQ_LEASE_SECONDS={DEFAULT_LEASE_SECONDS:g})"
            )
        return self

    def max_batch_images(self, device_type: str) -> int:
        """max_batch with auto resolved for a torch device type ("cuda", "cpu", "mps"):
        batches of up to 8 on CUDA (docs/performance.md says why); none on a CPU or
        an Apple GPU, already busy at batch 1, where a batch only makes jobs wait."""
        if self.max_batch == "auto":
            return 8 if device_type == "cuda" else 1
        return self.max_batch

    def finishes_in_background(self, device_type: str) -> bool:
        """finish_in_background with auto resolved: on CUDA, where the GPU would idle
        while the CPU encodes and uploads; not on a CPU, whose cores do both anyway."""
        if self.finish_in_background == "auto":
            return device_type == "cuda"
        return self.finish_in_background

    def time_limit_for(self, kind: str) -> int:
        return self.kind_time_limit_seconds.get(kind, self.task_time_limit_seconds)

    @property
    def broker_visibility_timeout(self) -> int:
        # Redis redelivers an unacked message after this long; it must outlast
        # the longest job or a running job would be delivered a second time.
        return max([self.task_time_limit_seconds, *self.kind_time_limit_seconds.values()]) + 600


@lru_cache
def get_settings() -> Settings:
    return Settings()
