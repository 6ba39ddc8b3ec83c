"""The `genq` command: `up` for the one-command first run, and the pieces one at a
time (`web`, `worker`, `webhooks`, `migrate`, `models`, `keys`) for production. Heavy modules are
imported inside the commands that need them, so `genq web` never loads torch. Each
command first checks what it relies on (cli/preflight.py): a misconfiguration is
one line and exit status 2, not a traceback from inside a server."""

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.keys import keys
from cli.metrics_dir import multiprocess_metrics
from cli.preflight import Misconfigured, checked_settings
from cli.queue import queue
from db.kinds import job_queues

if TYPE_CHECKING:
    from celery import Celery

# Celery's node name of `genq webhooks` (%h: the host's name), apart from the job workers'.
WEBHOOKS_NODE_NAME = "webhooks@%h"


@click.group()
def main() -> None:
    """genq: a job queue for generative AI."""


@main.command()
@click.option("--host", default=None, help="Address the web server binds (GENQ_WEB_HOST).")
@click.option("--port", default=None, type=int, help="Port of the web server (GENQ_WEB_PORT).")
def up(host: str | None, port: int | None) -> None:
    """Run everything on this machine: migrations, embedded Redis, the tiny models, web, one worker and
    the webhook sender."""
    from cli.embedded import run_embedded

    settings = checked_settings(database="reachable", broker="if set", kind_modules=True, storage=True)
    raise SystemExit(run_embedded(settings, host or settings.web_host, port or settings.web_port))


@main.command()
@click.option("--host", default=None, help="Address to bind (GENQ_WEB_HOST).")
@click.option("--port", default=None, type=int, help="Port (GENQ_WEB_PORT).")
@click.option("--workers", default=2, show_default=True, help="gunicorn worker processes (gevent: one per core).")
def web(host: str | None, port: int | None, workers: int) -> None:
    """Serve the web form and the JSON API with gunicorn's gevent workers."""
    with multiprocess_metrics("web"):
        from cli.webserver import make_io_cooperative, serve

        make_io_cooperative()  # before the checks import psycopg and redis
        settings = checked_settings(database="migrated", broker="needed", kind_modules=True, storage=True)
        serve(settings, host or settings.web_host, port or settings.web_port, workers)


@main.command()
@click.option(
    "--queues",
    default=None,
    help="Comma-separated queues this worker takes jobs from; default: every job kind's (built-in and"
    " GENQ_KIND_MODULES).",
)
@click.option("--concurrency", default=1, show_default=True, help="Jobs run at once (one per GPU).")
@click.option("--loglevel", default="INFO", show_default=True, help="Celery's log level (DEBUG, INFO, WARNING).")
def worker(queues: str | None, concurrency: int, loglevel: str) -> None:
    """Run a Celery worker that executes jobs (needs torch and diffusers), with its
    metrics at GENQ_WORKER_METRICS_HOST:GENQ_WORKER_METRICS_PORT."""
    with multiprocess_metrics("worker"):
        from worker.celery_app import create_celery

        settings = checked_settings(database="migrated", broker="needed", kind_modules=True, storage=True)
        queues = queues or ",".join(job_queues())
        if settings.worker_metrics_port:
            _serve_worker_metrics(settings.worker_metrics_host, settings.worker_metrics_port)
        # prefork: a job's hard time limit kills its child, and a crash takes only the child.
        celery = create_celery(settings, served_queues=queues.split(","))
        _run_celery_worker(celery, queues, concurrency, loglevel, pool="prefork")


def _serve_worker_metrics(host: str, port: int) -> None:
    from worker.metrics import serve_worker_metrics

    try:
        serve_worker_metrics(host, port)
    except OSError as error:
        raise Misconfigured(
            f"the worker cannot serve its metrics at {host}:{port} ({error.strerror}): set GENQ_WORKER_METRICS_PORT"
            " to a free port, or to 0 for none"
        ) from None


@main.command()
@click.option("--concurrency", default=4, show_default=True, help="Deliveries sent at once.")
@click.option("--loglevel", default="INFO", show_default=True, help="Celery's log level (DEBUG, INFO, WARNING).")
def webhooks(concurrency: int, loglevel: str) -> None:
    """Deliver webhooks (the webhooks queue), apart from the job workers, so that a
    delivery never waits behind the job it reports on (needs no GPU)."""
    from db.webhooks import WEBHOOKS_QUEUE
    from worker.celery_app import create_webhooks_celery

    # threads: a delivery waits on the network, and the job workers' per-child
    # maintenance and model warm-up (prefork only) do not run here.
    celery = create_webhooks_celery(checked_settings(database="migrated", broker="needed", storage=True))
    _run_celery_worker(celery, WEBHOOKS_QUEUE, concurrency, loglevel, pool="threads", node_name=WEBHOOKS_NODE_NAME)


def _run_celery_worker(
    celery: "Celery", queues: str, concurrency: int, loglevel: str, *, pool: str, node_name: str | None = None
) -> None:
    celery.worker_main(
        [
            "worker",
            *([f"--hostname={node_name}"] if node_name else []),
            f"--queues={queues}",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
            f"--pool={pool}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@main.command()
def migrate() -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    from migrations import upgrade_to_head

    upgrade_to_head(checked_settings(database="reachable").database_url)
    click.echo("database is up to date")


main.add_command(keys)
main.add_command(queue)


@main.group()
def models() -> None:
    """List models, or build the tiny offline ones (image, text, upscaler, speech, clip, FID's Inception) or a benchmark one."""


@models.command("list")
def models_list() -> None:
    """The models jobs may name."""
    from db.registry import list_models

    for entry in list_models(checked_settings()):
        click.echo(f"{entry.name}\t{entry.kind}\t{entry.origin}\t{entry.source}")


@models.command("build-tiny")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--inpainting", is_flag=True, help="A 9-channel UNet, as SD inpainting checkpoints have.")
@click.option("--taesd", is_flag=True, help="Also a tiny AutoencoderTiny in DIRECTORY/taesd, for live previews.")
def models_build_tiny(directory: str, inpainting: bool, taesd: bool) -> None:
    """Write a tiny Stable-Diffusion-shaped pipeline with random weights to DIRECTORY."""
    from worker.pipelines import PREVIEW_DECODER_FOLDER
    from worker.tiny_models import build_tiny_sd, build_tiny_taesd

    build_tiny_sd(directory, inpainting=inpainting)
    if taesd:
        build_tiny_taesd(Path(directory) / PREVIEW_DECODER_FOLDER)
    click.echo(f"tiny model written to {directory}")


@models.command("build-tiny-text")
@click.argument("directory", type=click.Path(file_okay=False))
def models_build_tiny_text(directory: str) -> None:
    """Write a tiny GPT-2-shaped text model with random weights and its tokenizer to DIRECTORY."""
    from worker.tiny_text_models import build_tiny_gpt2

    build_tiny_gpt2(directory)
    click.echo(f"tiny text model written to {directory}")


@models.command("build-tiny-upscaler")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--latent", is_flag=True, help="The x2 latent upscaler (StableDiffusionLatentUpscalePipeline).")
def models_build_tiny_upscaler(directory: str, latent: bool) -> None:
    """Write a tiny x4 upscaler (StableDiffusionUpscalePipeline) with random weights to DIRECTORY."""
    from worker.tiny_models import build_tiny_latent_upscaler, build_tiny_upscaler

    (build_tiny_latent_upscaler if latent else build_tiny_upscaler)(directory)
    click.echo(f"tiny upscaler written to {directory}")


@models.command("build-tiny-speech")
@click.argument("directory", type=click.Path(file_okay=False))
def models_build_tiny_speech(directory: str) -> None:
    """Write a tiny VITS text-to-speech model with random weights and its character tokenizer to DIRECTORY."""
    from worker.tiny_speech_models import build_tiny_vits

    build_tiny_vits(directory)
    click.echo(f"tiny speech model written to {directory}")


@models.command("build-tiny-clip")
@click.argument("directory", type=click.Path(file_okay=False))
def models_build_tiny_clip(directory: str) -> None:
    """Write a tiny CLIP model (text and vision towers) with random weights and its processor to DIRECTORY."""
    from worker.tiny_clip_models import build_tiny_clip

    build_tiny_clip(directory)
    click.echo(f"tiny clip model written to {directory}")


@models.command("build-random-inception")
@click.argument("file", type=click.Path(dir_okay=False))
def models_build_random_inception(file: str) -> None:
    """Write FID's Inception v3 with random weights (the published architecture, ~90 MB) to FILE,
    a safetensors file for GENQ_FID_INCEPTION_WEIGHTS: `fid` works offline, its figures mean nothing."""
    from worker.inception import build_random_fid_inception

    build_random_fid_inception(file)
    click.echo(f"FID's Inception v3 with random weights written to {file}")


@models.command("build-reference")
@click.argument("name", type=click.Choice(["sd15", "sdxl"]))
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--device", default="cpu", show_default=True, help="where the weights are initialised, e.g. cuda")
def models_build_reference(name: str, directory: str, device: str) -> None:
    """Write SD 1.5 or SDXL (published architecture, random weights, float16) to
    DIRECTORY, for benchmarks (docs/performance.md); needs ~4 GB (sd15) or ~14 GB (sdxl) of memory."""
    from worker.reference_models import build_reference

    build_reference(name, directory, device=device)
    click.echo(f"{name} with random weights written to {directory}")
