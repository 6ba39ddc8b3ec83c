"""A job's page shows what the job measured: a training job's validation CLIP
scores (base model and adapter) next to its loss curve, an evaluation's figures,
a scored image's CLIP score."""

import pytest

from db import jobs


@pytest.fixture
def finished_job(session, owner):
    """A job of this kind committed as succeeded with this result, as the worker records it."""

    def make(kind: str, model: str, params: dict, result: dict | None, artifacts=()) -> str:
        job = jobs.create_job(session, owner=owner, kind=kind, model=model, params=params)
        session.commit()
        claimed = jobs.claim_job(session, job.id, worker_id="test-worker")
        assert jobs.finish_job(session, job.id, claimed.attempt, list(artifacts), result=result)
        session.commit()
        return str(job.id)

    return make


def test_a_training_jobs_page_shows_both_validation_scores_by_the_loss_curve(client, finished_job):
    params = {"instance_prompt": "a photo of sks dog", "validation_prompt": "sks dog on a beach"}
    result = {"validation": {"clip_score_base": 21.25, "clip_score_adapter": 27.5}}
    job_id = finished_job("finetune", "tiny-sd", params, result)

    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)

    chart = html[html.index('class="loss-chart"') : html.index("</figure>", html.index('class="loss-chart"'))]
    assert 'id="validation-scores"' in chart
    assert '<span class="clip-score-base">21.25</span>' in chart
    assert '<span class="clip-score-adapter">27.50</span>' in chart


def test_an_evaluations_page_shows_its_figures(client, finished_job, make_job):
    images = make_job("succeeded", images=2)
    params = {"images": {"job_ids": [str(images.id)]}, "metrics": ["clip_score", "fid"]}
    result = {
        "n_images": 2,
        "n_reference": 3,
        "clip_score": {"mean": 9.6, "std": 0.5, "per_image": [9.1, 10.1]},
        "fid_clip": 0.65,
    }
    job_id = finished_job("evaluate", "tiny-clip", params, result)

    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)

    assert 'id="evaluation"' in html
    assert '<dd class="clip-score">9.60 ± 0.50</dd>' in html
    assert '<dd class="fid-clip">0.65</dd>' in html
    assert "(reference: 3)" in html
    assert client.get(f"/api/v1/jobs/{job_id}").json["result"] == result


def test_a_scored_images_card_shows_its_clip_score(client, finished_job):
    image = jobs.NewArtifact(
        index=0,
        kind="image",
        storage_key="jobs/x/1/0.png",
        content_type="image/png",
        bytes=1,
        sha256="0" * 64,
        width=64,
        height=64,
        seed=3,
        clip_score=12.345,
    )
    job_id = finished_job("generate", "tiny-sd", {"prompt": "a fox", "score": True}, None, [image])

    html = client.get(f"/jobs/{job_id}").get_data(as_text=True)

    assert 'CLIP score <span class="clip-score">12.35</span>' in html
    assert client.get(f"/api/v1/jobs/{job_id}").json["artifacts"][0]["clip_score"] == 12.345
