"""The speech executor on the tiny VITS: reproducible seeds, decodable WAV and FLAC
of the stated sample rate and duration, the speaking rate, progress by sentences
and cancel, run in-process; then speech jobs through the runner against the real
services (the audio artifact in storage and in the job's JSON, a cancel)."""

import io
import uuid

import numpy as np
import pytest
import soundfile

from db.job_json import job_json
from db.jobs import LOCAL_OWNER, create_job, get_job
from db.kinds.speech import SpeechSpec, split_sentences
from db.session import make_session_factory
from tests.worker.cancels import run_and_cancel
from tests.worker.contexts import LocalJobContext
from worker.executors import ArtifactOutput, JobInput
from worker.executors.speech import run_speech
from worker.failures import JobFailure
from worker.progress import JobCanceled
from worker.runner import JobRunner
from worker.speech_models import SpeechModelCache
from worker.tiny_speech_models import SAMPLE_RATE

TINY_SPEECH_MODEL = "tiny-speech"  # the name tests/conftest.py's models_dir builds it under
TEXT = "Hello there. How are you today? I am fine!"
# A text long enough to be spoken for seconds by the tiny model.
SENTENCES = 300


@pytest.fixture(scope="module")
def speech_models(model_settings) -> SpeechModelCache:
    return SpeechModelCache(model_settings)


def speech(speech_models, context=None, **params) -> ArtifactOutput:
    context = context or LocalJobContext(None, speech_models=speech_models)
    [output] = run_speech(JobInput(uuid.uuid4(), TINY_SPEECH_MODEL, {"text": TEXT, "seed": 7, **params}), context)
    return output


def decoded(output: ArtifactOutput) -> tuple[np.ndarray, int]:
    samples, sample_rate = soundfile.read(io.BytesIO(output.encoded()), dtype="int16")
    return samples, sample_rate


def test_same_seed_gives_identical_samples_and_bytes(speech_models):
    first, again = speech(speech_models, seed=11), speech(speech_models, seed=11)

    assert np.array_equal(decoded(first)[0], decoded(again)[0])
    assert first.encoded() == again.encoded()


def test_another_seed_gives_other_samples(speech_models):
    assert not np.array_equal(decoded(speech(speech_models, seed=11))[0], decoded(speech(speech_models, seed=12))[0])


@pytest.mark.parametrize(("audio_format", "content_type"), [("wav", "audio/wav"), ("flac", "audio/flac")])
def test_the_audio_decodes_at_the_stated_sample_rate_and_duration(speech_models, audio_format, content_type):
    output = speech(speech_models, format=audio_format)
    samples, sample_rate = decoded(output)
    info = soundfile.info(io.BytesIO(output.encoded()))

    assert (output.kind, output.content_type, output.extension) == ("audio", content_type, audio_format)
    assert info.format == audio_format.upper() and info.channels == 1 and info.subtype == "PCM_16"
    assert sample_rate == output.audio.sample_rate == SAMPLE_RATE
    assert len(samples) / sample_rate == pytest.approx(output.audio.duration_seconds)
    assert output.audio.duration_seconds > 0 and np.abs(samples).max() > 0


def test_wav_and_flac_hold_the_same_samples(speech_models):
    assert np.array_equal(decoded(speech(speech_models, format="wav"))[0], decoded(speech(speech_models))[0])
    assert np.array_equal(decoded(speech(speech_models, format="flac"))[0], decoded(speech(speech_models))[0])


def test_a_higher_speaking_rate_is_shorter(speech_models):
    normal = speech(speech_models).audio.duration_seconds
    fast = speech(speech_models, speaking_rate=2).audio.duration_seconds

    assert fast < normal * 0.8


def test_each_sentence_sounds_the_same_wherever_it_stands(speech_models):
    alone = decoded(speech(speech_models, text="How are you today?"))[0]
    within = decoded(speech(speech_models))[0]

    before = len(decoded(speech(speech_models, text="Hello there."))[0])
    assert np.array_equal(within[before : before + len(alone)], alone)


def test_progress_counts_sentences(speech_models):
    reports = []
    speech(speech_models, LocalJobContext(None, lambda *report: reports.append(report), speech_models=speech_models))

    assert reports == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_a_cancel_stops_within_one_sentence(speech_models):
    spoken = []

    def cancel_after_the_second_sentence(step: int, total: int) -> None:
        spoken.append(step)
        if step == 2:
            raise JobCanceled(step)

    context = LocalJobContext(None, cancel_after_the_second_sentence, speech_models=speech_models)
    with pytest.raises(JobCanceled):
        speech(speech_models, context, text="One. Two. Three. Four. Five.")
    assert spoken == [0, 1, 2]


def test_text_the_vocabulary_cannot_spell_fails_the_job(speech_models):
    with pytest.raises(JobFailure) as failure:
        speech(speech_models, text="灯台。")
    assert failure.value.code == "invalid_params"


def test_sentences_split_at_their_ends_and_at_line_breaks():
    assert split_sentences("Hi. How are you?  Fine!\nBye\n\n 灯台。灯台") == [
        "Hi.",
        "How are you?",
        "Fine!",
        "Bye",
        "灯台。",
        "灯台",
    ]
    assert split_sentences("It costs 3.5 euros.Or 4. Cheap") == ["It costs 3.5 euros.Or 4.", "Cheap"]


def test_a_speech_job_stores_its_audio_and_describes_it_in_the_job_json(settings, s3_endpoint):
    sessions = make_session_factory(settings.database_url)
    params = SpeechSpec(text=TEXT, seed=5, format="flac").model_dump(mode="json")
    with sessions.begin() as session:
        job_id = create_job(session, owner=LOCAL_OWNER, kind="speech", model=TINY_SPEECH_MODEL, params=params).id

    runner = JobRunner(settings.model_copy(update={"progress_interval_seconds": 0}))
    assert runner.run(job_id) == "succeeded"

    with sessions() as session:
        job = get_job(session, job_id, owner=None)
        [artifact] = job_json(session, job, lambda artifact: "url")["artifacts"]
    stored = runner.storage.get(job.artifacts[0].storage_key)
    samples, sample_rate = soundfile.read(io.BytesIO(stored), dtype="int16")
    assert (artifact["kind"], artifact["content_type"], artifact["bytes"]) == ("audio", "audio/flac", len(stored))
    assert artifact["sample_rate"] == sample_rate == SAMPLE_RATE
    assert artifact["duration_seconds"] == pytest.approx(len(samples) / sample_rate)
    assert (job.progress_step, job.progress_total) == (3, 3)
    sessions.kw["bind"].dispose()


def test_a_running_speech_job_is_canceled_between_sentences(settings):
    # One progress write an hour: only the per-sentence check (Redis) can stop it early.
    settings = settings.model_copy(update={"progress_interval_seconds": 3600})
    sessions = make_session_factory(settings.database_url)
    text = " ".join(f"Sentence number {index} is spoken now." for index in range(SENTENCES))
    params = SpeechSpec(text=text, seed=5).model_dump(mode="json")
    with sessions.begin() as session:
        job_id = create_job(session, owner=LOCAL_OWNER, kind="speech", model=TINY_SPEECH_MODEL, params=params).id
    runner = JobRunner(settings)
    runner.speech_models.get(TINY_SPEECH_MODEL)  # loaded first, so the cancel lands mid-speech
    outcome = run_and_cancel(settings, runner, job_id)

    assert outcome == ["canceled"]
    with sessions() as session:
        job = get_job(session, job_id, owner=None)
    assert job.status == "canceled" and job.artifacts == [] and job.progress_step < SENTENCES
    sessions.kw["bind"].dispose()
