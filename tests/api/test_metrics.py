"""/metrics: Prometheus text with the active queue as the database holds it, for
scrapers and autoscalers; open like /healthz, and free of prompts and ids."""

from prometheus_client.parser import text_string_to_metric_families


def samples(response) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def test_metrics_count_active_jobs_and_the_oldest_wait(anonymous_client, make_job):
    for _ in range(2):
        make_job("queued", prompt="a secret prompt")
    make_job("running")
    make_job("succeeded")

    response = anonymous_client.get("/metrics")

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    values = samples(response)
    assert values[("genq_jobs", (("kind", "generate"), ("status", "queued")))] == 2
    assert values[("genq_jobs", (("kind", "generate"), ("status", "running")))] == 1
    assert not any(labels == (("kind", "generate"), ("status", "succeeded")) for _, labels in values)
    assert values[("genq_oldest_queued_job_age_seconds", (("kind", "generate"),))] >= 0
    assert "secret prompt" not in response.get_data(as_text=True)


def test_an_empty_queue_has_no_waiting_age(anonymous_client):
    values = samples(anonymous_client.get("/metrics"))
    assert not any(name == "genq_oldest_queued_job_age_seconds" for name, _ in values)
