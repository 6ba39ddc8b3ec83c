"""The event stream on the production shape: `genq web` (gunicorn, gevent) streams
a job's events live while a real worker runs it, until `done`."""

import base64
import io

import requests
from PIL import Image

from tests.support.http import download_image, submit
from tests.support.sse import parse_events


def test_a_live_stream_sees_the_job_run_to_done(platform):
    job = submit(platform, {"prompt": "a lighthouse at night", "width": 64, "height": 64, "steps": 30, "seed": 5})

    with requests.get(
        f"{platform}/api/v1/jobs/{job['id']}/events", headers=platform.headers, stream=True, timeout=60
    ) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = list(parse_events(response.iter_lines(decode_unicode=True)))

    types = [event.type for event in events if event.type not in ("queue", "preview")]
    assert types[:2] == ["status", "status"] and types[-3:] == ["artifacts", "status", "done"]
    assert [event.data["status"] for event in events if event.type == "status"] == ["queued", "running", "succeeded"]
    # At most one progress write per interval, none forced at the last step: the
    # finish records the job's progress as complete.
    steps = [event.data["step"] for event in events if event.type == "progress"]
    assert steps == sorted(steps) and all(1 <= step <= 30 for step in steps)
    done = requests.get(f"{platform}/api/v1/jobs/{job['id']}", headers=platform.headers, timeout=10).json()
    assert done["progress"] == {"step": 30, "total": 30, "fraction": 1.0}
    assert events[-1].data == {"status": "succeeded"}
    # Stored events carry their ids, in order; `queue` events and a `running` told
    # from the row before the attempt wrote its own (db/events.py) carry none.
    ids = [event.id for event in events if event.id is not None]
    assert ids == sorted(ids)
    assert all(
        event.type in ("queue", "preview") or event.data["status"] == "running" for event in events if event.id is None
    )
    [artifact] = next(event for event in events if event.type == "artifacts").data["artifacts"]
    assert download_image(platform, artifact).size == (64, 64)


def test_a_live_stream_shows_previews_while_the_job_denoises(platform):
    # 256 x 256: slow enough on the tiny model for the stream to be open before step 5.
    job = submit(platform, {"prompt": "a lighthouse at night", "width": 256, "height": 256, "steps": 20, "seed": 6})

    with requests.get(
        f"{platform}/api/v1/jobs/{job['id']}/events", headers=platform.headers, stream=True, timeout=60
    ) as response:
        events = list(parse_events(response.iter_lines(decode_unicode=True)))

    previews = [event for event in events if event.type == "preview"]
    # Every GENQ_PREVIEW_EVERY_STEPS (5), not at the last step, live (no id), before the images.
    assert [(event.data["index"], event.data["step"], event.data["total"]) for event in previews] == [
        (0, 5, 20),
        (0, 10, 20),
        (0, 15, 20),
    ]
    assert all(event.id is None for event in previews)
    first_artifacts = next(index for index, event in enumerate(events) if event.type == "artifacts")
    assert max(index for index, event in enumerate(events) if event.type == "preview") < first_artifacts
    for event in previews:
        header, _, data = event.data["image"].partition(",")
        assert header == "data:image/webp;base64"
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert (image.format, image.size) == ("WEBP", (256, 256))


def test_a_job_canceled_mid_run_streams_no_preview_after_the_cancel(platform):
    # 60 steps at 256 x 256: previews every 5 steps, a quarter of a second or so apart.
    job = submit(platform, {"prompt": "a lighthouse at night", "width": 256, "height": 256, "steps": 60, "seed": 7})

    with requests.get(
        f"{platform}/api/v1/jobs/{job['id']}/events", headers=platform.headers, stream=True, timeout=60
    ) as response:
        events = parse_events(response.iter_lines(decode_unicode=True))
        before = []
        for event in events:
            before.append(event)
            if event.type == "preview":
                break
        cancel = requests.post(f"{platform}/api/v1/jobs/{job['id']}/cancel", headers=platform.headers, timeout=10)
        after = list(events)

    assert before[-1].data["step"] < 60, "the job finished before a preview came"
    assert cancel.status_code == 202, cancel.text
    assert [event.type for event in after if event.type == "preview"] == []
    assert [event.data["status"] for event in after if event.type == "status"][-1] == "canceled"
    assert after[-1].type == "done"
