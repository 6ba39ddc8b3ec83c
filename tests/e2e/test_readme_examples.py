"""The README's shell examples, run as a reader would run them: every fenced block
of curl commands, against a live web and worker, from a directory holding
var/local_api_key and the files the examples upload. The placeholders a reader
fills in (a job id, an upload id, a dataset id, their webhook receiver) get real
values; every request must answer 2xx (curl --fail-with-body)."""

import io
import re
import subprocess
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.support.http import ApiUrl, submit, wait_until_finished
from tests.support.processes import REPO_ROOT
from tests.support.training import training_pngs
from tests.support.uploads import image_bytes

README = (REPO_ROOT / "README.md").read_text()
README_URL = "http://127.0.0.1:8000"
FENCED = re.compile(r"^( *)```\w*\n(.*?)^\1```", re.S | re.M)
# The banner `genq up` prints (its curl line is run by tests/e2e/test_embedded.py).
BANNER = "genq is running: "
# Every request must succeed, and none may hang.
PREAMBLE = 'set -e\ncurl() { command curl --fail-with-body --show-error --max-time 300 "$@"; }\n'
UNFINISHED = ("queued", "running")


def shell_examples() -> list[str]:
    blocks = [block for _indent, block in FENCED.findall(README) if re.search(r"^\s*curl ", block, re.M)]
    examples = [block for block in blocks if BANNER not in block]
    assert len(blocks) - len(examples) == 1, "a block with curl that is neither an example nor the banner"
    return examples


EXAMPLES = shell_examples()


@pytest.fixture
def reader_directory(tmp_path: Path, platform: ApiUrl) -> Path:
    """What a reader has where they run the examples: the key genq up wrote, and their images."""
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "local_api_key").write_text(platform.key + "\n")
    (tmp_path / "photo.jpg").write_bytes(image_bytes((96, 72), format="JPEG"))
    (tmp_path / "photo.png").write_bytes(image_bytes((96, 72)))
    (tmp_path / "mask.png").write_bytes(transparent_centre_mask((96, 72)))
    (tmp_path / "sea.png").write_bytes(image_bytes((64, 64)))
    (tmp_path / "sunset.png").write_bytes(image_bytes((64, 48)))
    first, second = training_pngs(2)
    (tmp_path / "dog1.png").write_bytes(first)
    (tmp_path / "dog1.txt").write_text("a photo of sks dog on grass")
    (tmp_path / "dog2.jpg").write_bytes(image_bytes((96, 72), format="JPEG"))
    return tmp_path


def transparent_centre_mask(size: tuple[int, int]) -> bytes:
    """An RGBA mask whose fully transparent centre OpenAI's edits repaint."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()


def _finished_job(platform: ApiUrl, images: int = 1) -> dict:
    params = {"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 2, "num_images": images}
    job = wait_until_finished(platform, submit(platform, params)["id"])
    assert job["status"] == "succeeded"
    return job


def _upload(platform: ApiUrl, path: Path) -> str:
    with open(path, "rb") as image:
        uploaded = requests.post(
            f"{platform}/api/v1/uploads", files={"file": image}, headers=platform.headers, timeout=30
        )
    assert uploaded.status_code == 201, uploaded.text
    return uploaded.json()["id"]


def placeholders(platform: ApiUrl, directory: Path) -> dict[str, str]:
    """Each placeholder of the README's examples, and what a reader would put there."""
    # Two images: the evaluation's FID example needs a set of two at least.
    job, deletable = _finished_job(platform, images=2), _finished_job(platform)
    files = [("files", ("dog1.png", (directory / "dog1.png").read_bytes(), "image/png"))]
    dataset = requests.post(f"{platform}/api/v1/datasets", files=files, headers=platform.headers, timeout=30)
    assert dataset.status_code == 201
    return {
        README_URL: str(platform),
        "<id>": job["id"],
        "<finished job id>": deletable["id"],
        "6f1c...": _upload(platform, directory / "photo.jpg"),
        "<upload id>": _upload(platform, directory / "photo.jpg"),
        "4aa54014-...": _upload(platform, directory / "sea.png"),
        "43f7b4c8-...": _upload(platform, directory / "sunset.png"),
        "<dataset id>": dataset.json()["id"],
        # A receiver of their own; this one is on loopback, allowlisted in the test settings.
        "https://example.com/hooks/genq": "http://127.0.0.1:9/hooks/genq",
    }


def cancel_unfinished(platform: ApiUrl) -> None:
    """The session-wide worker must not stay busy with the examples' jobs (a training)."""
    listed = requests.get(f"{platform}/api/v1/jobs?limit=100", headers=platform.headers, timeout=30).json()["jobs"]
    for job in listed:
        if job["status"] in UNFINISHED:
            requests.post(f"{platform}/api/v1/jobs/{job['id']}/cancel", headers=platform.headers, timeout=30)
    for job in listed:
        if job["status"] in UNFINISHED:
            wait_until_finished(platform, job["id"], timeout=180)


def test_every_shell_example_of_the_readme_succeeds(platform, reader_directory):
    filled = placeholders(platform, reader_directory)
    try:
        for example in EXAMPLES:
            script = example
            for placeholder, value in filled.items():
                script = script.replace(placeholder, value)
            commands = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
            assert not re.search(r"<[a-z ]+>", commands), f"a placeholder with no value in:\n{example}"
            ran = subprocess.run(
                ["bash", "-c", PREAMBLE + script],
                cwd=reader_directory,
                env={"PATH": "/usr/bin:/bin", "KEY": platform.key},
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert ran.returncode == 0, f"{example}\nfailed ({ran.returncode}): {ran.stderr}{ran.stdout[-2000:]}"
            assert ran.stdout.strip(), f"no answer from:\n{example}"
    finally:
        cancel_unfinished(platform)
