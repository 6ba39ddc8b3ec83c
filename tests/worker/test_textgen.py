"""The textgen executor on the tiny text model: reproducible seeds, greedy decoding,
max_new_tokens, stop strings, several outputs, streamed text and cancel, run
in-process; then a textgen job through the runner against the real services."""

import uuid

import pytest
from sqlalchemy import select

from db.events import TEXT
from db.job_json import job_json
from db.jobs import LOCAL_OWNER, create_job, get_job
from db.kinds.textgen import TextgenSpec
from db.models import JobEvent
from db.session import make_session_factory
from tests.worker.cancels import run_and_cancel
from tests.worker.contexts import LocalJobContext
from worker.executors import ArtifactOutput, JobInput
from worker.executors.textgen import run_textgen
from worker.progress import JobCanceled
from worker.runner import JobRunner
from worker.text_models import TextModelCache

TINY_TEXT_MODEL = "tiny-text"  # the name tests/conftest.py's models_dir builds it under
PROMPT = "Once upon a time"


@pytest.fixture(scope="module")
def text_models(model_settings) -> TextModelCache:
    return TextModelCache(model_settings)


def textgen(text_models, context=None, **params) -> list[ArtifactOutput]:
    context = context or LocalJobContext(None, text_models=text_models)
    params = {"prompt": PROMPT, "max_new_tokens": 16, "seed": 7, **params}
    return run_textgen(JobInput(uuid.uuid4(), TINY_TEXT_MODEL, params), context)


def texts(outputs: list[ArtifactOutput]) -> list[str]:
    return [output.encoded().decode("utf-8") for output in outputs]


def test_same_seed_gives_the_same_text(text_models):
    assert texts(textgen(text_models, seed=11)) == texts(textgen(text_models, seed=11))


def test_another_seed_gives_another_text(text_models):
    assert texts(textgen(text_models, seed=11)) != texts(textgen(text_models, seed=12))


def test_temperature_zero_is_greedy_whatever_the_seed(text_models):
    assert texts(textgen(text_models, temperature=0, seed=1)) == texts(textgen(text_models, temperature=0, seed=2))


def test_max_new_tokens_is_honoured(text_models):
    steps = []
    context = LocalJobContext(None, lambda step, total: steps.append((step, total)), text_models=text_models)
    [output] = textgen(text_models, context, max_new_tokens=5)

    # The tiny tokenizer has one byte per token: at most one character each.
    assert 0 < len(output.encoded().decode("utf-8")) <= 5
    assert steps[-1][0] <= 5 and {total for _, total in steps} == {5}


def test_outputs_are_utf8_text_artifacts_one_per_sequence(text_models):
    outputs = textgen(text_models, num_return_sequences=3)

    assert [output.index for output in outputs] == [0, 1, 2]
    assert {(o.kind, o.content_type, o.extension) for o in outputs} == {("text", "text/plain; charset=utf-8", "txt")}
    assert len(set(texts(outputs))) == 3  # sampled apart


def test_a_stop_string_cuts_the_text(text_models):
    [full] = texts(textgen(text_models, temperature=0, max_new_tokens=24))
    stop = full[10:12]

    [cut] = texts(textgen(text_models, temperature=0, max_new_tokens=24, stop=[stop]))

    assert cut == full[: full.index(stop)]


def test_each_output_says_why_it_ended_and_what_it_counted(text_models):
    tokenizer = text_models.get(TINY_TEXT_MODEL).tokenizer
    prompt_tokens = len(tokenizer(PROMPT).input_ids)
    [full] = textgen(text_models, temperature=0, max_new_tokens=12)
    text = full.encoded().decode("utf-8")

    assert full.usage.finish_reason == "length"
    assert (full.usage.prompt_tokens, full.usage.completion_tokens) == (prompt_tokens, 12)

    [cut] = textgen(text_models, temperature=0, max_new_tokens=12, stop=[text[6:8]])
    kept = cut.encoded().decode("utf-8")
    assert kept == text[: text.index(text[6:8])]
    assert cut.usage.finish_reason == "stop"
    # Generated until the stop string was complete: the text kept and the stop string.
    assert len(tokenizer(kept, add_special_tokens=False).input_ids) < cut.usage.completion_tokens < 12


def test_text_is_reported_as_it_grows(text_models):
    reported = []
    context = LocalJobContext(None, text_models=text_models)
    context.report_text = lambda index, text: reported.append((index, text))
    [output] = textgen(text_models, context, max_new_tokens=12)

    final = output.encoded().decode("utf-8")
    assert len(reported) > 1
    assert all(index == 0 and final.startswith(text) for index, text in reported)


def test_a_cancel_stops_generation_within_one_token(text_models):
    steps = []

    def cancel_at_third_token(step: int, total: int) -> None:
        steps.append(step)
        if step == 3:
            raise JobCanceled(step)

    context = LocalJobContext(None, cancel_at_third_token, text_models=text_models)
    with pytest.raises(JobCanceled):
        textgen(text_models, context, max_new_tokens=64)

    assert steps == [1, 2, 3]


def test_a_textgen_job_stores_its_text_and_returns_it_in_the_job_json(settings, s3_endpoint):
    sessions = make_session_factory(settings.database_url)
    params = TextgenSpec(prompt=PROMPT, max_new_tokens=8, seed=5).model_dump(mode="json")
    with sessions.begin() as session:
        job_id = create_job(session, owner=LOCAL_OWNER, kind="textgen", model=TINY_TEXT_MODEL, params=params).id

    runner = JobRunner(settings.model_copy(update={"progress_interval_seconds": 0}))
    assert runner.run(job_id) == "succeeded"

    with sessions() as session:
        job = get_job(session, job_id, owner=None)
        [artifact] = job_json(session, job, lambda artifact: "url")["artifacts"]
        text_events = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.type == TEXT)).all()
    stored = runner.storage.get(job.artifacts[0].storage_key).decode("utf-8")
    assert artifact["text"] == stored and stored
    assert artifact["content_type"] == "text/plain; charset=utf-8"
    assert artifact["finish_reason"] in ("stop", "length")
    assert artifact["usage"]["prompt_tokens"] > 0 and 0 < artifact["usage"]["completion_tokens"] <= 8
    assert text_events and all(stored.startswith(event.data["text"]) for event in text_events)
    sessions.kw["bind"].dispose()


def test_a_running_textgen_job_is_canceled_between_tokens(settings):
    # One progress write an hour: only the per-token check (Redis) can stop it early.
    settings = settings.model_copy(update={"progress_interval_seconds": 3600})
    sessions = make_session_factory(settings.database_url)
    params = TextgenSpec(prompt=PROMPT, max_new_tokens=1024, seed=5).model_dump(mode="json")
    with sessions.begin() as session:
        job_id = create_job(session, owner=LOCAL_OWNER, kind="textgen", model=TINY_TEXT_MODEL, params=params).id
    runner = JobRunner(settings)
    runner.text_models.get(TINY_TEXT_MODEL)  # loaded first, so the cancel lands mid-generation
    outcome = run_and_cancel(settings, runner, job_id)

    assert outcome == ["canceled"]
    with sessions() as session:
        job = get_job(session, job_id, owner=None)
    assert job.status == "canceled" and job.artifacts == [] and job.progress_step < 1024
    sessions.kw["bind"].dispose()
